"""Throughput and finality of a 4-validator testnet on this machine, over real libp2p.

Generates a testnet (normal consensus timeouts, commit timeout 500 ms, up to 1000 funded dev
accounts), starts its validators as `aither node start --config` processes, then streams
pre-signed transfers at a fixed rate to all RPC endpoints in JSON-RPC batches (each sender always
through the same endpoint, so its nonces arrive in order). Prints:

- committed tx/s: transfers committed / (last commit - first submission), or / (end of the
  run - first submission) if some never committed (the chain stalled);
- submission -> finality latency (median, p95): a transfer's batch was sent at t0, its block was
  first seen committed (node0's /health, polled every 10 ms) at t1;
- block interval: between consecutive blocks first seen during the run;
- gossip bytes per transaction: TCP bytes sent on libp2p connections by all four nodes during
  the run (`ss -ti` bytes_sent of every socket with a libp2p port at either end, before and
  after), divided by the transfers committed; beside it the floor, every transfer's wire bytes
  sent once per peer in a transactions batch and its hash once per peer in a compact block;
- node CPU per 1,000 committed transfers (all four nodes, from /proc) and the share of the
  machine's cores the nodes used.

    .venv/bin/python bench/testnet.py [--rate 1000] [--seconds 20] [--senders 1000] [--batch 100]
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # bench/common.py, beside this file
    counting_progress,
    cpu_seconds,
    start_node,
)

from core.crypto import hash32
from genesis.dev import dev_key
from genesis.testnet import TESTNET_CHAIN_ID, new_testnet
from ledger.chain_params import ChainParams
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Transaction, Transfer, TxKind
from node.process import free_ports, stop_all

VALIDATORS = 4
GAS_LIMIT = 30_000
CONSENSUS = ChainParams(timeout_commit_ms=500)  # propose 3 s, prevote/precommit 1 s, +0.5 s a round
HEAD_POLL = 0.01
SETTLE_SECONDS = 60.0  # after the stream: how long the chain may take to commit the rest
SOCKET_BYTES = re.compile(r"bytes_sent:(\d+)")
console = Console()


@dataclass
class Sent:
    """What one endpoint's sender thread did: when each batch left, and what failed."""

    batches: list[tuple[float, list[bytes]]] = field(default_factory=list)  # (t0, tx hashes)
    errors: list[str] = field(default_factory=list)


def presign(count: int, senders: int) -> list[list[tuple[bytes, bytes]]]:
    """`count` transfers as (hash, wire bytes), split by endpoint: sender s uses endpoint s % 4.

    Every sender's nonce k comes before anyone's nonce k+1, so the stream is fair to senders.
    """
    keys = [dev_key(i) for i in range(senders)]
    sink = hash32(b"bench sink")[:20]
    streams: list[list[tuple[bytes, bytes]]] = [[] for _ in range(VALIDATORS)]
    for n in range(count):
        sender, nonce = n % senders, n // senders
        key = keys[sender]
        raw = (
            Transaction(
                TESTNET_CHAIN_ID,
                TxKind.TRANSFER,
                key.pubkey,
                nonce,
                GAS_LIMIT,
                DEFAULT_GAS_PRICE,
                Transfer(sink, 1 + n, ""),
            )
            .signed(key)
            .encode()
        )
        streams[sender % VALIDATORS].append((hash32(raw), raw))
    return streams


def height(client: httpx.Client, url: str) -> int | None:
    try:
        return int(client.get(f"{url}/health", timeout=2).json()["height"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def wait_for_blocks(urls: list[str], at_least: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            if all((height(client, url) or 0) >= at_least for url in urls):
                return
            time.sleep(0.1)
    raise SystemExit(f"the testnet did not reach block {at_least} in {timeout:.0f} s")


def p2p_bytes_sent(ports: set[int]) -> dict[tuple[str, str], int]:
    """bytes_sent of every TCP socket with a libp2p port at either end, by (local, peer)."""
    out = subprocess.run(
        ["ss", "-tinH", "state", "established"], capture_output=True, text=True, check=True
    ).stdout
    found: dict[tuple[str, str], int] = {}
    lines = out.splitlines()
    for header, info in zip(lines[::2], lines[1::2], strict=False):
        parts = header.split()
        local, peer = parts[-2], parts[-1]
        if int(local.rsplit(":", 1)[1]) in ports or int(peer.rsplit(":", 1)[1]) in ports:
            sent = SOCKET_BYTES.search(info)
            found[(local, peer)] = int(sent.group(1)) if sent else 0
    return found


def send_stream(
    url: str,
    stream: list[tuple[bytes, bytes]],
    batch: int,
    interval: float,
    started: float,
    sent: Sent,
    progress: Progress,
    task: int,
) -> None:
    """Send `stream` in batches, one batch every `interval` s from `started` (open loop)."""
    with httpx.Client(timeout=60) as client:
        for index, first in enumerate(range(0, len(stream), batch)):
            due = started + index * interval
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)  # the stream's schedule: the load is offered at a fixed rate
            chunk = stream[first : first + batch]
            calls = [
                {
                    "jsonrpc": "2.0",
                    "id": first + i,
                    "method": "aither_sendRawTransaction",
                    "params": ["0x" + raw.hex()],
                }
                for i, (_, raw) in enumerate(chunk)
            ]
            sent_at = time.perf_counter()
            answers = client.post(url, json=calls).json()
            sent.errors += [a["error"]["message"] for a in answers if "error" in a]
            sent.batches.append((sent_at, [tx_hash for tx_hash, _ in chunk]))
            progress.advance(task, len(chunk))


def watch_heads(url: str, seen: dict[int, float], stop: threading.Event) -> None:
    """Record when each height is first seen committed on `url`."""
    with httpx.Client() as client:
        while not stop.is_set():
            now, h = time.perf_counter(), height(client, url)
            if h is not None:
                for missing in range(max(seen, default=h) + 1, h + 1):
                    seen[missing] = now
                seen.setdefault(h, now)
            time.sleep(HEAD_POLL)


def block_txs(url: str, first: int, last: int) -> tuple[dict[bytes, int], dict[int, int]]:
    """Which block holds each transaction, and each block's size in bytes."""
    where: dict[bytes, int] = {}
    sizes: dict[int, int] = {}
    with httpx.Client(timeout=60) as client:
        for start_height in range(first, last + 1, 50):
            heights = range(start_height, min(start_height + 50, last + 1))
            calls = [
                {"jsonrpc": "2.0", "id": h, "method": "aither_getBlockByNumber", "params": [hex(h)]}
                for h in heights
            ]
            for answer in client.post(url, json=calls).json():
                block = answer["result"]
                number = int(block["number"], 16)
                sizes[number] = int(block["size"], 16)
                for tx_hash in block["transactions"]:
                    where[bytes.fromhex(tx_hash[2:])] = number
    return where, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="transfers offered per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the stream")
    parser.add_argument("--senders", type=int, default=1000, help="funded dev accounts (<=1000)")
    parser.add_argument("--batch", type=int, default=100, help="transfers per JSON-RPC batch")
    parser.add_argument("--keep", action="store_true", help="keep the testnet dir (print it)")
    args = parser.parse_args()
    senders = min(args.senders, 1000)
    total = int(args.rate * args.seconds)

    console.print(f"pre-signing {total:,} transfers from {senders} senders...")
    streams = presign(total, senders)
    tx_size = statistics.mean(len(raw) for stream in streams for _, raw in stream[:200])

    tmp = Path(tempfile.mkdtemp(prefix="aither-testnet-bench-"))
    base, rpc_base = free_ports(VALIDATORS), free_ports(VALIDATORS) + 3000
    _, nodes = new_testnet(
        tmp,
        VALIDATORS,
        accounts=senders,
        base_port=base,
        rpc_base_port=rpc_base,
        chain=CONSENSUS,
    )
    urls = [f"http://127.0.0.1:{n.rpc_port}" for n in nodes]
    p2p_ports = {n.p2p_port for n in nodes}
    processes = [start_node(n) for n in nodes]
    try:
        console.print(f"starting {VALIDATORS} validators in {tmp}...")
        wait_for_blocks(urls, 2, 60)
        seen: dict[int, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=watch_heads, args=(urls[0], seen, stop), daemon=True)
        watcher.start()
        first_height = max(seen, default=0) + 1
        sockets_before = p2p_bytes_sent(p2p_ports)
        cpu_before = cpu_seconds(p.pid for p in processes)[1]
        interval = args.batch * VALIDATORS / args.rate  # per endpoint, so the sum is --rate
        results = [Sent() for _ in range(VALIDATORS)]
        with counting_progress(console) as progress:
            submitted = progress.add_task("submitted", total=total)
            committed_task = progress.add_task("committed", total=total)
            started = time.perf_counter() + 0.1
            senders_threads = [
                threading.Thread(
                    target=send_stream,
                    args=(url, stream, args.batch, interval, started, sent, progress, submitted),
                )
                for url, stream, sent in zip(urls, streams, results, strict=True)
            ]
            for thread in senders_threads:
                thread.start()
            with httpx.Client() as client:
                deadline = None
                while True:
                    done = sum(1 for t in senders_threads if not t.is_alive())
                    if done == VALIDATORS and deadline is None:
                        deadline = time.monotonic() + SETTLE_SECONDS
                    pending = client.get(f"{urls[0]}/health").json()["pending"]
                    accepted = sum(len(h) for s in results for _, h in s.batches)
                    progress.update(committed_task, completed=max(0, accepted - pending))
                    if deadline is not None and (pending == 0 or time.monotonic() > deadline):
                        break
                    time.sleep(0.1)
        observed_until = time.perf_counter()
        cpu_used = cpu_seconds(p.pid for p in processes)[1] - cpu_before
        last_height = max(seen)
        time.sleep(HEAD_POLL * 5)  # one more poll of the watcher for the last block
        stop.set()
        watcher.join()
        sockets_after = p2p_bytes_sent(p2p_ports)
        where, sizes = block_txs(urls[0], first_height, last_height)
    finally:
        stop_all(processes)

    errors = [e for s in results for e in s.errors]
    sent_at = {h: t0 for s in results for t0, hashes in s.batches for h in hashes}
    latencies = [seen[where[h]] - t0 for h, t0 in sent_at.items() if h in where]
    included = [where[h] for h in sent_at if h in where]
    committed = len(included)
    if not committed:
        raise SystemExit(f"nothing committed; {len(errors)} errors, first: {errors[:1]}")
    first_submit = min(sent_at.values())
    last_commit = seen[max(included)] if committed == total else observed_until
    load_blocks = sorted(h for h in seen if min(included) <= h <= max(included))
    intervals = [seen[b] - seen[a] for a, b in itertools.pairwise(load_blocks)]
    p2p_bytes = sum(
        sent - sockets_before.get(key, 0) for key, sent in sockets_after.items()
    )  # sockets opened meanwhile count from 0
    peers = VALIDATORS - 1
    floor = (tx_size + 32) * peers  # one copy per peer in a tx batch, its hash in a block
    latencies.sort()

    table = Table(
        title=f"Aither testnet: {VALIDATORS} validators, {total:,} transfers offered at "
        f"{args.rate:,}/s for {args.seconds:.0f} s from {senders} senders, batches of "
        f"{args.batch}, commit timeout {CONSENSUS.timeout_commit_ms} ms"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("committed transfers", f"{committed:,} of {total:,} ({len(errors)} rejected)")
    table.add_row("committed tx/s", f"{committed / (last_commit - first_submit):,.0f}")
    table.add_row("finality latency median", f"{statistics.median(latencies):.2f} s")
    table.add_row("finality latency p95", f"{latencies[int(len(latencies) * 0.95)]:.2f} s")
    table.add_row("blocks (with the load)", f"{len(load_blocks)}")
    table.add_row(
        "mean block interval",
        f"{statistics.mean(intervals):.2f} s" if intervals else "-",
    )
    table.add_row("mean txs per block", f"{committed / max(1, len(set(included))):,.0f}")
    table.add_row("mean block size", f"{statistics.mean(sizes.values()) / 1024:,.0f} KiB")
    table.add_row("gossip bytes per tx (measured)", f"{p2p_bytes / committed:,.0f} B")
    table.add_row("  floor: (tx + its hash) x peers", f"{floor:,.0f} B")
    cores = os.cpu_count() or 1
    busy = cpu_used / ((observed_until - first_submit) * cores)
    table.add_row("node CPU per 1,000 committed tx", f"{cpu_used * 1000 / committed:.2f} s")
    table.add_row(f"node CPU use of the {cores} cores", f"{busy:.0%}")
    table.add_row("transfer size", f"{tx_size:,.0f} B")
    console.print(table)
    if errors:
        console.print(f"first rejection: {errors[0]}")
    if args.keep:
        console.print(f"testnet kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
