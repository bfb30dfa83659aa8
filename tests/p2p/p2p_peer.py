"""A p2p peer in a process of its own, for tests that kill and restart a real process.

    python p2p_peer.py SEED_HEX PORT TOPIC

Prints `READY <multiaddr>` once listening, then `GOT <hex>` for every message on TOPIC.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from p2p.gossip import Gossip
from p2p.host import HostConfig, P2PHost


async def main(seed: bytes, port: int, topic: str) -> None:
    host = P2PHost(HostConfig(node_key_seed=seed, listen_addrs=(f"/ip4/127.0.0.1/tcp/{port}",)))
    gossip = Gossip(host)
    await gossip.subscribe(topic, lambda data, peer: print(f"GOT {data.hex()}", flush=True))
    await host.start()
    print(f"READY {host.listen_addrs[0]}", flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    uvloop.run(main(bytes.fromhex(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
