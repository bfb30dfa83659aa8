"""What the swarm service refuses, each with a message that says why."""

from __future__ import annotations

from core.errors import AitherError


class SwarmError(AitherError):
    """A swarm request the node refuses; the message says why."""


class NotLocal(SwarmError):
    """The node holds no key for that identity."""


class NotMember(SwarmError):
    """No local identity is a member of the channel (at the epoch asked for)."""


class RateLimited(SwarmError):
    """The identity sends faster than the node allows."""


class UnknownChannelError(SwarmError):
    """No such channel on chain."""
