"""What the multi-node benchmarks share: free ports, node processes, their CPU time, progress."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


def free_ports(count: int, rng: random.Random | None = None) -> int:
    """A base port such that base .. base+count-1 are all free on 127.0.0.1 right now (random:
    other testnets on this machine pick from the same range)."""
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 32_000 - count)
        with contextlib.ExitStack() as probes:
            try:
                for port in range(base, base + count):
                    probes.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise SystemExit("no free ports")


def start_node(config: Path, log: Path, *flags: str) -> subprocess.Popen[bytes]:
    """`aither node start --config CONFIG FLAGS...` with its output in `log`."""
    aither = Path(sys.executable).with_name("aither")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(aither), "node", "start", "--config", str(config), *flags],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_nodes(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Ctrl-C to every node, then SIGKILL those not gone after 30 s."""
    processes = list(processes)
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


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
