"""The runtime's errors: each carries a message a person can act on."""

from __future__ import annotations

from core.errors import AitherError


class RuntimeConfigError(AitherError):
    """The plugins file is missing, unreadable or names something the runtime does not know."""


class TraceFileError(AitherError):
    """A trace file that cannot be read, or a replay that does not reproduce its trace."""


class ChainEffectError(AitherError):
    """The node cannot give a run what it starts from (its chain's head block)."""
