"""Gossip over two hops between three real processes on loopback: latency and throughput.

A (this process) -> B (relay process) -> C (sink process), each a full p2p host with gossip, on
uvloop with the host on its own trio thread, as a node runs it. Prints the latency A->C of
single messages (median, p95) and the rate at which C receives bursts of 1 KB messages, and of
64 KB messages that would carry batches of transactions, with the loss.

    .venv/bin/python bench/p2p.py [--latency 300] [--burst 3000] [--batch-burst 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from p2p.gossip import Gossip, TopicLimits
from p2p.host import HostConfig, P2PHost

TOPIC = "aither/bench/txs"
LIMITS = TopicLimits(max_size=128 * 1024, rate=1e6, burst=1_000_000)  # measure, do not drop
HEADER = struct.Struct(">BIQ")  # phase, sequence number, send time (monotonic ns)
END = 255


# -- child processes --


async def child(role: str, peer: str | None) -> None:
    host = P2PHost(HostConfig(node_key_seed=os.urandom(32)))
    gossip = Gossip(host)
    received: dict[int, list[tuple[int, int, int]]] = {}
    done = asyncio.Event()

    def on_message(data: bytes, from_peer: str) -> None:
        phase, seq, sent = HEADER.unpack_from(data)
        if phase == END:
            done.set()
            return
        received.setdefault(phase, []).append((seq, sent, time.monotonic_ns()))

    await gossip.subscribe(TOPIC, on_message, limits=LIMITS)
    await host.start()
    if peer:
        await host.connect(peer)
    print(f"ADDR {host.listen_addrs[0]}", flush=True)
    if role == "sink":
        while not gossip.mesh_peers(TOPIC):
            await asyncio.sleep(0.01)
        print("READY", flush=True)
        await done.wait()
        print(json.dumps({str(k): v for k, v in received.items()}), flush=True)
    else:
        await asyncio.Event().wait()  # the relay runs until it is terminated
    await host.stop()


# -- the publisher --


def spawn(role: str, peer: str | None, log: Path) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, __file__, "--role", role] + (["--peer", peer] if peer else [])
    # libp2p logs warnings freely: to a file, never to a pipe nobody reads.
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, bufsize=1
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "ADDR":
        raise SystemExit(f"{role} did not start; see {log}")
    return proc, line[1]


async def publisher(args: argparse.Namespace) -> None:
    logs = Path(tempfile.mkdtemp(prefix="aither-bench-p2p-"))
    sink, sink_addr = spawn("sink", None, logs / "sink.log")
    relay, relay_addr = spawn("relay", sink_addr, logs / "relay.log")
    host = P2PHost(HostConfig(node_key_seed=os.urandom(32)))
    gossip = Gossip(host)
    await gossip.subscribe(TOPIC, lambda d, p: None, limits=LIMITS)
    await host.start()
    try:
        await host.connect(relay_addr)
        assert sink.stdout is not None
        ready = await asyncio.to_thread(sink.stdout.readline)
        if ready.strip() != "READY":
            raise SystemExit(f"sink not ready; see {logs}")
        while not gossip.mesh_peers(TOPIC):
            await asyncio.sleep(0.01)

        # Phase 1: single 1 KB messages, paced so that none queues behind another.
        for seq in range(args.latency):
            await gossip.publish(TOPIC, _message(1, seq, 1024))
            await asyncio.sleep(0.01)
        # Phase 2: bursts of 1 KB messages, as fast as publish returns.
        burst_start = time.perf_counter()
        for seq in range(args.burst):
            await gossip.publish(TOPIC, _message(2, seq, 1024))
        burst_publish = time.perf_counter() - burst_start
        await asyncio.sleep(1.0)
        # Phase 3: 64 KB messages, each standing for a batch of ~250 transfers.
        for seq in range(args.batch_burst):
            await gossip.publish(TOPIC, _message(3, seq, 64 * 1024))
        await asyncio.sleep(1.0)
        await gossip.publish(TOPIC, HEADER.pack(END, 0, 0))
        result = json.loads(await asyncio.to_thread(sink.stdout.readline))
    finally:
        await host.stop()
        relay.terminate()
        sink.terminate()
        relay.wait()
        sink.wait()

    _report("latency A->B->C, 1 KB, paced", result.get("1", []), args.latency)
    _report("burst of 1 KB messages", result.get("2", []), args.burst)
    _report("burst of 64 KB messages", result.get("3", []), args.batch_burst)
    print(f"  (publishing {args.burst} x 1 KB took {burst_publish:.2f} s at A; logs in {logs})")


def _message(phase: int, seq: int, size: int) -> bytes:
    head = HEADER.pack(phase, seq, time.monotonic_ns())
    return head + os.urandom(8) + bytes(size - len(head) - 8)  # random: ids are content hashes


def _report(name: str, got: list[list[int]], sent: int) -> None:
    """`got` holds (seq, sent ns, received ns); CLOCK_MONOTONIC is shared by the processes."""
    if not got:
        print(f"{name}: nothing received of {sent}")
        return
    latencies = sorted((recv - sent_ns) / 1e6 for _, sent_ns, recv in got)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    span = (max(r for _, _, r in got) - min(s for _, s, _ in got)) / 1e9
    print(
        f"{name}: {len(got)}/{sent} received ({100 * (sent - len(got)) / sent:.1f}% lost), "
        f"{len(got) / span:.0f} msg/s; latency median {statistics.median(latencies):.2f} ms, "
        f"p95 {p95:.2f} ms, max {latencies[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["relay", "sink"])
    parser.add_argument("--peer")
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--batch-burst", type=int, default=300)
    args = parser.parse_args()
    if args.role:
        uvloop.run(child(args.role, args.peer))
    else:
        uvloop.run(publisher(args))


if __name__ == "__main__":
    main()
