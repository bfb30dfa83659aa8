"""The sync protocol `/aither/sync/1`: ask a peer for its status, a range of blocks, or
transactions by hash.

One request per stream, length-prefixed (libp2p's request/response helper). Wire format, in
msgpack arrays: request `[0]` (status), `[1, from_height, count]` (blocks) or `[2, [hash,
...]]` (transactions); response to status the node's status bytes, to blocks an array of block
bytes (each block as the node encodes it, its commit certificate included), to transactions an
array of the wire bytes of those the peer holds. p2p never looks inside a block or transaction.

The node supplies the answers: `status_handler()`, `blocks_handler(from_height, count)` and
`txs_handler(hashes)` run on the node's asyncio loop (plain or async functions).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgpack
import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.request_response import (
    BytesCodec,
    RequestContext,
    RequestResponse,
    RequestResponseConfig,
    RequestResponseError,
)

from p2p.errors import P2PError, RequestFailedError
from p2p.host import HostRuntime, P2PHost

log = logging.getLogger("aither.p2p.sync")

SYNC_PROTOCOL = TProtocol("/aither/sync/1")
STATUS, BLOCKS, TXS = 0, 1, 2
MSGPACK_HEADER = 5  # the largest msgpack array or bin header
HASH_SIZE = 32

StatusHandler = Callable[[], bytes | Awaitable[bytes]]
BlocksHandler = Callable[[int, int], list[bytes] | Awaitable[list[bytes]]]
TxsHandler = Callable[[list[bytes]], list[bytes] | Awaitable[list[bytes]]]


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Bounds of the sync protocol, on both sides."""

    timeout: float = 10.0  # whole exchange: open stream, request, answer
    max_blocks: int = 128  # per request; a server answers at most this many
    max_response_size: int = 16 * 1024 * 1024
    max_status_size: int = 4096
    max_concurrent_inbound: int = 16
    max_tx_hashes: int = 8192  # per transactions request

    @property
    def max_request_size(self) -> int:
        return 2 * MSGPACK_HEADER + self.max_tx_hashes * (2 + HASH_SIZE)


class SyncProtocol:
    """Serves and sends sync requests. Create it before `host.start()`."""

    def __init__(
        self,
        host: P2PHost,
        status_handler: StatusHandler,
        blocks_handler: BlocksHandler,
        config: SyncConfig | None = None,
        *,
        txs_handler: TxsHandler | None = None,
    ) -> None:
        self._host = host
        self._status_handler = status_handler
        self._blocks_handler = blocks_handler
        self._txs_handler = txs_handler
        self.config = config or SyncConfig()
        self._rr: RequestResponse | None = None
        self._runtime: HostRuntime | None = None
        host.attach(self)

    # -- asyncio side --

    async def request_status(self, peer: str) -> bytes:
        """The status bytes of `peer`. Raises RequestFailedError on any failure."""
        answer = await self._request(peer, msgpack.packb([STATUS]))
        if len(answer) > self.config.max_status_size:
            raise RequestFailedError(f"status from {peer} over {self.config.max_status_size} B")
        return answer

    async def request_blocks(self, peer: str, start: int, count: int) -> list[bytes]:
        """Up to `count` blocks from height `start` held by `peer` (fewer near its head).

        Raises ValueError on a bad range, RequestFailedError on any failure or bad answer.
        """
        if start < 0 or not 0 < count <= self.config.max_blocks:
            raise ValueError(f"need start >= 0 and 0 < count <= {self.config.max_blocks}")
        answer = await self._request(peer, msgpack.packb([BLOCKS, start, count]))
        try:
            blocks = msgpack.unpackb(answer, raw=False)
        except Exception as error:
            raise RequestFailedError(f"malformed blocks answer from {peer}") from error
        if not isinstance(blocks, list) or not all(isinstance(b, bytes) for b in blocks):
            raise RequestFailedError(f"malformed blocks answer from {peer}")
        if len(blocks) > count:
            raise RequestFailedError(f"{peer} sent {len(blocks)} blocks for {count} asked")
        return blocks

    async def request_txs(self, peer: str, hashes: list[bytes]) -> list[bytes]:
        """The wire bytes of those of `hashes` that `peer` holds (the asker checks each hash).

        Raises ValueError on a bad request, RequestFailedError on any failure or bad answer.
        """
        if not 0 < len(hashes) <= self.config.max_tx_hashes:
            raise ValueError(f"ask for 1..{self.config.max_tx_hashes} transactions")
        if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes):
            raise ValueError("transaction hashes are 32 bytes")
        answer = await self._request(peer, msgpack.packb([TXS, hashes]))
        try:
            txs = msgpack.unpackb(answer, raw=False)
        except Exception as error:
            raise RequestFailedError(f"malformed transactions answer from {peer}") from error
        if not isinstance(txs, list) or not all(isinstance(t, bytes) for t in txs):
            raise RequestFailedError(f"malformed transactions answer from {peer}")
        if len(txs) > len(hashes):
            raise RequestFailedError(f"{peer} sent {len(txs)} transactions for {len(hashes)}")
        return txs

    async def _request(self, peer: str, payload: bytes) -> bytes:
        try:
            peer_id = ID.from_base58(peer)
        except Exception as error:
            raise ValueError(f"not a peer id: {peer!r}") from error
        bridge = self._host.bridge
        return await bridge.to_trio(lambda: self._send(peer_id, payload))

    def close(self) -> None:
        """Nothing to release on the asyncio side."""

    # -- trio side --

    async def serve(
        self, runtime: HostRuntime, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        rr = RequestResponse(runtime.libp2p)
        rr.set_handler(SYNC_PROTOCOL, self._answer, BytesCodec(), self._rr_config())
        self._rr, self._runtime = rr, runtime
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self._rr, self._runtime = None, None

    def _rr_config(self) -> RequestResponseConfig:
        cfg = self.config
        return RequestResponseConfig(
            timeout=cfg.timeout,
            max_request_size=cfg.max_request_size,
            max_response_size=cfg.max_response_size,
            max_concurrent_inbound=cfg.max_concurrent_inbound,
        )

    async def _send(self, peer: ID, payload: bytes) -> bytes:
        rr = self._rr
        if rr is None:
            raise P2PError("sync is not running")
        try:
            return await rr.send_request(
                peer, [SYNC_PROTOCOL], payload, BytesCodec(), self._rr_config()
            )
        except RequestResponseError as error:
            raise RequestFailedError(f"sync request to {peer} failed: {error}") from error

    async def _answer(self, payload: bytes, context: RequestContext) -> bytes:
        """Answer one inbound request; raising resets the stream, which the asker sees."""
        runtime = self._runtime
        if runtime is None:
            raise P2PError("sync is not running")
        try:
            request = msgpack.unpackb(payload, raw=False)
        except Exception as error:
            raise RequestFailedError(f"malformed sync request from {context.peer_id}") from error
        if not isinstance(request, list) or not request or request[0] not in (STATUS, BLOCKS, TXS):
            raise RequestFailedError(f"bad sync request from {context.peer_id}")
        if request[0] == STATUS:
            status = await runtime.bridge.to_asyncio(self._status_handler)
            return bytes(status)
        if request[0] == TXS:
            return await self._answer_txs(request, context, runtime)
        if len(request) != 3 or not all(type(x) is int for x in request[1:]):
            raise RequestFailedError(f"bad blocks request from {context.peer_id}")
        start, count = request[1], min(request[2], self.config.max_blocks)
        if start < 0 or count <= 0:
            raise RequestFailedError(f"bad blocks range from {context.peer_id}")
        blocks = await runtime.bridge.to_asyncio(self._blocks_handler, start, count)
        return _pack_within(list(blocks)[:count], self.config.max_response_size)

    async def _answer_txs(
        self, request: list[object], context: RequestContext, runtime: HostRuntime
    ) -> bytes:
        hashes = request[1] if len(request) == 2 else None
        if (
            self._txs_handler is None
            or not isinstance(hashes, list)
            or not 0 < len(hashes) <= self.config.max_tx_hashes
            or not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes)
        ):
            raise RequestFailedError(f"bad transactions request from {context.peer_id}")
        txs = await runtime.bridge.to_asyncio(self._txs_handler, hashes)
        return _pack_within(list(txs)[: len(hashes)], self.config.max_response_size)


def _pack_within(blocks: list[bytes], limit: int) -> bytes:
    """Pack the longest prefix of `blocks` (or transactions) that fits in `limit` bytes; the
    asker continues from the last one it got."""
    size = MSGPACK_HEADER
    kept = 0
    for block in blocks:
        size += MSGPACK_HEADER + len(block)
        if size > limit:
            break
        kept += 1
    return msgpack.packb(blocks[:kept])
