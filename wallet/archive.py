"""The evolution archive: what `aither evolve` wrote, one JSON line per generation.

A line holds the agent and region, the generation number, where the patch came from (`model` or
`mutation`, and why the model's was not used), the metric and the score before and after, the
proposal id, its outcome and the council's votes, the deposit, the seconds it took, the diff and
the new IR. `aither evolve` appends to it; `aither gov leaderboard --archive FILE` and `aither gov
export --archive FILE` read it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.crypto import to_checksum_address

MAX_ARCHIVE_BYTES = 64 << 20  # an archive is read whole: refuse one past this


def default_archive(agent: bytes, region: str) -> Path:
    return Path("~/.aither/evolve").expanduser() / f"{to_checksum_address(agent)}-{region}.jsonl"


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one generation as one write of a whole line (after a newline, if a torn write left
    the file without one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_archive(path: Path) -> list[dict[str, Any]]:
    """The generations in an archive file, oldest first. A last line a crash cut short is left
    out; any other bad line raises ValueError naming it."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_ARCHIVE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read archive {path}: {exc.strerror}") from None
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ValueError(f"archive {path} is over {MAX_ARCHIVE_BYTES >> 20} MiB")
    # Every whole write ends with a newline: what follows the last one is "" or a write a crash
    # cut short, never a generation.
    lines = data.decode("utf-8", "replace").split("\n")[:-1]
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ValueError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(record, dict) or not isinstance(record.get("generation"), int):
            raise ValueError(f"{path}:{number}: not an evolve generation")
        records.append(record)
    return records
