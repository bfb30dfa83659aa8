"""Scheduled execution on chain: the tasks SCHEDULE_TASK registers (ledger/scheduler.py runs
them at each block's end).

`SCHEDULE_TASK "report", 3600` in an agent's call registers its entry label `report` to run every
3,600 seconds of block time, first at the call's block time plus the interval, paying for each
run at the gas price of the transaction that registered it. At the end of every block, after its
transactions (as Cosmos's EndBlock and Substrate's scheduler pallet do), the tasks due by the
block's timestamp run in a fixed order (due time, then agent, then task name), each with at most
TASK_GAS and within BLOCK_TASK_GAS for the whole block: what does not fit waits for the next
block, in the same order. A run is a call of the agent by itself (`CALLER` is the agent), with no
arguments; its fee (gas used x the registered price) goes to the block's proposer. A task whose
agent cannot prepay TASK_GAS at its price is dropped, as is one whose agent no longer has the
label; a run that missed several periods runs once and moves on by whole periods. Interval 0
cancels. Nothing here reads a clock: time is the block's.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.crypto import to_checksum_address
from core.encoding import Value, decode, encode
from core.schema import MAX_U64, fields, flag, text, uint
from ledger.receipt import MAX_LOG_TEXT
from ledger.state import Store

TASK = b"T"  # + agent + task -> [interval, next due, gas price, last: height, ok, gas, error]
TASK_DUE = b"Y"  # + next due (8 bytes) + agent + task name -> b"" (the order runs are taken in)
TASK_GAS = 1_000_000  # ledger gas (AVM milligas) one run may use
BLOCK_TASK_GAS = 100_000_000  # scheduled gas one block spends; the rest waits, in order
MAX_TASK_RUNS = 1_000  # due tasks one block takes up, run or dropped; the rest waits, in order
MAX_INTERVAL = 100 * 365 * 24 * 3600


def when(seconds: int) -> bytes:
    return min(seconds, MAX_U64).to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class Task:
    """A registered task and how its last run went."""

    agent: bytes
    name: str
    interval: int
    next_due: int
    gas_price: int
    last_height: int = 0  # 0: it has not run yet
    last_ok: bool = False
    last_gas: int = 0
    last_error: str = ""

    @property
    def key(self) -> bytes:
        return TASK + self.agent + self.name.encode()

    @property
    def due_key(self) -> bytes:
        return TASK_DUE + when(self.next_due) + self.agent + self.name.encode()

    def to_value(self) -> list[Value]:
        last: list[Value] = [self.last_height, self.last_ok, self.last_gas, self.last_error]
        return [self.interval, self.next_due, self.gas_price, *last]

    @classmethod
    def from_value(cls, agent: bytes, name: str, value: Value) -> Task:
        interval, due, price, height, ok, gas, error = fields(value, 7, "damaged task record")
        damaged = "damaged task record"
        return cls(
            agent,
            name,
            uint(interval, MAX_U64, damaged),
            uint(due, MAX_U64, damaged),
            uint(price, 2**128 - 1, damaged),
            uint(height, MAX_U64, damaged),
            flag(ok, damaged),
            uint(gas, MAX_U64, damaged),
            text(error, MAX_LOG_TEXT * 4, damaged),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "agent": to_checksum_address(self.agent),
            "task": self.name,
            "intervalSec": self.interval,
            "nextDue": self.next_due,
            "gasPrice": hex(self.gas_price),
            "lastRun": None
            if not self.last_height
            else {
                "height": self.last_height,
                "ok": self.last_ok,
                "gasUsed": hex(self.last_gas),
                "error": self.last_error or None,
            },
        }


def load_task(store: Store, agent: bytes, name: str) -> Task | None:
    raw = store.get(TASK + agent + name.encode())
    return None if raw is None else Task.from_value(agent, name, decode(raw))


def save(store: Store, task: Task) -> None:
    store.put(task.key, encode(task.to_value()))
    store.put(task.due_key, b"")


def forget(store: Store, task: Task) -> None:
    store.put(task.key, None)
    store.put(task.due_key, None)


def register(store: Store, agent: bytes, name: str, interval: int, now: int, price: int) -> None:
    """SCHEDULE_TASK on chain: (re)register `name` from `now`, or cancel it (interval 0)."""
    old = load_task(store, agent, name)
    if old is not None:
        forget(store, old)
    if interval:
        save(store, Task(agent, name, min(interval, MAX_INTERVAL), now + interval, price))
