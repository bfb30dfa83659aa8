"""The evolution archive: what `aither evolve` wrote, one JSON line per generation.

A line holds the agent and region, the generation number, where the patch came from (`model` or
`mutation`, and why the model's was not used), the metric and the score before and after, the
proposal id, its outcome and the council's votes, the deposit, the seconds it took, the diff and
the new IR. `aither evolve` appends to it; `aither gov leaderboard --archive FILE` and `aither gov
export --archive FILE` read it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.crypto import to_checksum_address

MAX_ARCHIVE_BYTES = 64 << 20  # an archive is read whole: refuse one past this


def default_archive(agent: bytes, region: str) -> Path:
    return Path("~/.aither/evolve").expanduser() / f"{to_checksum_address(agent)}-{region}.jsonl"


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one generation (a whole line, flushed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def read_archive(path: Path) -> list[dict[str, Any]]:
    """The generations in an archive file, oldest first. Raises ValueError naming a bad line."""
    try:
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise ValueError(f"archive {path} is over {MAX_ARCHIVE_BYTES >> 20} MiB")
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read archive {path}: {exc.strerror}") from None
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
