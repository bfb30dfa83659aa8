"""Region tests and Matreshka crossover.

A code object's `.test` blocks run in a sandbox: a fresh in-memory world holding only the test's
starting storage, never the caller's state. A crossover child inherits regions from two parents
and must pass the parents' tests for the regions it inherits before anything is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass

from avm.code import CodeObject, TestCase
from avm.errors import AssemblyError, CodeFormatError, NotDeployable
from avm.gas import CURRENT, GasSchedule
from avm.host import MemoryHost, World, check_deployable
from avm.instructions.storage import kv_key
from avm.values import encode_value, from_wire, values_equal
from core.encoding import decode

TEST_AGENT = b"\x7a" * 20
TEST_CALLER = b"\x7b" * 20
MAX_SANDBOX_DEPTH = 4  # a test may itself run tests (a patch that crosses over); bound it


@dataclass(frozen=True, slots=True)
class TestOutcome:
    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    gas_used: int
    reason: str | None = None


def run_test(
    code: CodeObject,
    test: TestCase,
    schedule: GasSchedule = CURRENT,
    depth: int = 0,
    budget: int | None = None,
) -> TestOutcome:
    """Run one test against `code` in a fresh sandbox, with at most `budget` milligas."""
    from avm.interpreter import execute

    if depth >= MAX_SANDBOX_DEPTH:
        return TestOutcome(test.name, False, 0, "sandboxes nested too deeply")
    gas = test.gas if budget is None else min(test.gas, budget)
    host = MemoryHost(World(), TEST_AGENT, TEST_CALLER)
    host.install(TEST_AGENT, code)
    for key, value in test.storage:
        host.storage_put(kv_key(key), encode_value(value))
    host.world.journal.clear()
    result = execute(code, host, test.entry, test.args, gas, schedule=schedule, depth=depth + 1)
    if test.expect_revert:
        if result.ok:
            return TestOutcome(test.name, False, result.gas_used, "expected a trap, got success")
        return TestOutcome(test.name, True, result.gas_used)
    if not result.ok:
        return TestOutcome(test.name, False, result.gas_used, f"trapped: {result.trap}")
    if test.expect and not values_equal(result.value, test.expect[0]):
        return TestOutcome(
            test.name,
            False,
            result.gas_used,
            f"returned {result.value!r}, expected {test.expect[0]!r}",
        )
    for key, want in test.expect_storage:
        raw = host.storage_get(kv_key(key))
        got = None if raw is None else from_wire(decode(raw))
        if not values_equal(got, want):
            return TestOutcome(
                test.name, False, result.gas_used, f"storage {key!r} is {got!r}, expected {want!r}"
            )
    return TestOutcome(test.name, True, result.gas_used)


def run_tests(
    code: CodeObject,
    tests: tuple[TestCase, ...] | list[TestCase],
    schedule: GasSchedule = CURRENT,
    depth: int = 0,
    budget: int | None = None,
) -> list[TestOutcome]:
    """Run tests in order; with a `budget`, all of them together use at most that much gas
    (a caller pays for its sandbox, so it cannot make the node compute more than it paid for)."""
    outcomes = []
    for test in tests:
        outcome = run_test(code, test, schedule, depth, budget)
        outcomes.append(outcome)
        if budget is not None:
            budget -= outcome.gas_used
    return outcomes


@dataclass(frozen=True, slots=True)
class Crossover:
    """A crossover's outcome: the child code (None when refused), the reason, the test gas."""

    child: CodeObject | None
    reason: str | None
    test_gas: int


def cross(
    parent_a: CodeObject,
    parent_b: CodeObject,
    from_b: list[str],
    mutation: list[tuple[str, str]] | None = None,
    deterministic: bool = True,
    schedule: GasSchedule = CURRENT,
    depth: int = 0,
    budget: int | None = None,
) -> Crossover:
    """Build a child from A with the regions `from_b` taken from B, then apply `mutation`
    (region, new body IR) pairs; the child keeps A's tests for A's regions and B's tests for the
    regions it took from B, and must pass all of them and the deploy checks."""
    from avm.assembler import assemble_fragment
    from avm.selfmod import region_body, replace_region

    child = parent_a
    try:
        for name in from_b:
            if parent_b.region(name) is None:
                return Crossover(None, f"parent B has no region {name}", 0)
            if parent_a.region(name) is None:
                return Crossover(None, f"parent A has no region {name}", 0)
            child = replace_region(child, name, region_body(parent_b, name))
        for name, text in mutation or []:
            child = replace_region(child, name, assemble_fragment(text, f"<mutation {name}>"))
    except (CodeFormatError, AssemblyError) as exc:
        return Crossover(None, f"child does not assemble: {exc}", 0)
    tests = [t for t in parent_a.tests if t.region is not None and t.region not in from_b]
    tests += [t for t in parent_b.tests if t.region in from_b]
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        return Crossover(None, "the parents' tests have clashing names", 0)
    try:
        child = CodeObject(
            child.registers,
            child.constants,
            child.instructions,
            child.labels,
            child.regions,
            tuple(tests),
        )
        from avm.code import validate

        validate(child)
    except CodeFormatError as exc:
        return Crossover(None, f"a parent's test does not fit the child: {exc}", 0)
    if deterministic:
        try:
            check_deployable(child)
        except NotDeployable as exc:
            return Crossover(None, f"child is not deployable: {exc}", 0)
    gas = 0
    for outcome in run_tests(child, tests, schedule, depth, budget):
        gas += outcome.gas_used
        if not outcome.passed:
            return Crossover(None, f"test {outcome.name} failed: {outcome.reason}", gas)
    return Crossover(child, None, gas)
