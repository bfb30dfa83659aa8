"""Agents (§11.2 FORK_AGENT, §5.4 Matreshka CROSSOVER).

A code reference is "self" (or null), an agent address (20 bytes) or a code id (32 bytes).
"""

from __future__ import annotations

from avm.code import CodeObject
from avm.errors import BadOperand, NotDeployable, PermissionDenied
from avm.host import CodeChange, LineageKind
from avm.instructions.self_modify import current_code
from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import AvmMap, Value, type_name
from core.crypto import ADDRESS_SIZE, HASH_SIZE

family = Family("agents")


def resolve_code(vm: Machine, ref: Value) -> tuple[CodeObject, bytes | None]:
    """The code a reference names, and the agent address when it names an agent."""
    if ref is None or ref == "self":
        return current_code(vm), vm.host.self_address()
    if type(ref) is bytes and len(ref) == ADDRESS_SIZE:
        code = vm.host.code_of(ref)
        if code is None:
            raise BadOperand(f"agent {ref.hex()} has no code")
        return code, ref
    if type(ref) is bytes and len(ref) == HASH_SIZE:
        code = vm.host.code_by_id(ref)
        if code is None:
            raise BadOperand(f"no code with id {ref.hex()}")
        return code, None
    raise BadOperand(f'a code reference is "self", an address or a code id, not {type_name(ref)}')


@family.op("FORK_AGENT", P("code_ref"), P("channel", None), gas="fork_agent_base")
def fork_agent(vm: Machine, code_ref: Value, channel: Value) -> bytes:
    """Deploy a child running the referenced code; returns the child's address."""
    code, parent = resolve_code(vm, code_ref)
    if channel is not None and type(channel) is not str:
        raise BadOperand(f"a swarm channel is a str, not {type_name(channel)}")
    vm.charge(vm.sched.fork_agent_per_byte * len(code.to_bytes()))
    if vm.host.deterministic:
        try:
            vm.tools.check_deployable(code)
        except NotDeployable as exc:
            raise PermissionDenied(f"FORK_AGENT: {exc}") from None
    change = CodeChange(
        LineageKind.FORK,
        b"",
        code.code_id,
        (code.code_id,),
        parent_agents=(parent,) if parent else (),
    )
    return vm.host.deploy_agent(code, change, channel)


def _mutations(value: Value) -> list[tuple[str, str]]:
    pairs: list[tuple[Value, Value]]
    if value is None:
        return []
    if type(value) is AvmMap:
        pairs = [(k, v) for k, v in value.entries]
    elif type(value) is tuple and len(value) == 2 and type(value[0]) is str:
        pairs = [(value[0], value[1])]
    elif type(value) is tuple:
        pairs = [(p[0], p[1]) for p in value if type(p) is tuple and len(p) == 2]
        if len(pairs) != len(value):
            raise BadOperand("a mutation is [region, ir_text] or a list or map of them")
    else:
        raise BadOperand(f"a mutation is null, [region, text] or a map, not {type_name(value)}")
    mutations = [(r, text) for r, text in pairs if type(r) is str and type(text) is str]
    if len(mutations) != len(pairs):
        raise BadOperand("a mutation pairs a region name with IR text")
    return mutations


def _region_names(regions: Value) -> list[str]:
    items = (regions,) if type(regions) is str else regions
    if type(items) is not tuple:
        raise BadOperand("CROSSOVER regions is a region name or a list of them")
    names = [n for n in items if type(n) is str]
    if len(names) != len(items):
        raise BadOperand("CROSSOVER regions is a region name or a list of them")
    return names


def _failed_test(vm: Machine, child: CodeObject) -> str | None:
    """Run the tests a crossover child inherited, charging their gas up to the first failure
    (they all run, within the call's gas); that failure, or None when all passed."""
    gas = 0
    failure = None
    for outcome in vm.tools.run_tests(child, child.tests, vm.sched, vm.depth, vm.gas):
        gas += outcome.gas_used
        if not outcome.passed:
            failure = f"test {outcome.name} failed: {outcome.reason}"
            break
    vm.charge(gas)
    return failure


def _no_child(reason: str) -> AvmMap:
    return AvmMap.of([("child", None), ("code_id", None), ("reason", reason)])


@family.op(
    "CROSSOVER",
    P("parent_a"),
    P("parent_b"),
    P("regions"),
    P("mutation", None),
    gas="crossover_base",
)
def crossover(
    vm: Machine, parent_a: Value, parent_b: Value, regions: Value, mutation: Value
) -> Value:
    """Child of A with `regions` from B (plus a mutation), deployed only if it passes the
    parents' tests for what it inherits. Returns {child, code_id, reason}."""
    code_a, agent_a = resolve_code(vm, parent_a)
    code_b, agent_b = resolve_code(vm, parent_b)
    names = _region_names(regions)
    child = vm.tools.breed(code_a, code_b, names, _mutations(mutation), vm.host.deterministic)
    if isinstance(child, str):
        return _no_child(child)
    failure = _failed_test(vm, child)
    if failure is not None:
        return _no_child(failure)
    vm.charge(vm.sched.crossover_per_byte * len(child.to_bytes()))
    change = CodeChange(
        LineageKind.CROSSOVER,
        b"",
        child.code_id,
        (code_a.code_id, code_b.code_id),
        parent_agents=tuple(a for a in (agent_a, agent_b) if a),
    )
    address = vm.host.deploy_agent(child, change, None)
    return AvmMap.of([("child", address), ("code_id", child.code_id), ("reason", None)])
