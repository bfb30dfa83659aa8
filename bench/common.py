"""What the multi-node benchmarks share: testnet node processes (node/process.py), their CPU
time, progress."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genesis.testnet import TestnetNode
from node.process import HOST, NodeProcess


def start_node(node: TestnetNode, *flags: str) -> NodeProcess:
    """Spawn validator `node` of a generated testnet (`aither node start --config`), its output
    in the node's directory."""
    url = f"http://{HOST}:{node.rpc_port}"
    command = ("--config", str(node.config), *flags)
    process = NodeProcess(command, url, node.directory / "node.log", node.directory.name)
    process.spawn()
    return process


def cpu_seconds(pids: Iterable[int]) -> tuple[float, float]:
    """CPU seconds (user + system) the processes have used so far: (main threads, whole).

    A node's main thread runs asyncio (RPC, consensus, decryption); its libp2p host runs in a
    thread of its own.
    """
    main = total = 0
    for pid in pids:
        main += _ticks(Path(f"/proc/{pid}/task/{pid}/stat"))
        total += _ticks(Path(f"/proc/{pid}/stat"))
    tick = os.sysconf("SC_CLK_TCK")
    return main / tick, total / tick


def _ticks(stat: Path) -> int:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def counting_progress(console: Console) -> Progress:
    """A Rich progress display of counted tasks: bar, done/total, elapsed time."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=console,
    )
