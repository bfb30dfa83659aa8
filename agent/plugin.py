"""The one interface every plugin implements, and the router that serves the AVM from them.

A plugin names the opcodes it serves and answers `call(opcode, args)` with plain data (which the
router turns into an AVM value), Metered plain data (a model's answer with its tokens, which the
opcode charges as gas), or raises PluginFailure. The router is what `avm.host.Plugins`
asks for: an opcode no configured plugin serves is a PluginFailure, so the agent takes its
JUMP_IF_PLUGIN_FAILED path instead of crashing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from avm.host import Metered, PluginFailure
from avm.values import FIXED_SCALE, Value, from_python, to_python


class Plugin(Protocol):
    """A model, tool or service the local host may use."""

    opcodes: frozenset[str]

    def call(self, opcode: str, args: tuple[Value, ...]) -> object:
        """Serve one non-deterministic opcode (plain data, or Metered plain data). Raises
        PluginFailure when it cannot."""
        ...


class PluginRouter:
    """Dispatches each opcode to the plugin that serves it (the first one registered)."""

    def __init__(self, plugins: Iterable[Plugin]) -> None:
        self.routes: dict[str, Plugin] = {}
        for plugin in plugins:
            for opcode in plugin.opcodes:
                self.routes.setdefault(opcode, plugin)

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        plugin = self.routes.get(opcode)
        if plugin is None:
            raise PluginFailure(f"no plugin serves {opcode} (see --plugins CONFIG.toml)")
        answer = plugin.call(opcode, args)
        if isinstance(answer, Metered):
            return Metered(as_value(answer.value), answer.units)
        return as_value(answer)


def as_value(obj: object) -> Value:
    """An AVM value from a plugin's plain data; floats become fixed-point ints (no floats in the
    AVM). Raises PluginFailure for anything else that is not an AVM value."""
    try:
        return from_python(_no_floats(obj))
    except Exception as exc:  # the AVM's own bound checks raise traps and type errors
        raise PluginFailure(f"the plugin returned no AVM value: {exc}") from None


def _no_floats(obj: object) -> object:
    if isinstance(obj, float):
        return fixed(obj)
    if isinstance(obj, list | tuple):
        return [_no_floats(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _no_floats(v) for k, v in obj.items()}
    return obj


def fixed(x: float) -> int:
    """A real number as an AVM fixed-point int (FIXED_SCALE = 1.0), rounded to nearest."""
    return round(x * FIXED_SCALE)


def plain(value: Value) -> object:
    """JSON-ready data for an AVM value (bytes as 0x-hex), to send to a model or tool."""
    return to_python(value)
