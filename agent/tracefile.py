"""Trace files: everything a replay needs to run a program again without the outside world.

A trace file is JSON. Its inputs are the code object, the entry, arguments and gas limit, the
run's settings (`--agent`, `[swarm]`), the agent's storage and the chain's time and height as the
run met them, every plugin result in order (with a model's tokens), and every question the run
asked the node with its answer (balances, channels, agents, swarm messages sent and awaited).
Its outputs are the trace hash, the on-chain effects the run made with the receipts of their
transactions, and the tasks it scheduled (plus the readable trace, for people). AVM values are
kept as hex of their canonical encoding, so a replay gets back exactly the values the run saw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import TraceFileError
from agent.host import RunSettings
from agent.nodelink import Exchange
from agent.record import RecordedCall
from agent.schedule import Schedule
from agent.swarm import SwarmSettings
from agent.transactions import Receipt
from avm.code import CodeObject
from avm.validation import decode_code
from avm.values import Value, encode_value, from_wire
from core.encoding import decode

FORMAT = "aither-agent-trace/2"


def value_hex(value: Value) -> str:
    return encode_value(value).hex()


def hex_value(text: str) -> Value:
    return from_wire(decode(bytes.fromhex(text)))


def _settings_json(settings: RunSettings) -> dict[str, object]:
    home = settings.home_agent
    return {
        "homeAgent": None if home is None else home.hex(),
        "swarm": settings.swarm.to_json(),
    }


def _settings(doc: dict[str, Any]) -> RunSettings:
    home = doc["homeAgent"]
    return RunSettings(
        None if home is None else bytes.fromhex(str(home)),
        SwarmSettings.from_json(doc["swarm"]),
    )


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
    settings: RunSettings
    storage: tuple[tuple[bytes, bytes], ...]  # the agent's storage before the run
    calls: tuple[RecordedCall, ...]
    node: tuple[Exchange, ...]  # every question asked of the node, in order
    trace_hash: bytes
    effects: tuple[dict[str, object], ...] = ()  # the on-chain effects' descriptions, in order
    receipts: tuple[Receipt, ...] = ()  # of the effects' transactions, as far as they were sent
    schedules: tuple[Schedule, ...] = ()  # tasks the run registered
    trace: tuple[dict[str, object], ...] = ()  # readable entries; not read back

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
            "settings": _settings_json(self.settings),
            "storage": [[k.hex(), v.hex()] for k, v in self.storage],
            "calls": [
                {
                    "opcode": c.opcode,
                    "args": value_hex(c.args),
                    "result": value_hex(c.result),
                    "failure": c.failure,
                    "units": c.units,
                }
                for c in self.calls
            ],
            "node": [e.to_json() for e in self.node],
            "trace_hash": self.trace_hash.hex(),
            "effects": list(self.effects),
            "receipts": [r.to_json() for r in self.receipts],
            "schedules": [s.to_json() for s in self.schedules],
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
                code=decode_code(bytes.fromhex(data["code"])),
                entry=data["entry"],
                args=args,
                gas_limit=int(data["gas_limit"]),
                agent=bytes.fromhex(data["agent"]),
                caller=bytes.fromhex(data["caller"]),
                time=int(data["time"]),
                height=int(data["height"]),
                settings=_settings(data["settings"]),
                storage=tuple((bytes.fromhex(k), bytes.fromhex(v)) for k, v in data["storage"]),
                calls=tuple(_recorded_call(c) for c in data["calls"]),
                node=tuple(Exchange.from_json(e) for e in data["node"]),
                trace_hash=bytes.fromhex(data["trace_hash"]),
                effects=tuple(data["effects"]),
                receipts=tuple(Receipt.from_json(r) for r in data["receipts"]),
                schedules=tuple(Schedule.from_json(s) for s in data["schedules"]),
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


def _recorded_call(data: dict[str, Any]) -> RecordedCall:
    args = hex_value(data["args"])
    if not isinstance(args, tuple):
        raise TypeError("a recorded call's args must be a list")
    return RecordedCall(
        data["opcode"], args, hex_value(data["result"]), data["failure"], int(data.get("units", 0))
    )
