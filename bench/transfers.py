"""End-to-end transfer throughput of a dev node: pre-signed transfers in, committed blocks out.

Starts a real node process, pre-signs N transfers from many dev accounts, submits them over
JSON-RPC in batches from several connections, and prints admitted tx/s, committed tx/s, mean
block commit time and the state root's share of it. For comparison it measures, in the same run,
the physical limit: ed25519 verification with PyNaCl on one core and on two threads.

    .venv/bin/python bench/transfers.py [--txs 20000] [--senders 500] [--batch 500]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.crypto import SigningKey
from genesis.dev import DEV_CHAIN_ID, dev_key
from ledger.tx import Transaction, Transfer, TxKind

GAS_PRICE = 10**9
GAS_LIMIT = 30_000
BLOCK_LINE = re.compile(r"block (\d+) committed: (\d+) txs, ([\d.]+) s \(state root ([\d.]+) s\)")
console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(data_dir: Path, port: int, accounts: int) -> tuple[subprocess.Popen, Path]:
    log_path = data_dir / "node.log"
    aither = Path(sys.executable).parent / "aither"
    process = subprocess.Popen(
        [
            str(aither),
            "node",
            "start",
            "--dev",
            "--data-dir",
            str(data_dir / "chain"),
            "--rpc-port",
            str(port),
            "--accounts",
            str(accounts),
            "--json",
        ],
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process, log_path
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"node did not start:\n{log_path.read_text()[-2000:]}")


def presign(count: int, senders: int) -> list[bytes]:
    keys = [dev_key(i) for i in range(senders)]
    sink = SigningKey(b"\x01" * 32).address
    txs = []
    for n in range(count):
        key = keys[n % senders]
        nonce = n // senders
        tx = Transaction(
            DEV_CHAIN_ID,
            TxKind.TRANSFER,
            key.pubkey,
            nonce,
            GAS_LIMIT,
            GAS_PRICE,
            Transfer(sink, 1 + n, ""),
        )
        txs.append(tx.signed(key).encode())
    return txs


def submit(url: str, batch: list[bytes], first_id: int) -> int:
    calls = [
        {
            "jsonrpc": "2.0",
            "id": first_id + i,
            "method": "aither_sendRawTransaction",
            "params": ["0x" + raw.hex()],
        }
        for i, raw in enumerate(batch)
    ]
    with httpx.Client(timeout=120) as client:
        answers = client.post(url, json=calls).json()
    errors = [a["error"]["message"] for a in answers if "error" in a]
    if errors:
        raise SystemExit(f"{len(errors)} rejected, first: {errors[0]}")
    return len(answers)


def verify_rate(threads: int, count: int = 20_000) -> float:
    key = SigningKey(b"\x02" * 32)
    tx = Transaction(1, TxKind.TRANSFER, key.pubkey, 0, 1, 1, Transfer(bytes(20), 1)).signed(key)
    chunk = [tx] * (count // threads)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda txs: [t.has_valid_signature() for t in txs], [chunk] * threads))
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=20_000)
    parser.add_argument("--senders", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    senders = min(args.senders, 1000)

    console.print(f"pre-signing {args.txs} transfers from {senders} senders...")
    txs = presign(args.txs, senders)
    batches = [txs[i : i + args.batch] for i in range(0, len(txs), args.batch)]

    with tempfile.TemporaryDirectory(prefix="aither-bench-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process, log_path = start_node(Path(tmp), port, senders)
        try:
            started = time.perf_counter()
            with (
                Progress(console=console) as progress,
                concurrent.futures.ThreadPoolExecutor(args.connections) as pool,
            ):
                task = progress.add_task("submitting", total=len(txs))
                futures = [
                    pool.submit(submit, url, batch, i * args.batch)
                    for i, batch in enumerate(batches)
                ]
                for future in concurrent.futures.as_completed(futures):
                    progress.advance(task, future.result())
            admitted_at = time.perf_counter()
            committed = 0
            deadline = time.monotonic() + 300
            while committed < len(txs) and time.monotonic() < deadline:
                blocks = [m for m in map(BLOCK_LINE.search, log_path.read_text().splitlines()) if m]
                committed = sum(int(m.group(2)) for m in blocks)
                time.sleep(0.02)
            committed_at = time.perf_counter()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        blocks = [m for m in map(BLOCK_LINE.search, log_path.read_text().splitlines()) if m]

    if committed < len(txs):
        raise SystemExit(f"only {committed} of {len(txs)} committed")
    block_seconds = [float(m.group(3)) for m in blocks]
    root_seconds = [float(m.group(4)) for m in blocks]
    one_core = verify_rate(1)
    two_threads = verify_rate(2)

    table = Table(
        title=f"Aither dev node: {len(txs)} transfers, {senders} senders, "
        f"batches of {args.batch}, {os.cpu_count()} cores"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("admitted tx/s", f"{len(txs) / (admitted_at - started):,.0f}")
    table.add_row("committed tx/s (end to end)", f"{len(txs) / (committed_at - started):,.0f}")
    table.add_row("blocks", str(len(blocks)))
    table.add_row("mean txs per block", f"{len(txs) / len(blocks):,.0f}")
    table.add_row("mean block commit time", f"{sum(block_seconds) / len(blocks) * 1000:,.1f} ms")
    table.add_row("state root share of commit", f"{sum(root_seconds) / sum(block_seconds):.0%}")
    table.add_row("limit: ed25519 verify, 1 core", f"{one_core:,.0f}/s")
    table.add_row("limit: ed25519 verify, 2 threads", f"{two_threads:,.0f}/s")
    console.print(table)


if __name__ == "__main__":
    main()
