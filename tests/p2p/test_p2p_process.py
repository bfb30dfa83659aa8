"""A peer in a real process: killed with SIGKILL, restarted, redialled, gossiping again."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from p2p_testnet import DEADLINE, Node, free_port, make_node, start, wait_for

from p2p.gossip import TopicKind, topic_name
from p2p.host import peer_id_from_seed

PEER = Path(__file__).with_name("p2p_peer.py")
BLOCKS = topic_name("testnet-1", TopicKind.BLOCKS)


@asynccontextmanager
async def peer_process(seed: bytes, port: int, log: Path) -> AsyncIterator[asyncio.StreamReader]:
    """Run p2p_peer.py; yields its stdout after READY; SIGKILLs it on exit if still alive."""
    with log.open("a") as stderr:  # libp2p warns freely: a file, never an unread pipe
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(PEER), seed.hex(), str(port), BLOCKS,
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), DEADLINE)
        assert line.startswith(b"READY "), f"peer did not start: {line!r}; see {log}"
        yield proc.stdout
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def next_message(stdout: asyncio.StreamReader) -> bytes:
    line = await asyncio.wait_for(stdout.readline(), DEADLINE)
    assert line.startswith(b"GOT "), line
    return bytes.fromhex(line.split()[1].decode())


@pytest.mark.asyncio
async def test_killed_peer_is_redialled_when_it_comes_back(
    nodes: list[Node], tmp_path: Path
) -> None:
    seed, port = os.urandom(32), free_port()
    peer_addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_from_seed(seed)}"
    log = tmp_path / "peer.log"

    async with peer_process(seed, port, log) as stdout:
        us = make_node(bootstrap=(peer_addr,))
        await us.subscribe(BLOCKS)
        await start(nodes, us)
        await wait_for(lambda: len(us.gossip.mesh_peers(BLOCKS)) == 1, "a mesh with the peer")
        await us.gossip.publish(BLOCKS, b"block 1")
        assert await next_message(stdout) == b"block 1"
    # The context killed it with SIGKILL: no goodbye, the socket just closes.
    await wait_for(lambda: us.host.peers() == [], "the dead peer to drop out")

    async with peer_process(seed, port, log) as stdout:
        await wait_for(lambda: us.host.peers() != [], "the redial")
        await wait_for(lambda: len(us.gossip.mesh_peers(BLOCKS)) == 1, "the mesh after redial")
        await us.gossip.publish(BLOCKS, b"block 2")
        got = [await next_message(stdout)]
        while got[-1] != b"block 2":
            got.append(await next_message(stdout))
        # A fresh process has no memory of "block 1": the library replays recent messages
        # to a new subscriber, so the node must treat gossip as idempotent.
        assert set(got) <= {b"block 1", b"block 2"}
