"""What the swarm service keeps on disk: writers' sequences, readers' high water, ciphertext."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

STATE_FILE = "swarm-state.json"
LOG_SUFFIX = ".env"  # a channel's ciphertext log: [4-byte length][envelope] records
_LENGTH = 4


class Disk:
    """What the service keeps on disk: sequences, high water, and ciphertext. Never plaintext."""

    def __init__(self, directory: Path, channel_bytes: int) -> None:
        self.directory = directory
        self.channel_bytes = channel_bytes
        self._logs: dict[bytes, list] = {}  # channel id -> [open file, its size]
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def load(
        self,
    ) -> tuple[
        dict[tuple[bytes, bytes], int], dict[bytes, dict[bytes, int]], dict[bytes, set[int]]
    ]:
        """(reserved sequence per (identity, channel), high water per channel and sender,
        valid_from of the certificates seen per derived identity)."""
        path = self.directory / STATE_FILE
        if not path.exists():
            return {}, {}, {}
        data = json.loads(path.read_text())
        sequences = {
            (bytes.fromhex(a), bytes.fromhex(c)): int(n) for a, c, n in data.get("sequences", [])
        }
        high = {
            bytes.fromhex(c): {bytes.fromhex(s): int(n) for s, n in senders}
            for c, senders in data.get("highWater", [])
        }
        valid_from = {bytes.fromhex(a): set(map(int, v)) for a, v in data.get("validFrom", [])}
        return sequences, high, valid_from

    def save(
        self,
        sequences: dict[tuple[bytes, bytes], int],
        high_water: dict[bytes, dict[bytes, int]],
        valid_from: dict[bytes, set[int]],
    ) -> None:
        data = {
            "validFrom": [[a.hex(), sorted(v)] for a, v in sorted(valid_from.items())],
            "sequences": [[a.hex(), c.hex(), n] for (a, c), n in sorted(sequences.items())],
            "highWater": [
                [c.hex(), [[s.hex(), n] for s, n in sorted(senders.items())]]
                for c, senders in sorted(high_water.items())
            ],
        }
        path = self.directory / STATE_FILE
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        # A crash leaves the old file or the new one, never half of one: sequences must hold.
        os.replace(temporary, path)

    def append(self, channel_id: bytes, envelope: bytes) -> None:
        """Add a ciphertext to the channel's log (buffered: `flush` writes it out)."""
        entry = self._logs.get(channel_id)
        path = self.directory / (channel_id.hex() + LOG_SUFFIX)
        if entry is None:
            handle = open(path, "ab")  # noqa: SIM115  (kept open: one open per message cost 0.2 ms)
            entry = self._logs[channel_id] = [handle, handle.tell()]
        record = len(envelope).to_bytes(_LENGTH, "big") + envelope
        if entry[1] + len(record) > self.channel_bytes:
            # Two generations bound the disk: the older one is dropped.
            entry[0].close()
            os.replace(path, path.with_suffix(LOG_SUFFIX + ".old"))
            entry[0], entry[1] = open(path, "ab"), 0  # noqa: SIM115
        entry[0].write(record)
        entry[1] += len(record)

    def flush(self) -> None:
        for handle, _ in self._logs.values():
            handle.flush()

    def close(self) -> None:
        for handle, _ in self._logs.values():
            handle.close()
        self._logs.clear()

    def envelopes(self, channel_id: bytes) -> list[bytes]:
        """The stored ciphertexts of a channel, oldest first."""
        self.flush()
        found: list[bytes] = []
        base = self.directory / (channel_id.hex() + LOG_SUFFIX)
        for path in (base.with_suffix(LOG_SUFFIX + ".old"), base):
            with contextlib.suppress(FileNotFoundError):
                data = path.read_bytes()
                at = 0
                while at + _LENGTH <= len(data):
                    size = int.from_bytes(data[at : at + _LENGTH], "big")
                    found.append(data[at + _LENGTH : at + _LENGTH + size])
                    at += _LENGTH + size
        return found
