"""A family's JSON-RPC methods by name, and which of them need the admin token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from node.node import Node
from node.rpc.params import Params

Handler: TypeAlias = Callable[[Node, Params], object | Awaitable[object]]


@dataclass(slots=True)
class MethodTable:
    """Filled by the `method` and `admin_method` decorators of one module."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    admin: set[str] = field(default_factory=set)

    def method(self, name: str) -> Callable[[Handler], Handler]:
        """Register a handler under `name`."""

        def register(handler: Handler) -> Handler:
            if name in self.handlers:
                raise ValueError(f"RPC method {name} is registered twice")
            self.handlers[name] = handler
            return handler

        return register

    def admin_method(self, name: str) -> Callable[[Handler], Handler]:
        """Register a handler that only a caller with the admin token may call
        (node/rpc/admin.py)."""
        self.admin.add(name)
        return self.method(name)
