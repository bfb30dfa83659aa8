"""How long `aither` takes before it does anything, against `python -c pass` in the same run.

Times whole commands (median of --runs), each in a fresh process: the interpreter alone, the
top-level help, a wallet command's help, a balance read from a running dev node, and a dev
node's start until its JSON-RPC answers.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import free_ports  # bench/common.py, beside this file

from core.crypto import to_checksum_address
from genesis.dev import dev_key

AITHER = str(Path(sys.executable).with_name("aither"))
console = Console()


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return time.perf_counter() - started


def node_start(root: Path) -> tuple[float, subprocess.Popen[bytes], str]:
    """Start a dev node on a fresh data dir; seconds until /health answers, the process, URL."""
    port = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    command = [AITHER, "node", "start", "--dev", "--data-dir", str(root), "--rpc-port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return time.perf_counter() - started, process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.perf_counter() - started > 60:
            process.kill()
            raise SystemExit("the dev node did not start")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    alice = to_checksum_address(dev_key(0).address)
    with tempfile.TemporaryDirectory(prefix="aither-startup-") as root:
        for run in range(args.runs):
            seconds, process, url = node_start(Path(root) / f"node{run}")
            results.setdefault("aither node start --dev, until RPC answers", []).append(seconds)
            try:
                balance = [AITHER, "wallet", "balance", alice, "--rpc", url]
                commands = {
                    "python -c pass": [sys.executable, "-c", "pass"],
                    "aither --help": [AITHER, "--help"],
                    "aither wallet --help": [AITHER, "wallet", "--help"],
                    "aither wallet balance ADDRESS": balance,
                }
                for name, command in commands.items():
                    results.setdefault(name, []).append(timed(command))
            finally:
                process.kill()
                process.wait()
    table = Table(title=f"start-up, median of {args.runs} runs")
    table.add_column("command")
    table.add_column("seconds", justify="right")
    for name in [
        "python -c pass",
        "aither --help",
        "aither wallet --help",
        "aither wallet balance ADDRESS",
        "aither node start --dev, until RPC answers",
    ]:
        table.add_row(name, f"{statistics.median(results[name]):.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
