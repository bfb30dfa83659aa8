"""A proposal's code: the agent code a `code` or `revert` proposal makes, and its sandbox run.

`build` patches a `council` region of the agent's code (new IR, or a snapshot's body) and adds
the proposal's tests; `run_sandbox` runs every test on the patched code and, where the entry
exists, on the old code. Agents are reached only through `AgentCode`, which the ledger
implements over its agent tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from avm.assembler import assemble, assemble_fragment
from avm.code import CodeObject, Policy, TestCase
from avm.disassembler import disassemble
from avm.errors import AssemblyError, CodeFormatError, NotDeployable
from avm.gas import GasSchedule
from avm.host import CodeChange
from avm.interpreter import run_tests
from avm.selfmod import region_body, replace_region
from avm.validation import check_deployable, validate
from core.crypto import to_checksum_address
from core.errors import AitherError
from ledger.governance.errors import (
    BadIR,
    InvalidSpec,
    LockedRegion,
    NotCouncilRegion,
    UnknownAgent,
    UnknownRegion,
)
from ledger.governance.payloads import CodeChangeSpec, RevertSpec
from ledger.governance.proposals import SandboxResult


class AgentCode(Protocol):
    """The ledger's agents, as governance sees them."""

    def code_of(self, agent: bytes) -> CodeObject | None:
        """The code `agent` runs now, or None when there is no agent at that address."""
        ...

    def code_by_id(self, code_id: bytes) -> CodeObject | None:
        """Any code version the chain has held (snapshots are code ids)."""
        ...

    def set_code(self, agent: bytes, code: CodeObject, change: CodeChange) -> None:
        """Make `agent` run `code` from its next call; store the code; append `change` to its
        lineage (kind PROPOSAL, parent = the code it ran)."""
        ...


def council_region_code(agents: AgentCode, agent: bytes, region: str) -> CodeObject:
    """The code `agent` runs now, when `region` of it is one the council may rewrite. Raises
    UnknownAgent, UnknownRegion, LockedRegion or NotCouncilRegion."""
    code = agents.code_of(agent)
    if code is None:
        raise UnknownAgent(f"no agent at {to_checksum_address(agent)}")
    target = code.region(region)
    if target is None:
        names = ", ".join(r.name for r in code.regions) or "none"
        raise UnknownRegion(f"the agent has no region {region} (its regions: {names})")
    if target.policy is Policy.LOCKED:
        raise LockedRegion(f"region {region} is locked: no proposal may rewrite it")
    if target.policy is Policy.SELF:
        raise NotCouncilRegion(f"region {region} is a `self` region: the agent rewrites it")
    return code


def council_governed_agent(agents: AgentCode, agent: bytes) -> None:
    """Raise UnknownAgent or NotCouncilRegion unless `agent` has a `council` region (its policy
    is then the council's to set)."""
    code = agents.code_of(agent)
    who = to_checksum_address(agent)
    if code is None:
        raise UnknownAgent(f"no agent at {who}")
    if not code.council_governed:
        raise NotCouncilRegion(
            f"{who} has no council region: its deployer sets its policy (aither wallet role policy)"
        )


def build(
    agents: AgentCode, base: CodeObject, spec: CodeChangeSpec | RevertSpec, enacted: int
) -> CodeObject:
    """The code that `spec` makes of `base`; a patch that starts with `.avm N` moves the agent
    to version N, which must be `enacted` or older. Raises BadIR or InvalidSpec."""
    if isinstance(spec, RevertSpec):
        snapshot = agents.code_by_id(spec.snapshot)
        if snapshot is None or snapshot.region(spec.region) is None:
            raise InvalidSpec(f"no snapshot 0x{spec.snapshot.hex()} with region {spec.region}")
        # The region's tests come back with its body; a reverted change's tests go with it.
        tests = [t for t in base.tests if t.region != spec.region]
        tests += [t for t in snapshot.tests if t.region == spec.region]
        return _patched(base, spec.region, region_body(snapshot, spec.region), tests)
    try:
        body = assemble_fragment(spec.new_ir, f"<new IR of {spec.region}>")
    except AssemblyError as exc:
        raise BadIR(f"the new IR does not assemble: {exc}", exc.pos.line, exc.pos.col) from None
    if body.avm_version > enacted:  # before anything reads it: this node may not know it
        raise InvalidSpec(
            f"the patch moves the code to AVM version {body.avm_version}; this chain runs "
            f"version {enacted}"
        )
    bare = _patched(base, spec.region, body, [])
    added = _assemble_tests(spec.tests_ir, bare, spec.region)
    have = {t.name for t in base.tests}
    clash = next((t.name for t in added if t.name in have), None)
    if clash is not None:
        raise BadIR(f"test {clash} already exists in the agent's code")
    return _patched(base, spec.region, body, [*base.tests, *added])


def _patched(
    code: CodeObject, region: str, body: CodeObject, tests: Sequence[TestCase]
) -> CodeObject:
    try:
        new = replace_region(code, region, body)
        new = replace(new, tests=tuple(tests))
        validate(new)
    except CodeFormatError as exc:
        raise BadIR(f"the patched code is not valid: {exc}") from None
    try:
        check_deployable(new)
    except NotDeployable as exc:
        raise BadIR(f"the patched code is not deterministic: {exc}") from None
    return new


def _assemble_tests(text: str, code: CodeObject, region: str) -> list[TestCase]:
    """`.test` blocks against `code`'s labels. A test that names no region belongs to the one
    the proposal changes (so a revert of the change removes it). Raises BadIR."""
    if not text.strip():
        return []
    # The tests come first so that an error's line is the line in the submitted text; the
    # code's own IR follows to resolve entry labels and region names.
    own_lines = text.count("\n") + 1
    try:
        assembly = assemble(text + "\n" + disassemble(code), "<tests>")
    except AssemblyError as exc:
        if exc.pos.line <= own_lines:
            raise BadIR(f"the tests do not assemble: {exc}", exc.pos.line, exc.pos.col) from None
        raise BadIR(f"the tests do not fit the patched code: {exc.reason}") from None
    if len(assembly.code.instructions) != len(code.instructions):
        raise BadIR("the tests may hold only .test blocks (and #define), not instructions")
    return [t if t.region is not None else replace(t, region=region) for t in assembly.code.tests]


def run_sandbox(
    base: CodeObject, new: CodeObject, gas: int, schedule: GasSchedule
) -> tuple[SandboxResult, ...]:
    """Every test of the patched code, on it and (where its entry exists) on the old code,
    each side within `gas` milligas in all, priced by `schedule` (the AVM's own test runner, in
    fresh sandboxes)."""
    try:
        after = run_tests(new, new.tests, schedule, budget=gas)
    except AitherError as exc:
        # An AVM defect, raised alike on every node: the change is not shown to work.
        return (SandboxResult("<sandbox>", False, None, 0, f"the AVM failed: {exc}"),)
    runnable = [t for t in new.tests if base.label_pc(t.entry) is not None]
    try:
        before = {o.name: o.gas_used for o in run_tests(base, runnable, schedule, budget=gas)}
    except AitherError:
        before = {}  # the old code's figures are for comparison only
    return tuple(
        SandboxResult(o.name, o.passed, before.get(o.name), o.gas_used, o.reason or "")
        for o in after
    )
