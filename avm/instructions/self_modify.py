"""Self-learning (§11.7): observer mode, introspection, reading and rewriting own regions.

A rewrite obeys the region's policy: `locked` traps with PermissionDenied; `self` replaces the
region (only in observer mode), keeps the previous code as a snapshot (its code id) and records
the lineage; `council` files a code-change proposal with the host and returns its id. A rewrite
takes effect from the agent's next call: the running call keeps the code it started with.
"""

from __future__ import annotations

from collections.abc import Callable

from avm.code import CodeObject, Policy
from avm.disassembler import disassemble_region
from avm.errors import AssemblyError, BadOperand, CodeFormatError, NotDeployable, PermissionDenied
from avm.host import CodeChange, CodeProposal, LineageKind
from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import AvmMap, Value, encode_value, size_of, type_name

family = Family("self_modify")
CHECKPOINT_PREFIX = b"p"


def current_code(vm: Machine) -> CodeObject:
    """The agent's code as stored now (it may differ from the running code after a rewrite)."""
    return vm.host.code_of(vm.host.self_address()) or vm.code


def _want_text(value: Value, what: str) -> str:
    if type(value) is not str:
        raise BadOperand(f"{what} is IR text (str), not {type_name(value)}")
    return value


def _assemble_patch(vm: Machine, text: str, region: str) -> CodeObject:
    try:
        return vm.tools.assemble_fragment(text, f"<patch {region}>")
    except AssemblyError as exc:
        raise BadOperand(f"patch does not assemble: {exc}") from None


def rewrite(vm: Machine, region: Value, body: CodeObject, kind: LineageKind) -> bytes:
    """Apply `body` to `region` under its policy; return the snapshot id or the proposal id."""
    name = _want_text(region, "a region name")
    current = current_code(vm)
    target = current.region(name)
    if target is None:
        raise BadOperand(f"no region {name}")
    if target.policy is Policy.LOCKED:
        raise PermissionDenied(f"region {name} is locked")
    if target.policy is Policy.SELF and not vm.observer:
        raise PermissionDenied(f"rewriting region {name} needs SELF_OBSERVER_MODE true")
    if body.avm_version != 1:  # it would change the semantics of every region, locked ones too
        raise PermissionDenied(
            "a patch's `.avm N` moves the whole agent to another AVM version: only a council "
            "`code` proposal may (aither wallet propose)"
        )
    try:
        new = vm.tools.replace_region(current, name, body)
    except CodeFormatError as exc:
        raise BadOperand(f"patch does not fit region {name}: {exc}") from None
    if vm.host.deterministic:
        try:
            vm.tools.check_deployable(new)
        except NotDeployable as exc:
            raise PermissionDenied(f"patched code is not deployable: {exc}") from None
    agent = vm.host.self_address()
    if target.policy is Policy.COUNCIL:
        proposal = vm.host.propose_code_change(CodeProposal(agent, name, current.code_id, new))
        vm.note("proposal", proposal)
        return proposal
    if vm.tracing:
        vm.note("before", disassemble_region(current, name))
        vm.note("after", disassemble_region(new, name))
    vm.host.set_code(new, CodeChange(kind, agent, new.code_id, (current.code_id,), name))
    return current.code_id


@family.op("SELF_OBSERVER_MODE", P("enable"), gas="self_observer_mode", returns=False)
def self_observer_mode(vm: Machine, enable: Value) -> None:
    vm.observer = bool(enable)


@family.op("SELF_INTROSPECT", P("param", "logs"), gas="self_introspect_base")
def self_introspect(vm: Machine, param: Value) -> Value:
    """Developer-approved internals: logs, gas, code_id, regions, lineage, observer."""
    code = current_code(vm)
    agent = vm.host.self_address()
    views: dict[str, Callable[[], Value]] = {
        "logs": lambda: tuple(vm.logs),
        "agent_logs": lambda: tuple(vm.logs),
        "chain_of_thought": lambda: tuple(vm.logs),
        "gas": lambda: vm.gas,
        "code_id": lambda: code.code_id,
        "regions": lambda: tuple((r.name, r.policy.value) for r in code.regions),
        "lineage": lambda: tuple(c.code_id for c in vm.host.lineage(agent)),
        "observer": lambda: vm.observer,
        "performance": lambda: AvmMap.of([("gas_left", vm.gas), ("log_count", len(vm.logs))]),
    }
    view = views.get(param) if type(param) is str else None
    if view is None:
        raise BadOperand(f"SELF_INTROSPECT param is one of {', '.join(sorted(views))}")
    data = view()
    vm.charge(vm.sched.self_introspect_per_byte * size_of(data))
    return data


@family.op("SELF_READ", P("region"), gas="self_introspect_base")
def self_read(vm: Machine, region: Value) -> Value:
    """The region's body as IR text (what SELF_MODIFY accepts back)."""
    name = _want_text(region, "a region name")
    code = current_code(vm)
    if code.region(name) is None:
        raise BadOperand(f"no region {name}")
    text = disassemble_region(code, name)
    vm.charge(vm.sched.self_introspect_per_byte * size_of(text))
    return text


@family.op("SELF_MODIFY", P("region"), P("patch"), gas="self_modify_base")
def self_modify(vm: Machine, region: Value, patch: Value) -> Value:
    """Replace a region with IR text; returns the snapshot id (or a proposal id on council)."""
    text = _want_text(patch, "a patch")
    vm.charge(vm.sched.self_modify_per_byte * size_of(text))
    return rewrite(vm, region, _assemble_patch(vm, text, str(region)), LineageKind.SELF_MODIFY)


@family.op(
    "SELF_MODIFY_SANDBOX", P("region"), P("patch"), P("max_tests", None), gas="self_modify_base"
)
def self_modify_sandbox(vm: Machine, region: Value, patch: Value, max_tests: Value) -> Value:
    """Run the region's tests against the patched code without applying it (§8.3 step 21).

    Returns {status: "PASS"|"FAIL", passed, failed, failures}; test gas is charged.
    """
    name = _want_text(region, "a region name")
    text = _want_text(patch, "a patch")
    vm.charge(vm.sched.self_modify_per_byte * size_of(text))
    current = current_code(vm)
    if current.region(name) is None:
        raise BadOperand(f"no region {name}")
    try:
        patched = vm.tools.replace_region(current, name, _assemble_patch(vm, text, name))
    except CodeFormatError as exc:
        return AvmMap.of([("status", "FAIL"), ("reason", str(exc))])
    tests = [t for t in current.tests if t.region == name]
    if type(max_tests) is int:
        tests = tests[: max(max_tests, 0)]
    outcomes = vm.tools.run_tests(patched, tests, vm.sched, vm.depth, vm.gas)
    vm.charge(sum(o.gas_used for o in outcomes))
    failures = tuple(f"{o.name}: {o.reason}" for o in outcomes if not o.passed)
    return AvmMap.of(
        [
            ("status", "FAIL" if failures else "PASS"),
            ("passed", len(outcomes) - len(failures)),
            ("failed", len(failures)),
            ("failures", failures),
        ]
    )


@family.op("REVERT_CODE", P("region"), P("snapshot"), gas="revert_code")
def revert_code(vm: Machine, region: Value, snapshot: Value) -> Value:
    """Restore a region from a snapshot (an earlier code id), under the same policy rules."""
    name = _want_text(region, "a region name")
    if type(snapshot) is not bytes:
        raise BadOperand(f"a snapshot id is bytes, not {type_name(snapshot)}")
    old = vm.host.code_by_id(snapshot)
    if old is None or old.region(name) is None:
        raise BadOperand(f"no snapshot {snapshot.hex()[:16]} with region {name}")
    return rewrite(vm, name, vm.tools.region_body(old, name), LineageKind.REVERT_CODE)


@family.op("CREATE_SYSTEM_CHECKPOINT", P("label", None), gas="checkpoint")
def create_system_checkpoint(vm: Machine, label: Value) -> Value:
    """Name the current code version; returns its code id (a snapshot for REVERT_CODE)."""
    code_id = current_code(vm).code_id
    vm.host.storage_put(CHECKPOINT_PREFIX + encode_value(label), code_id)
    vm.host.emit("checkpoint", encode_value((label, code_id)))
    return code_id
