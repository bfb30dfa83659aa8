"""An agent version's score: its tests' milligas by default, or an entry's integer result."""

from __future__ import annotations

import pytest

from avm.assembler import assemble
from avm.interpreter import run_tests
from avm.metric import GAS_METRIC, measure

PROGRAM = """\
:main
  SET n = ARGS[0]
  MUL n, 3 -> ACC
  RETURN ACC
:profit
  RETURN 42
:text
  RETURN "forty-two"
:broken
  DIV 1, 0 -> ACC
  RETURN ACC
.test triples
  entry main
  args 7
  expect 21
.endtest
"""
CODE = assemble(PROGRAM, "metric.air").code


def test_the_default_metric_is_the_tests_milligas_and_lower_is_better() -> None:
    score = measure(CODE)
    assert score.metric == GAS_METRIC and not score.higher_is_better
    assert score.value == sum(o.gas_used for o in run_tests(CODE, CODE.tests)) > 0
    assert score.ok and measure(CODE, "gas").value == score.value


def test_an_entry_metric_returns_an_integer_and_higher_is_better() -> None:
    score = measure(CODE, "profit")
    assert (score.value, score.higher_is_better, score.ok) == (42, True, True)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("text", "text returned 'forty-two', not an integer"),
        ("broken", "broken trapped: "),
        ("nowhere", "the code has no entry nowhere"),
    ],
)
def test_a_metric_without_an_integer_says_why(entry: str, problem: str) -> None:
    score = measure(CODE, entry)
    assert score.value is None and not score.ok
    assert score.problem.startswith(problem)


def test_beats_follows_the_direction() -> None:
    gas, profit = measure(CODE), measure(CODE, "profit")
    cheaper = type(gas)(gas.metric, gas.value - 1, False, gas.tests)  # type: ignore[operator]
    richer = type(profit)(profit.metric, 43, True, profit.tests)
    assert cheaper.beats(gas) and not gas.beats(cheaper) and not gas.beats(gas)
    assert richer.beats(profit) and not profit.beats(richer)
    assert profit.beats(measure(CODE, "text")) and not measure(CODE, "text").beats(profit)


def test_a_failing_test_makes_the_score_not_ok() -> None:
    wrong = assemble(PROGRAM.replace("expect 21", "expect 22"), "wrong.air").code
    score = measure(wrong)
    assert not score.ok and score.failures == ["triples: returned 21, expected 22"]
