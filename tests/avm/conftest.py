"""Shared helpers: assemble a snippet and run it on a fresh in-memory host."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from avm.assembler import assemble
from avm.interpreter import Result, execute
from avm.memory_host import MemoryHost
from avm.values import Value

Runner = Callable[..., Result]


@pytest.fixture
def host() -> MemoryHost:
    return MemoryHost()


@pytest.fixture
def run(host: MemoryHost) -> Runner:
    """run(source, entry=None, args=(), gas=10**9, trace=False) on the `host` fixture."""

    def _run(
        source: str,
        entry: str | None = None,
        args: Sequence[Value] = (),
        gas: int = 10**9,
        trace: bool = False,
    ) -> Result:
        code = assemble(source).code
        host.install(host.self_address(), code)
        return execute(code, host, entry, args, gas, trace=trace)

    return _run
