"""Running the scheduled tasks due at a block's end (registered by SCHEDULE_TASK: see
ledger/schedule.py for the rules), by every node in the same order."""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.crypto import ADDRESS_SIZE
from core.encoding import Value
from core.errors import AitherError
from ledger import agents
from ledger.receipt import MAX_LOG_TEXT, Log
from ledger.schedule import (
    BLOCK_TASK_GAS,
    MAX_TASK_RUNS,
    TASK_DUE,
    TASK_GAS,
    Task,
    forget,
    load_task,
    save,
    when,
)
from ledger.state import State, move, read_account
from ledger.tx import Call


@dataclass(frozen=True, slots=True)
class TaskRun:
    """What one due task did at a block's end (for the node's log)."""

    task: Task
    ok: bool
    gas_used: int
    error: str  # why it failed or was dropped
    dropped: bool
    logs: tuple[Log, ...] = ()  # the events of a run that ended well

    def to_value(self) -> list[Value]:
        logs: list[Value] = [entry.to_value() for entry in self.logs]
        agent, name = self.task.agent, self.task.name
        return [agent, name, self.ok, self.gas_used, self.error, self.dropped, logs]


def run_due(state: State, height: int, timestamp: int, proposer: bytes) -> list[TaskRun]:
    """Run the tasks due by `timestamp`, in order, within the block's scheduled gas."""
    runs: list[TaskRun] = []
    budget = BLOCK_TASK_GAS
    # What is due is fixed when the block ends: a run's next due time is always later.
    due = state.keys_in(TASK_DUE, TASK_DUE + when(timestamp + 1), MAX_TASK_RUNS)
    for key in due:
        if budget < TASK_GAS:
            break  # the rest waits for the next block, in order
        rest = key[len(TASK_DUE) :]
        agent, name = rest[8 : 8 + ADDRESS_SIZE], rest[8 + ADDRESS_SIZE :].decode()
        task = load_task(state, agent, name)
        if task is None or task.due_key != key:
            state.put(key, None)  # a stale index entry: never expected, never fatal
            continue
        run = _run(state, task, height, timestamp, proposer)
        budget -= run.gas_used
        runs.append(run)
    return runs


def _run(state: State, task: Task, height: int, timestamp: int, proposer: bytes) -> TaskRun:
    if read_account(state, task.agent).balance < TASK_GAS * task.gas_price:
        forget(state, task)
        reason = f"cannot prepay {TASK_GAS:,} gas at {task.gas_price:,} a gas"
        return TaskRun(task, False, 0, reason, dropped=True)
    state.begin()
    try:
        outcome = agents.call(
            state, task.agent, Call(task.agent, task.name, (), 0), TASK_GAS, height, timestamp,
            gas_price=task.gas_price,
        )  # fmt: skip
        move(state, task.agent, proposer, outcome.gas_used * task.gas_price)
    except AitherError as exc:  # the agent is gone, or spent what paid for the run
        state.rollback()
        forget(state, task)
        return TaskRun(task, False, 0, str(exc), dropped=True)
    state.commit()
    current = load_task(state, task.agent, task.name)
    if current is not None and current == task:  # not re-registered or cancelled by its run
        periods = (timestamp - task.next_due) // task.interval + 1
        forget(state, task)
        save(
            state,
            replace(
                task,
                next_due=task.next_due + periods * task.interval,
                last_height=height,
                last_ok=not outcome.error,
                last_gas=outcome.gas_used,
                last_error=outcome.error[:MAX_LOG_TEXT],
            ),
        )
    ok = not outcome.error
    return TaskRun(task, ok, outcome.gas_used, outcome.error, dropped=False, logs=outcome.logs)
