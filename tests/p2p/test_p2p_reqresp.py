"""The sync protocol between real hosts: status, block ranges, bounds, timeouts, failures."""

from __future__ import annotations

import asyncio
import hashlib
import os

import msgpack
import pytest
from p2p_testnet import Node, make_node, start

from p2p.errors import RequestFailedError
from p2p.host import peer_id_from_seed
from p2p.reqresp import SyncConfig, _pack_within

HEAD = 10
CHAIN = [b"block-%d" % h for h in range(HEAD + 1)]


def status() -> bytes:
    return msgpack.packb([HEAD, b"\x11" * 32])


def blocks(start: int, count: int) -> list[bytes]:
    return CHAIN[start : start + count]


async def pair(nodes: list[Node], **server: object) -> tuple[Node, Node]:
    server_node = await start(nodes, make_node(**server))  # type: ignore[arg-type]
    client = await start(nodes, make_node())
    await client.host.connect(server_node.addr)
    return client, server_node


@pytest.mark.asyncio
async def test_status_and_blocks(nodes: list[Node]) -> None:
    client, server = await pair(nodes, status=status, blocks=blocks)
    assert msgpack.unpackb(await client.sync.request_status(server.peer_id)) == [
        HEAD,
        b"\x11" * 32,
    ]
    assert await client.sync.request_blocks(server.peer_id, 3, 4) == CHAIN[3:7]
    assert await client.sync.request_blocks(server.peer_id, 8, 5) == CHAIN[8:]  # near the head
    assert await client.sync.request_blocks(server.peer_id, 50, 5) == []  # beyond the head


@pytest.mark.asyncio
async def test_transactions_by_hash_come_back_for_those_the_peer_holds(nodes: list[Node]) -> None:
    held = {hashlib.blake2b(raw, digest_size=32).digest(): raw for raw in (b"tx-a", b"tx-b")}

    def txs(hashes: list[bytes]) -> list[bytes]:
        return [held[h] for h in hashes if h in held]

    client, server = await pair(nodes, txs=txs)
    unknown = b"\x00" * 32
    assert await client.sync.request_txs(server.peer_id, [unknown, *held]) == list(held.values())
    assert await client.sync.request_txs(server.peer_id, [unknown]) == []
    with pytest.raises(ValueError, match="32 bytes"):
        await client.sync.request_txs(server.peer_id, [b"short"])
    with pytest.raises(ValueError, match=r"1\.\.8192"):
        await client.sync.request_txs(server.peer_id, [])


@pytest.mark.asyncio
async def test_a_peer_that_serves_no_transactions_refuses_the_request(nodes: list[Node]) -> None:
    client, server = await pair(nodes, status=status, blocks=blocks)
    with pytest.raises(RequestFailedError):
        await client.sync.request_txs(server.peer_id, [b"\x01" * 32])


@pytest.mark.asyncio
async def test_async_handlers_run_on_the_node_loop(nodes: list[Node]) -> None:
    loop = asyncio.get_running_loop()
    seen: list[asyncio.AbstractEventLoop] = []

    async def async_status() -> bytes:
        seen.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return b"async status"

    client, server = await pair(nodes, status=async_status, blocks=blocks)
    assert await client.sync.request_status(server.peer_id) == b"async status"
    assert seen == [loop]


@pytest.mark.asyncio
async def test_server_caps_count_and_response_size(nodes: list[Node]) -> None:
    big = [bytes(1000) for _ in range(100)]
    config = SyncConfig(max_blocks=50, max_response_size=10_500)
    client, server = await pair(nodes, blocks=lambda s, c: big[s : s + c], sync=config)
    got = await client.sync.request_blocks(server.peer_id, 0, 100)  # the client allows 128
    assert 0 < len(got) <= 10  # ten 1000-byte blocks fit in 10.5 KB, with framing
    with pytest.raises(ValueError):
        await client.sync.request_blocks(server.peer_id, 0, 129)
    with pytest.raises(ValueError):
        await client.sync.request_blocks(server.peer_id, -1, 1)


@pytest.mark.asyncio
async def test_handler_failure_and_timeout_reach_the_asker(nodes: list[Node]) -> None:
    never = asyncio.Event()

    def failing_blocks(start: int, count: int) -> list[bytes]:
        raise RuntimeError("database closed")

    async def stuck_status() -> bytes:
        await never.wait()
        return b""

    server = await start(
        nodes, make_node(status=stuck_status, blocks=failing_blocks, sync=SyncConfig(timeout=0.5))
    )
    client = await start(nodes, make_node(sync=SyncConfig(timeout=0.5)))
    await client.host.connect(server.addr)
    with pytest.raises(RequestFailedError):
        await client.sync.request_blocks(server.peer_id, 0, 1)
    with pytest.raises(RequestFailedError):
        await client.sync.request_status(server.peer_id)


@pytest.mark.asyncio
async def test_request_to_an_unknown_peer_fails(nodes: list[Node]) -> None:
    client = await start(nodes, make_node(sync=SyncConfig(timeout=1.0)))
    with pytest.raises(RequestFailedError):
        await client.sync.request_status(peer_id_from_seed(os.urandom(32)))
    with pytest.raises(ValueError):
        await client.sync.request_status("not a peer id")


def test_pack_within_keeps_the_longest_prefix_that_fits() -> None:
    blocks_ = [bytes(100)] * 10
    assert msgpack.unpackb(_pack_within(blocks_, 10_000)) == blocks_
    assert len(msgpack.unpackb(_pack_within(blocks_, 529))) == 4
    assert msgpack.unpackb(_pack_within(blocks_, 50)) == []
