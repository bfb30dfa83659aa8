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

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.crypto import to_checksum_address
from genesis.dev import dev_key
from node.process import AITHER, NodeProcess, free_ports, health

console = Console()
# The targets: a command starts in under 0.3 s, a dev node answers within 1 s.
TARGETS = {
    "aither --help": 0.3,
    "aither wallet balance ADDRESS": 0.3,
    "aither node start --dev, until RPC answers": 1.0,
}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return time.perf_counter() - started


def node_start(root: Path) -> tuple[float, NodeProcess]:
    """Start a dev node on a fresh data dir; seconds until /health answers, and the node."""
    port = free_ports(1)
    command = ("--dev", "--data-dir", str(root), "--rpc-port", str(port))
    node = NodeProcess(command, f"http://127.0.0.1:{port}", root.with_suffix(".log"))
    started = time.perf_counter()
    node.spawn()
    while health(node.url, timeout=0.5) is None:
        if not node.running or time.perf_counter() - started > 60:
            node.close()
            raise SystemExit(f"the dev node did not start\n{node.log_tail()}")
        time.sleep(0.005)
    return time.perf_counter() - started, node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    alice = to_checksum_address(dev_key(0).address)
    aither = str(AITHER)
    with (
        tempfile.TemporaryDirectory(prefix="aither-startup-") as root,
        Progress(console=console, transient=True) as progress,
    ):
        runs = progress.add_task("runs", total=args.runs)
        for run in range(args.runs):
            seconds, node = node_start(Path(root) / f"node{run}")
            results.setdefault("aither node start --dev, until RPC answers", []).append(seconds)
            try:
                commands = {
                    "python -c pass": [sys.executable, "-c", "pass"],
                    "aither --help": [aither, "--help"],
                    "aither wallet --help": [aither, "wallet", "--help"],
                    "aither wallet balance ADDRESS": [
                        *(aither, "wallet", "balance", alice, "--rpc", node.url)
                    ],
                }
                for name, command in commands.items():
                    results.setdefault(name, []).append(timed(command))
            finally:
                node.close()
            progress.advance(runs)
    baseline = statistics.median(results["python -c pass"])
    table = Table(title=f"start-up, median of {args.runs} runs")
    table.add_column("command")
    table.add_column("seconds", justify="right")
    table.add_column("minus python -c pass", justify="right")
    table.add_column("target", justify="right")
    for name in [
        "python -c pass",
        "aither --help",
        "aither wallet --help",
        "aither wallet balance ADDRESS",
        "aither node start --dev, until RPC answers",
    ]:
        seconds = statistics.median(results[name])
        target = TARGETS.get(name)
        verdict = "" if target is None else f"< {target} {'ok' if seconds < target else 'MISSED'}"
        table.add_row(name, f"{seconds:.2f}", f"{seconds - baseline:.2f}", verdict)
    console.print(table)


if __name__ == "__main__":
    main()
