"""Each agent's local storage, kept between runs in one file per agent.

`STATE_DIR/<agent address hex>/storage.bin` holds the canonical encoding of the sorted
(key, value) pairs; `code.bin` the code object an agent rewrote itself into (SELF_MODIFY on a
`self` region), which `aither agent run` accepts as FILE; `schedule.json` its scheduled tasks
(SCHEDULE_TASK, see `agent.schedule`). Files are replaced atomically (write, fsync,
rename), so a crash leaves the state before or after a run, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.errors import RuntimeConfigError
from agent.schedule import Schedule, read_schedules, write_schedules
from core.encoding import decode, encode
from core.errors import DecodeError

STORAGE_FILE = "storage.bin"
CODE_FILE = "code.bin"
SCHEDULE_FILE = "schedule.json"


def default_state_dir() -> Path:
    return Path(os.environ.get("AITHER_HOME", Path.home() / ".aither")) / "agents"


class AgentState:
    def __init__(self, state_dir: Path, agent: bytes) -> None:
        self.path = state_dir / agent.hex() / STORAGE_FILE

    def load(self) -> dict[bytes, bytes]:
        """The stored pairs ({} for a new agent). Raises RuntimeConfigError if unreadable."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise RuntimeConfigError(f"{self.path}: {exc.strerror or exc}") from None
        try:
            pairs = decode(raw)
            if not isinstance(pairs, list):
                raise DecodeError("agent state is a list of [key, value] pairs")
            storage = {}
            for pair in pairs:
                match pair:
                    case [bytes() as key, bytes() as value]:
                        storage[key] = value
                    case _:
                        raise DecodeError("an agent state entry is [key, value], both bytes")
            return storage
        except DecodeError as exc:
            raise RuntimeConfigError(f"{self.path}: damaged agent state: {exc}") from None

    @property
    def code_path(self) -> Path:
        return self.path.with_name(CODE_FILE)

    def save(self, storage: dict[bytes, bytes]) -> None:
        _replace(self.path, encode([[k, v] for k, v in sorted(storage.items())]))

    def save_code(self, code: bytes) -> None:
        _replace(self.code_path, code)

    @property
    def schedule_path(self) -> Path:
        return self.path.with_name(SCHEDULE_FILE)

    def load_schedules(self) -> list[Schedule]:
        """The agent's scheduled tasks ([] for none). Raises RuntimeConfigError if unreadable."""
        try:
            text = self.schedule_path.read_text()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RuntimeConfigError(f"{self.schedule_path}: {exc.strerror or exc}") from None
        return read_schedules(text, str(self.schedule_path))

    def save_schedules(self, schedules: list[Schedule]) -> None:
        _replace(self.schedule_path, write_schedules(schedules).encode())


def _replace(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise RuntimeConfigError(f"{path}: {exc.strerror or exc}") from None
