"""A dev chain's snapshot and revert, and reads of past state, on a real dev node.

Fills a chain with transfers to many fresh accounts (state entries), takes a snapshot
(`evm_snapshot`), sends more transfers, and times `evm_revert`, which walks the ledger's state
history back (O(what changed since the snapshot)). In the same run it times the alternative a
revert could otherwise take: copying the chain's LevelDB directory (O(the whole state)), as a
copy-based snapshot would have to on every snapshot. Then it times balance reads at the head and
at the first block (past state through the history index).

    .venv/bin/python bench/devchain.py [--fill 20000] [--undo 1000] [--reads 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import counting_progress

from core.crypto import hash32, to_checksum_address
from genesis.dev import DEV_CHAIN_ID, dev_key
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Transaction, Transfer, TxKind
from node.process import HOST, NodeProcess, free_ports, wait_until

SENDERS = 200
BATCH = 500
console = Console()


def presign(count: int, first: int, nonces: dict[int, int]) -> list[bytes]:
    """`count` transfers from the dev accounts, each to a fresh account (numbered from
    `first`)."""
    txs = []
    for n in range(count):
        sender = n % SENDERS
        key = dev_key(sender)
        to = hash32(b"devchain bench %d" % (first + n))[:20]
        nonce = nonces.get(sender, 0)
        nonces[sender] = nonce + 1
        tx = Transaction(
            DEV_CHAIN_ID, TxKind.TRANSFER, key.pubkey, nonce, 30_000, DEFAULT_GAS_PRICE,
            Transfer(to, 1),
        )  # fmt: skip
        txs.append(tx.signed(key).encode())
    return txs


def rpc(client: httpx.Client, url: str, method: str, *params: object) -> object:
    answer = client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    body = answer.json()
    if "error" in body:
        raise SystemExit(f"{method}: {body['error']}")
    return body["result"]


def send_all(client: httpx.Client, url: str, txs: list[bytes], what: str) -> None:
    with counting_progress(console) as progress:
        task = progress.add_task(what, total=len(txs))
        for start in range(0, len(txs), BATCH):
            batch = txs[start : start + BATCH]
            calls = [
                {"jsonrpc": "2.0", "id": i, "method": "aither_sendRawTransaction",
                 "params": ["0x" + raw.hex()]}
                for i, raw in enumerate(batch)
            ]  # fmt: skip
            answers = client.post(url, json=calls).json()
            refused = [a["error"]["message"] for a in answers if "error" in a]
            if refused:
                raise SystemExit(f"{len(refused)} refused, first: {refused[0]}")
            progress.advance(task, len(batch))

    def settled() -> bool:
        health = client.get(f"{url}/health").json()
        return health["pending"] == 0

    wait_until(settled, 300, f"the {what} to be committed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fill", type=int, default=20_000, help="transfers before the snapshot")
    parser.add_argument("--undo", type=int, default=1_000, help="transfers the revert undoes")
    parser.add_argument("--reads", type=int, default=1_000, help="balance reads of each kind")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, httpx.Client(timeout=120) as client:
        data_dir = Path(tmp) / "chain"
        port = free_ports(1)
        url = f"http://{HOST}:{port}"
        node = NodeProcess(
            ("--dev", "--data-dir", str(data_dir), "--accounts", str(SENDERS), "--rpc-port",
             str(port)),
            url, Path(tmp) / "node.log", "dev",
        )  # fmt: skip
        node.spawn()
        try:
            node.wait_serving(30)
            nonces: dict[int, int] = {}
            send_all(client, url, presign(options.fill, 0, nonces), "filling the chain")
            snapshot = rpc(client, url, "evm_snapshot")
            height = int(str(rpc(client, url, "eth_blockNumber")), 16)
            undo = presign(options.undo, options.fill, nonces)
            send_all(client, url, undo, "transfers to undo")
            undone = int(str(rpc(client, url, "eth_blockNumber")), 16) - height
            started = time.perf_counter()
            assert rpc(client, url, "evm_revert", snapshot) is True
            revert_s = time.perf_counter() - started
            started = time.perf_counter()
            shutil.copytree(data_dir / "chain.ldb", Path(tmp) / "copy.ldb")
            copy_s = time.perf_counter() - started
            size = sum(f.stat().st_size for f in (Path(tmp) / "copy.ldb").iterdir())

            who = to_checksum_address(dev_key(0).address)
            timings = {}
            for tag in ("latest", "0x1"):
                calls = [
                    {"jsonrpc": "2.0", "id": i, "method": "eth_getBalance", "params": [who, tag]}
                    for i in range(options.reads)
                ]
                started = time.perf_counter()
                for call in calls:
                    client.post(url, json=call).raise_for_status()
                timings[tag] = (time.perf_counter() - started) / options.reads
        finally:
            node.stop()

    table = Table(title="dev chain: snapshot revert and past state")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_row("state entries before the snapshot", f"~{options.fill + SENDERS:,}")
    table.add_row(
        f"evm_revert of {options.undo:,} transfers ({undone} blocks)", f"{revert_s:.3f} s"
    )
    table.add_row(f"copying the chain's LevelDB ({size / 2**20:.1f} MiB)", f"{copy_s:.3f} s")
    table.add_row("eth_getBalance at the head", f"{timings['latest'] * 1000:.2f} ms")
    table.add_row("eth_getBalance at block 1 (past state)", f"{timings['0x1'] * 1000:.2f} ms")
    console.print(table)


if __name__ == "__main__":
    main()
