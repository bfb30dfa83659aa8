"""A hostile libp2p peer: it joins a testnet's gossip and floods it with junk.

    python attacker_peer.py --chain-id N --rpc URL --connect MULTIADDR [--connect ...]
                            [--batches-per-second 40] [--blocks-per-second 5]

It publishes, on the chain's topics, batches of transactions with bad signatures (fresh keys,
gas and nonces that would otherwise pass) and compact blocks for the height being decided whose
proposer is no validator. It learns the height from the node's JSON-RPC. It prints `READY <peer
id>` once it runs, `SENT <tx batches> <blocks> <connected peers>` every second, until killed.
Used by tests/security/test_gossip_attacker.py and bench/hostile.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import httpx
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.crypto import SigningKey
from core.encoding import encode
from ledger.block import BlockHeader, CompactBlock
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Transaction, Transfer, TxKind
from p2p.gossip import Gossip, TopicKind, topic_name
from p2p.host import HostConfig, P2PHost

BATCH = 256


KEYS = [SigningKey((n + 1).to_bytes(32, "big")) for n in range(BATCH)]


def forged_batch(chain_id: int, serial: int) -> bytes:
    """256 well-formed transfers whose signatures do not verify (new bytes for each serial)."""
    txs = []
    for key in KEYS:
        tx = Transaction(
            chain_id, TxKind.TRANSFER, key.pubkey, serial, 30_000, DEFAULT_GAS_PRICE,
            Transfer(bytes(20), 1),
        )  # fmt: skip
        raw = bytearray(tx.signed(key).encode())
        raw[-1] ^= 0x01  # the signature's last byte: still well-formed, no longer valid
        txs.append(bytes(raw))
    return encode(txs)


def junk_block(chain_id: int, height: int, parent: bytes) -> bytes:
    header = BlockHeader(
        chain_id, height, parent, 0, os.urandom(20), os.urandom(32), os.urandom(32),
        os.urandom(32), 0, None,
    )  # fmt: skip
    return CompactBlock(header, tuple(os.urandom(32) for _ in range(64))).encode()


async def head(client: httpx.AsyncClient, rpc: str) -> tuple[int, bytes]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "aither_getBlockByNumber", "params": ["latest"]}
    block = (await client.post(rpc, json=body)).json()["result"]
    return int(block["number"], 16), bytes.fromhex(block["hash"][2:])


async def main(args: argparse.Namespace) -> None:
    host = P2PHost(HostConfig(node_key_seed=os.urandom(32), bootstrap=tuple(args.connect)))
    gossip = Gossip(host)
    txs_topic = topic_name(args.chain_id, TopicKind.TXS)
    blocks_topic = topic_name(args.chain_id, TopicKind.BLOCKS)
    for topic in (txs_topic, blocks_topic):
        await gossip.subscribe(topic, lambda data, peer: None)
    await host.start()
    print(f"READY {host.peer_id}", flush=True)
    sent_batches = sent_blocks = 0
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                height, parent = await head(client, args.rpc)
            except (httpx.HTTPError, KeyError, ValueError):
                height, parent = 0, bytes(32)
            for _ in range(int(args.batches_per_second)):
                await _publish(gossip, txs_topic, forged_batch(args.chain_id, sent_batches))
                sent_batches += 1
                await asyncio.sleep(1 / args.batches_per_second)
            for _ in range(int(args.blocks_per_second)):
                await _publish(gossip, blocks_topic, junk_block(args.chain_id, height + 1, parent))
                sent_blocks += 1
            print(
                f"SENT {sent_batches} {sent_blocks} {len(host.peers())} "
                f"{len(gossip.topic_peers(txs_topic))} {len(gossip.mesh_peers(txs_topic))}",
                flush=True,
            )


async def _publish(gossip: Gossip, topic: str, data: bytes) -> None:
    try:
        await gossip.publish(topic, data)
    except Exception as error:  # banned and disconnected: keep trying, as an attacker would
        print(f"PUBLISH FAILED {type(error).__name__}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chain-id", type=int, required=True)
    parser.add_argument("--rpc", required=True, help="a node's JSON-RPC URL, for the height")
    parser.add_argument("--connect", action="append", required=True, help="a peer's multiaddr")
    parser.add_argument("--batches-per-second", type=float, default=40.0)
    parser.add_argument("--blocks-per-second", type=float, default=5.0)
    uvloop.run(main(parser.parse_args()))
