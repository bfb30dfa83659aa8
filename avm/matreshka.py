"""Matreshka crossover (§5.4): a child built from two parents' regions, with the tests it inherits.

A crossover child inherits regions from two parents and must pass the parents' tests for the
regions it inherits before anything is deployed; `breed` builds the child and attaches those
tests, the CROSSOVER opcode runs them (`avm.interpreter.run_tests`) and deploys.
"""

from __future__ import annotations

from collections.abc import Sequence

from avm.assembler import assemble_fragment
from avm.code import CodeObject
from avm.errors import AssemblyError, CodeFormatError, NotDeployable
from avm.selfmod import region_body, replace_region
from avm.validation import check_deployable, validate


def breed(
    parent_a: CodeObject,
    parent_b: CodeObject,
    from_b: Sequence[str],
    mutation: Sequence[tuple[str, str]] = (),
    deterministic: bool = True,
) -> CodeObject | str:
    """A child of A with the regions `from_b` taken from B, then `mutation` (region, new body IR)
    pairs applied, or the reason there is none. The child carries A's tests for A's regions and
    B's tests for the regions it took from B; on a `deterministic` host it must be deployable."""
    child = parent_a
    try:
        for name in from_b:
            if parent_b.region(name) is None:
                return f"parent B has no region {name}"
            if parent_a.region(name) is None:
                return f"parent A has no region {name}"
            child = replace_region(child, name, region_body(parent_b, name))
        for name, text in mutation:
            child = replace_region(child, name, assemble_fragment(text, f"<mutation {name}>"))
    except (CodeFormatError, AssemblyError) as exc:
        return f"child does not assemble: {exc}"
    tests = [t for t in parent_a.tests if t.region is not None and t.region not in from_b]
    tests += [t for t in parent_b.tests if t.region in from_b]
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        return "the parents' tests have clashing names"
    try:
        child = CodeObject(
            child.registers,
            child.constants,
            child.instructions,
            child.labels,
            child.regions,
            tuple(tests),
            child.avm_version,
        )
        validate(child)
    except CodeFormatError as exc:
        return f"a parent's test does not fit the child: {exc}"
    if deterministic:
        try:
            check_deployable(child)
        except NotDeployable as exc:
            return f"child is not deployable: {exc}"
    return child
