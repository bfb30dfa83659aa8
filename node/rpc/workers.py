"""Expensive reads run on a pool of their own, bounded in queue length and answer time.

Dry runs, traces and history pages can take the CPU for a while. On the event loop they would
stall every other client, and on asyncio's default thread pool they would queue ahead of the
node's own work (signature checks, block execution and commits use `asyncio.to_thread`). Here
they get a few threads; when as many are waiting as the pool allows, more are refused at once
with LIMIT_EXCEEDED, and a caller waits at most `timeout` seconds for its answer (the work
itself is bounded by the RPC gas cap and the trace limit, so an abandoned run ends soon after).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from core.rpc import LIMIT_EXCEEDED
from node.rpc.errors import RpcError
from node.rpc.limits import WorkerLimits

T = TypeVar("T")


class ExpensiveReads:
    def __init__(self, limits: WorkerLimits | None = None) -> None:
        self.limits = limits or WorkerLimits()
        self._executor = ThreadPoolExecutor(self.limits.threads, "rpc-expensive")
        self._waiting = 0

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """`work(*args)` on the pool. Raises RpcError (LIMIT_EXCEEDED) when the pool is full
        or the answer takes longer than the timeout."""
        if self._waiting >= self.limits.max_waiting:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"the node is busy with {self._waiting} expensive requests (dry runs, traces, "
                "history): try again shortly",
            )
        self._waiting += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        future.add_done_callback(self._done)  # the slot frees when the work ends, not the wait
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.limits.timeout)
        except TimeoutError:
            raise RpcError(
                LIMIT_EXCEEDED, f"the request took longer than {self.limits.timeout:g} s"
            ) from None

    def _done(self, _: object) -> None:
        self._waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool: ExpensiveReads | None = None


async def run_expensive(work: Callable[..., T], *args: object) -> T:
    """Run an expensive read on the node's pool (see ExpensiveReads.run)."""
    global _pool  # one pool per process, made on first use
    if _pool is None:
        _pool = ExpensiveReads()
    return await _pool.run(work, *args)
