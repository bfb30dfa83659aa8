"""Agents (§11.2 FORK_AGENT, §5.4 Matreshka CROSSOVER, and CALL_AGENT / STATIC_CALL_AGENT:
one agent calling another on chain).

A code reference is "self" (or null), an agent address (20 bytes) or a code id (32 bytes).
"""

from __future__ import annotations

from avm.code import CodeObject
from avm.errors import BadOperand, CallRefused, NotDeployable, PermissionDenied
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


@family.op(
    "CALL_AGENT", P("agent"), P("entry"), P("args", None), P("value", 0), gas="call_agent_base"
)
def call_agent(vm: Machine, agent: Value, entry: Value, args: Value, value: Value) -> Value:
    """Call another agent's entry label with arguments (a list, or null) and a native value;
    its return value. See `_call_agent`."""
    return _call_agent(vm, "CALL_AGENT", agent, entry, args, value, readonly=False)


@family.op("STATIC_CALL_AGENT", P("agent"), P("entry"), P("args", None), gas="call_agent_base")
def static_call_agent(vm: Machine, agent: Value, entry: Value, args: Value) -> Value:
    """CALL_AGENT without value, whose callee (and whatever it calls) may not write: a write,
    a payment or an event traps it."""
    return _call_agent(vm, "STATIC_CALL_AGENT", agent, entry, args, 0, readonly=True)


def _call_agent(
    vm: Machine, name: str, agent: Value, entry: Value, args: Value, value: Value, readonly: bool
) -> Value:
    """The callee runs with 63/64 of the gas left (the rest stays with the caller, as EIP-150
    keeps it), sees the calling agent as CALLER, and its gas is charged to the caller. A callee
    that traps has its frame rolled back (its writes, events and the value sent) and the call
    gives null and sets the flag JUMP_IF_PLUGIN_FAILED tests, as does a call that cannot start
    (no agent, more than the depth bound, an agent already on the call stack: no re-entry)."""
    if type(agent) is not bytes or len(agent) != ADDRESS_SIZE:
        raise BadOperand(f"{name} calls an agent address (20 bytes), not {type_name(agent)}")
    if type(entry) is not str:
        raise BadOperand(f"{name}'s entry is a label name (str), not {type_name(entry)}")
    if args is not None and type(args) is not tuple:
        raise BadOperand(f"{name}'s arguments are a list or null, not {type_name(args)}")
    if type(value) is not int or value < 0:
        raise BadOperand(f"{name}'s value is a non-negative int, not {type_name(value)}")
    host = vm.host
    checkpoint = host.checkpoint()
    try:
        callee, code = host.enter_agent(agent, value, readonly)
    except CallRefused as exc:
        host.rollback(checkpoint)
        vm.fail_external(name, str(exc))
        return None
    forward = vm.gas - vm.gas // 64
    frame = vm.tools.run_call(
        code, callee, entry, args or (), forward, vm.tracing, vm.sched, vm.trace_room()
    )
    if frame.trace is not None:
        vm.count_traced(len(frame.trace))
        vm.note("frame", tuple((e.pc, e.opcode, e.gas) for e in frame.trace))
    if frame.failure is not None:
        host.rollback(checkpoint)
        vm.charge(frame.gas_used)  # within what was forwarded: never more than is left
        vm.fail_external(name, frame.failure)
        return None
    host.commit(checkpoint)
    vm.charge(frame.gas_used)
    vm.external_failed = False
    return frame.value


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
