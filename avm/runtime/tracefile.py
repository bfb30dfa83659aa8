"""Trace files: everything a replay needs to run a program again without the outside world.

A trace file is JSON. Its inputs are the code object, the entry, arguments and gas limit, the
agent's storage and the chain's time, height and balances as the run met them, and every plugin
result in order; its output is the trace hash (plus the readable trace and the transactions the
run sent, for people). AVM values are kept as hex of their canonical encoding, so a replay gets
back exactly the values the run saw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from avm.code import CodeObject
from avm.runtime.errors import TraceFileError
from avm.runtime.record import RecordedCall
from avm.values import Value, encode_value, from_wire
from ledger.encoding import decode

FORMAT = "aither-agent-trace/1"


def value_hex(value: Value) -> str:
    return encode_value(value).hex()


def hex_value(text: str) -> Value:
    return from_wire(decode(bytes.fromhex(text)))


@dataclass(frozen=True, slots=True)
class TraceFile:
    code: CodeObject
    entry: str | None
    args: tuple[Value, ...]
    gas_limit: int  # milligas
    agent: bytes
    caller: bytes
    time: int
    height: int
    storage: tuple[tuple[bytes, bytes], ...]  # the agent's storage before the run
    balances: tuple[tuple[bytes, str, int], ...]  # (address, chain token, amount) as read
    calls: tuple[RecordedCall, ...]
    trace_hash: bytes
    trace: tuple[dict[str, object], ...] = ()  # readable entries; not read back
    transactions: tuple[str, ...] = ()  # hashes of the transactions the run sent

    def to_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "code": self.code.to_bytes().hex(),
            "entry": self.entry,
            "args": value_hex(self.args),
            "gas_limit": self.gas_limit,
            "agent": self.agent.hex(),
            "caller": self.caller.hex(),
            "time": self.time,
            "height": self.height,
            "storage": [[k.hex(), v.hex()] for k, v in self.storage],
            "balances": [[a.hex(), t, n] for a, t, n in self.balances],
            "calls": [
                {
                    "opcode": c.opcode,
                    "args": value_hex(c.args),
                    "result": value_hex(c.result),
                    "failure": c.failure,
                }
                for c in self.calls
            ],
            "trace_hash": self.trace_hash.hex(),
            "transactions": list(self.transactions),
            "trace": list(self.trace),
        }

    @staticmethod
    def from_json(data: object) -> TraceFile:
        """Raises TraceFileError for anything that is not a trace file of this format."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise TraceFileError(f"not a readable trace file: its format is not {FORMAT}")
        try:
            args = hex_value(data["args"])
            if type(args) is not tuple:
                raise TypeError("args must be a list")
            return TraceFile(
                code=CodeObject.from_bytes(bytes.fromhex(data["code"])),
                entry=data["entry"],
                args=args,
                gas_limit=int(data["gas_limit"]),
                agent=bytes.fromhex(data["agent"]),
                caller=bytes.fromhex(data["caller"]),
                time=int(data["time"]),
                height=int(data["height"]),
                storage=tuple((bytes.fromhex(k), bytes.fromhex(v)) for k, v in data["storage"]),
                balances=tuple((bytes.fromhex(a), str(t), int(n)) for a, t, n in data["balances"]),
                calls=tuple(
                    RecordedCall(
                        c["opcode"], hex_value(c["args"]), hex_value(c["result"]), c["failure"]
                    )
                    for c in data["calls"]
                ),
                trace_hash=bytes.fromhex(data["trace_hash"]),
                transactions=tuple(data.get("transactions", ())),
            )
        except Exception as exc:  # any malformed field: one message, not a traceback
            raise TraceFileError(
                f"not a readable trace file: {type(exc).__name__}: {exc}"
            ) from None

    def write(self, path: Path) -> None:
        try:
            path.write_text(json.dumps(self.to_json(), indent=1, default=str) + "\n")
        except OSError as exc:
            raise TraceFileError(f"{path}: {exc.strerror or exc}") from None

    @staticmethod
    def read(path: Path) -> TraceFile:
        try:
            text = path.read_text()
        except OSError as exc:
            raise TraceFileError(f"{path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TraceFileError(f"{path}: not JSON: {exc}") from None
        return TraceFile.from_json(data)
