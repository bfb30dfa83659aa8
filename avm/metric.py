"""An agent version's score, for `aither evolve` and `aither gov leaderboard`.

A score is measured in sandboxes, as the chain's sandbox runs a proposal's tests: every `.test`
block of the code, and the metric. The metric is either the gas all the tests use (the default:
lower is better) or an entry label of the agent that returns an integer score when called with no
arguments (higher is better: a strategy's simulated profit, a hit rate). `--metric gas` names the
default.
"""

from __future__ import annotations

from dataclasses import dataclass

from avm.code import CodeObject, TestOutcome
from avm.gas import CURRENT, DEFAULT_GAS, GasSchedule
from avm.interpreter import TEST_AGENT, TEST_CALLER, execute, run_tests
from avm.memory_host import MemoryHost, World

DEFAULT_BUDGET = 50 * DEFAULT_GAS  # milligas for all of a version's tests and its metric
GAS_METRIC = "milligas"  # the default metric: the milligas all the tests use, lower is better


@dataclass(frozen=True, slots=True)
class Score:
    """One version's measurement. `value` is None when the metric could not be read."""

    metric: str
    value: int | None
    higher_is_better: bool
    tests: tuple[TestOutcome, ...]
    problem: str = ""  # why the metric has no value

    @property
    def failures(self) -> list[str]:
        return [f"{o.name}: {o.reason}" for o in self.tests if not o.passed]

    @property
    def ok(self) -> bool:
        """Every test passes and the metric has a value."""
        return self.value is not None and not self.failures

    def beats(self, other: Score) -> bool:
        """Whether this score is strictly better than `other` (a score with no value beats none,
        and is beaten by any)."""
        if self.value is None:
            return False
        if other.value is None:
            return True
        if self.higher_is_better:
            return self.value > other.value
        return self.value < other.value

    def to_json(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "value": self.value,
            "higherIsBetter": self.higher_is_better,
            "testsPassed": sum(o.passed for o in self.tests),
            "tests": len(self.tests),
            "failures": self.failures,
            "problem": self.problem,
        }


def measure(
    code: CodeObject,
    metric: str | None = None,
    schedule: GasSchedule = CURRENT,
    budget: int = DEFAULT_BUDGET,
) -> Score:
    """Run every test of `code` and its metric (None: the tests' gas), each in a fresh sandbox,
    all within `budget` milligas (give the chain's `sandbox_gas`: a `.test` may declare any gas,
    and its loop is then cut where the chain's sandbox would cut it)."""
    outcomes = tuple(run_tests(code, code.tests, schedule, budget=budget))
    left = max(0, budget - sum(o.gas_used for o in outcomes))
    if metric is None or metric in (GAS_METRIC, "gas"):
        return Score(GAS_METRIC, sum(o.gas_used for o in outcomes), False, outcomes)
    if code.label_pc(metric) is None:
        return Score(metric, None, True, outcomes, f"the code has no entry {metric}")
    host = MemoryHost(World(), TEST_AGENT, TEST_CALLER)
    host.install(TEST_AGENT, code)
    result = execute(code, host, metric, (), min(DEFAULT_GAS, left), schedule=schedule)
    if not result.ok:
        return Score(metric, None, True, outcomes, f"{metric} trapped: {result.trap}")
    if type(result.value) is not int:
        return Score(
            metric, None, True, outcomes, f"{metric} returned {result.value!r}, not an integer"
        )
    return Score(metric, result.value, True, outcomes)


def improvement(new: Score, old: Score) -> str:
    """`old -> new` for people, with the change in percent."""
    if new.value is None or old.value is None:
        return f"{old.value} -> {new.value}"
    pct = f" ({100 * (new.value - old.value) / abs(old.value):+.1f}%)" if old.value else ""
    return f"{old.value} -> {new.value}{pct}"


__all__ = ["GAS_METRIC", "Score", "improvement", "measure"]
