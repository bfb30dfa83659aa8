"""Helpers for p2p tests: nodes made of real hosts, lines of them, waits with deadlines."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from p2p.gossip import Gossip, GossipConfig
from p2p.host import HostConfig, P2PHost
from p2p.reqresp import SyncConfig, SyncProtocol

DEADLINE = 30.0  # generous: CI runs this on 2 busy cores; a pass returns as soon as it can


async def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Poll `condition` on the loop until it holds; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    """One host with gossip and sync, as a node assembles them."""

    host: P2PHost
    gossip: Gossip
    sync: SyncProtocol
    received: dict[str, list[tuple[bytes, str]]] = field(default_factory=dict)

    @property
    def addr(self) -> str:
        return self.host.listen_addrs[0]

    @property
    def peer_id(self) -> str:
        return self.host.peer_id

    def got(self, topic: str) -> list[bytes]:
        return [data for data, _ in self.received.get(topic, [])]

    async def subscribe(self, topic: str, **kwargs: object) -> None:
        inbox = self.received.setdefault(topic, [])
        await self.gossip.subscribe(topic, lambda d, p: inbox.append((d, p)), **kwargs)


def make_node(
    seed: bytes | None = None,
    port: int = 0,
    bootstrap: tuple[str, ...] = (),
    gossip: GossipConfig | None = None,
    sync: SyncConfig | None = None,
    status: Callable[[], bytes] = lambda: b"status",
    blocks: Callable[[int, int], list[bytes]] = lambda start, count: [],
    txs: Callable[[list[bytes]], list[bytes]] | None = None,
    **host_options: float,
) -> Node:
    host = P2PHost(
        HostConfig(
            node_key_seed=seed or os.urandom(32),
            listen_addrs=(f"/ip4/127.0.0.1/tcp/{port}",),
            bootstrap=bootstrap,
            reconnect_initial=0.05,
            reconnect_max=0.5,
            **host_options,
        )
    )
    return Node(
        host, Gossip(host, gossip), SyncProtocol(host, status, blocks, sync, txs_handler=txs)
    )


async def start(nodes: list[Node], node: Node) -> Node:
    nodes.append(node)
    await node.host.start()
    return node


async def link(nodes: list[Node], chain: list[Node], topic: str) -> list[Node]:
    """Start `chain` (already subscribed to `topic`), connect it in a line, wait for the mesh."""
    for node in chain:
        await start(nodes, node)
    for left, right in itertools.pairwise(chain):
        await left.host.connect(right.addr)
    for left, right in itertools.pairwise(chain):
        await wait_for(
            lambda a=left, b=right: (
                b.peer_id in a.gossip.mesh_peers(topic) and a.peer_id in b.gossip.mesh_peers(topic)
            ),
            f"mesh link on {topic}",
        )
    return chain
