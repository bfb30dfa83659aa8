"""SCHEDULE_TASK (§11.1: run a task every INTERVAL_SEC seconds) for agents run on this machine.

A task is an entry label of the agent's code. SCHEDULE_TASK("report", 3600) registers it, due
first at the run's block time plus the interval, and returns true; an interval of 0 cancels it;
a task that is not a label, or an interval that is not a non-negative int, is a failed call. The
registration depends only on the run (its operands and block time), so a replay makes the same
one; it is in the trace and, when the run ends well, in the agent's schedule file
(`STATE_DIR/<agent>/schedule.json`). `aither agent tick` runs every due task once, each as its own
run with its own trace, then moves it to its next due time after the wall clock (a task that
missed several periods runs once, not once per period).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from agent.errors import RuntimeConfigError


@dataclass(frozen=True, slots=True)
class Schedule:
    task: str  # an entry label of the agent's code
    interval_sec: int  # 0: cancel the task
    next_due: int  # unix time, seconds

    def to_json(self) -> dict[str, object]:
        return {"task": self.task, "intervalSec": self.interval_sec, "nextDue": self.next_due}

    @staticmethod
    def from_json(doc: object) -> Schedule:
        if not isinstance(doc, dict):
            raise ValueError("a schedule is an object")
        task, interval, due = doc["task"], doc["intervalSec"], doc["nextDue"]
        if not isinstance(task, str) or not isinstance(interval, int) or not isinstance(due, int):
            raise ValueError("a schedule is {task: str, intervalSec: int, nextDue: int}")
        return Schedule(task, interval, due)


def merged(current: list[Schedule], registered: list[Schedule]) -> list[Schedule]:
    """`current` after a run's registrations, in order (a later one replaces an earlier one
    of the same task; interval 0 removes it); sorted by task."""
    by_task = {s.task: s for s in current}
    for s in registered:
        if s.interval_sec == 0:
            by_task.pop(s.task, None)
        else:
            by_task[s.task] = s
    return [by_task[t] for t in sorted(by_task)]


def due(schedules: list[Schedule], now: int) -> list[Schedule]:
    """The tasks due at `now`, earliest first (ties by name)."""
    return sorted((s for s in schedules if s.next_due <= now), key=lambda s: (s.next_due, s.task))


def advanced(schedule: Schedule, now: int) -> Schedule:
    """The schedule after a run at `now`: its first due time after `now`, on its period."""
    missed = (now - schedule.next_due) // schedule.interval_sec + 1
    return Schedule(
        schedule.task, schedule.interval_sec, schedule.next_due + missed * schedule.interval_sec
    )


def read_schedules(text: str, where: str) -> list[Schedule]:
    """Parse a schedule file. Raises RuntimeConfigError naming it."""
    try:
        return [Schedule.from_json(doc) for doc in json.loads(text)]
    except (ValueError, TypeError, KeyError) as exc:
        raise RuntimeConfigError(f"{where}: damaged schedule file: {exc}") from None


def write_schedules(schedules: list[Schedule]) -> str:
    return json.dumps([s.to_json() for s in schedules], indent=1) + "\n"
