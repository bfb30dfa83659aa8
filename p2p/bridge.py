"""The asyncio <-> trio bridge: the node runs on asyncio (uvloop), py-libp2p only on trio.

The libp2p host lives in its own thread under `trio.run`; nothing blocks on either side:
- asyncio -> trio: `to_trio` schedules a trio task through the trio token and hands its result
  back to an asyncio future with `call_soon_threadsafe`.
- trio -> asyncio: `to_asyncio` runs a callable on the asyncio loop and waits for it on a
  `trio.Event` set from a done-callback; `post` fires and forgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

from p2p.errors import P2PNotRunningError

T = TypeVar("T")


class TrioBridge:
    """Links one asyncio loop to one running trio loop (set up from inside the trio thread)."""

    __slots__ = ("_loop", "_nursery", "_token")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def bind(self) -> None:
        """Called first thing on the trio thread: from now on `call_soon` reaches it."""
        self._token = trio.lowlevel.current_trio_token()

    def attach(self, nursery: trio.Nursery) -> None:
        """Called on the trio thread once the host runs; tasks from asyncio land in `nursery`."""
        self.bind()
        self._nursery = nursery

    def detach(self) -> None:
        self._token = None
        self._nursery = None

    @property
    def attached(self) -> bool:
        return self._nursery is not None

    @property
    def nursery(self) -> trio.Nursery | None:
        """The host's nursery while attached (read on the trio thread)."""
        return self._nursery

    def to_trio(self, fn: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """Run `fn()` as a trio task; the returned asyncio future gets its result or error.

        Raises P2PNotRunningError when the trio side is not running.
        """
        token, nursery = self._token, self._nursery
        if token is None or nursery is None:
            raise P2PNotRunningError("the p2p host is not running")
        future: asyncio.Future[T] = self._loop.create_future()

        async def task() -> None:
            try:
                result = await fn()
            except BaseException as error:  # handed over, not swallowed
                self.post(_settle_error, future, _portable(error))
                if isinstance(error, trio.Cancelled):
                    raise
                return
            self.post(_settle_result, future, result)

        try:
            token.run_sync_soon(lambda: nursery.start_soon(task))
        except trio.RunFinishedError as error:
            raise P2PNotRunningError("the p2p host is not running") from error
        return future

    def call_soon(self, fn: Callable[[], object]) -> bool:
        """Run the plain function `fn()` on the trio thread soon; False if trio is not running."""
        token = self._token
        if token is None:
            return False
        try:
            token.run_sync_soon(fn)
        except trio.RunFinishedError:
            return False
        return True

    def post(self, fn: Callable[..., object], *args: object) -> bool:
        """Schedule `fn(*args)` on the asyncio loop from the trio thread; False if it is closed."""
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed during shutdown
            return False
        return True

    async def to_asyncio(self, fn: Callable[..., T | Awaitable[T]], *args: object) -> T:
        """From trio: run `fn(*args)` on the asyncio loop (awaiting it if it is a coroutine)."""
        done = trio.Event()
        token = trio.lowlevel.current_trio_token()

        async def call() -> T:
            result = fn(*args)
            if inspect.isawaitable(result):
                return await result
            return result

        concurrent = asyncio.run_coroutine_threadsafe(call(), self._loop)
        concurrent.add_done_callback(lambda _: _set_soon(token, done))
        try:
            await done.wait()
        except trio.Cancelled:
            concurrent.cancel()
            raise
        return concurrent.result()


def snapshot(read: Callable[[], list[T]]) -> list[T]:
    """Copy a collection the trio thread owns; a read torn by a concurrent change is retried."""
    for _ in range(3):
        try:
            return read()
        except RuntimeError:  # "changed size during iteration"
            continue
    return []


def _set_soon(token: trio.lowlevel.TrioToken, event: trio.Event) -> None:
    # The trio run may already be over when a late asyncio call finishes.
    with contextlib.suppress(trio.RunFinishedError):
        token.run_sync_soon(event.set)


def _settle_result(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _settle_error(future: asyncio.Future[object], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _portable(error: BaseException) -> BaseException:
    # trio.Cancelled must not leak into asyncio, where it would mean nothing.
    if isinstance(error, trio.Cancelled):
        return P2PNotRunningError("the p2p host stopped before the call finished")
    return error
