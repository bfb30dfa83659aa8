"""Host lifecycle, identity, dialing and reconnects, over real loopback TCP from uvloop."""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import pytest
import uvloop
from p2p_testnet import Node, free_port, make_node, start, wait_for

from p2p.errors import DialError, P2PError, P2PNotRunningError
from p2p.gossip import TopicKind, topic_name
from p2p.host import HostConfig, P2PHost, parse_addrs, peer_id_from_seed

BLOCKS = topic_name("testnet-1", TopicKind.BLOCKS)


def test_peer_id_comes_from_the_node_key_seed() -> None:
    seed = bytes(range(32))
    host = P2PHost(HostConfig(node_key_seed=seed))
    assert host.peer_id == peer_id_from_seed(seed)
    assert host.peer_id.startswith("12D3KooW")  # an ed25519 peer id
    assert P2PHost(HostConfig(node_key_seed=seed)).peer_id == host.peer_id
    with pytest.raises(ValueError):
        HostConfig(node_key_seed=b"short")


def test_config_addresses_are_checked() -> None:
    peer = peer_id_from_seed(bytes(32))
    [info] = parse_addrs([f"/ip4/10.0.0.2/tcp/26656/p2p/{peer}"])
    assert info.peer_id.to_base58() == peer
    with pytest.raises(ValueError):
        parse_addrs(["/ip4/10.0.0.2/tcp/26656"])  # a bootstrap peer needs its id


@pytest.mark.asyncio
async def test_start_connect_stop_from_uvloop(nodes: list[Node]) -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    a = await start(nodes, make_node())
    b = await start(nodes, make_node())
    assert a.host.is_running
    assert a.addr.startswith("/ip4/127.0.0.1/tcp/")
    assert a.addr.endswith(f"/p2p/{a.peer_id}")

    assert await a.host.connect(b.addr) == b.peer_id
    assert a.host.peers() == [b.peer_id]
    await wait_for(lambda: b.host.peers() == [a.peer_id], "B to see A")

    threads = threading.active_count()
    await b.host.stop()
    assert not b.host.is_running
    assert threading.active_count() == threads - 2  # its thread and 0.8.1's cache sweeper
    await wait_for(lambda: a.host.peers() == [], "A to notice B is gone")
    with pytest.raises(P2PNotRunningError):
        await b.gossip.publish(BLOCKS, b"x")
    await b.host.stop()  # stopping twice is harmless


@pytest.mark.asyncio
async def test_dialing_nobody_fails_fast(nodes: list[Node]) -> None:
    a = await start(nodes, make_node(dial_timeout=2.0))
    nobody = peer_id_from_seed(os.urandom(32))
    with pytest.raises(DialError):
        await a.host.connect(f"/ip4/127.0.0.1/tcp/{free_port()}/p2p/{nobody}", keep=False)
    with pytest.raises(ValueError):
        await a.host.connect("/ip4/127.0.0.1/tcp/1")  # no /p2p/ part


@pytest.mark.asyncio
async def test_start_fails_cleanly_when_the_port_is_taken(nodes: list[Node]) -> None:
    a = await start(nodes, make_node())
    port = int(a.addr.split("/")[4])
    b = make_node(port=port)
    with pytest.raises(P2PError):
        await b.host.start()
    assert not b.host.is_running
    assert not any(t.name == f"p2p-{b.peer_id[-6:]}" for t in threading.enumerate())


@pytest.mark.asyncio
async def test_bootstrap_peer_is_redialled_after_it_restarts(
    nodes: list[Node], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aither.p2p")
    seed, port = os.urandom(32), free_port()
    b = make_node(seed=seed, port=port)
    await b.subscribe(BLOCKS)
    await start(nodes, b)
    a = make_node(bootstrap=(b.addr,))
    await a.subscribe(BLOCKS)
    await start(nodes, a)
    await wait_for(lambda: a.host.peers() == [b.peer_id], "A to dial its bootstrap peer")

    await b.host.stop()
    await wait_for(lambda: a.host.peers() == [], "A to lose B")
    # Let a redial fail first: 0.8.1 would then refuse to dial B for 60 s.
    await wait_for(lambda: "unreachable; redialling" in caplog.text, "A's first failed redial")

    b2 = make_node(seed=seed, port=port)  # the same node coming back, as after a restart
    await b2.subscribe(BLOCKS)
    await start(nodes, b2)
    await wait_for(lambda: a.host.peers() == [b2.peer_id], "A to redial B with backoff")
    await wait_for(lambda: a.peer_id in b2.gossip.mesh_peers(BLOCKS), "the mesh to re-form")
    await a.gossip.publish(BLOCKS, b"block after restart")
    await wait_for(lambda: b2.got(BLOCKS) == [b"block after restart"], "B to get a block")


@pytest.mark.asyncio
async def test_disconnect_with_forget_stops_redialling(nodes: list[Node]) -> None:
    a = await start(nodes, make_node())
    b = await start(nodes, make_node())
    c = await start(nodes, make_node())
    await a.host.connect(b.addr)
    await a.host.disconnect(b.peer_id)
    await wait_for(lambda: b.host.peers() == [], "B to see the disconnect")
    # Work that crosses A's p2p thread after the disconnect; 0.8.1's own auto-connector
    # would have redialled B by now.
    await a.host.connect(c.addr, keep=False)
    await wait_for(lambda: a.peer_id in c.host.peers(), "C to see A")
    assert b.peer_id not in a.host.peers()
    # A forgot B: a fresh connection only comes from B's side now.
    await b.host.connect(a.addr, keep=False)
    await wait_for(lambda: b.peer_id in a.host.peers(), "B's own dial")


@pytest.mark.asyncio
async def test_the_same_host_object_restarts(nodes: list[Node]) -> None:
    a = make_node()
    await a.subscribe(BLOCKS)
    await start(nodes, a)
    b = make_node()
    await b.subscribe(BLOCKS)
    await start(nodes, b)
    await a.host.stop()
    await a.host.start()
    await a.host.connect(b.addr)
    await wait_for(lambda: a.peer_id in b.gossip.mesh_peers(BLOCKS), "the mesh after restart")
    await b.gossip.publish(BLOCKS, b"block")
    await wait_for(lambda: a.got(BLOCKS) == [b"block"], "A to deliver after its restart")


@pytest.mark.asyncio
async def test_only_noise_and_yamux_are_offered(nodes: list[Node]) -> None:
    a = await start(nodes, make_node())
    upgrader = a.host._libp2p.get_network().upgrader  # type: ignore[union-attr]
    # The library's default set would also offer plaintext and secio.
    assert list(upgrader.security_multistream.transports) == ["/noise"]
    assert list(upgrader.muxer_multistream.transports) == ["/yamux/1.0.0"]
