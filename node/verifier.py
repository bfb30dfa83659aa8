"""Signature checks on a thread pool, batched across concurrent requests.

libsodium's verify releases the GIL, so two threads use both cores. Requests that arrive in the
same event-loop turn are verified together in one chunk per thread, which keeps the cost of
handing work to the pool far below the cost of the checks themselves.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from ledger.tx import SignedTx


def _verify_chunk(chunk: list[SignedTx]) -> list[bool]:
    return [stx.tx.has_valid_signature() for stx in chunk]


class SignatureVerifier:
    def __init__(self, threads: int = 2) -> None:
        self._threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="verify")
        self._waiting: list[tuple[SignedTx, asyncio.Future[bool]]] = []

    async def verify(self, stx: SignedTx) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)
        self._waiting.append((stx, future))
        return await future

    async def verify_many(self, stxs: list[SignedTx]) -> list[bool]:
        """Verify a batch, one chunk per thread."""
        loop = asyncio.get_running_loop()
        size = max(1, -(-len(stxs) // self._threads))
        chunks = [stxs[start : start + size] for start in range(0, len(stxs), size)]
        results = await asyncio.gather(
            *(loop.run_in_executor(self._pool, _verify_chunk, chunk) for chunk in chunks)
        )
        return [ok for chunk_results in results for ok in chunk_results]

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        batch, self._waiting = self._waiting, []
        size = -(-len(batch) // self._threads)
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            done = loop.run_in_executor(self._pool, _verify_chunk, [stx for stx, _ in chunk])
            done.add_done_callback(functools.partial(_deliver, chunk))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _deliver(chunk: list[tuple[SignedTx, asyncio.Future[bool]]], done: asyncio.Future) -> None:
    error = done.exception()
    results = [False] * len(chunk) if error else done.result()
    for (_, future), ok in zip(chunk, results, strict=True):
        if future.done():
            continue
        if error:
            future.set_exception(error)
        else:
            future.set_result(ok)
