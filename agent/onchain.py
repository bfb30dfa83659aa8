"""CHAIN_OP / WEB3_OP on the Aither chain itself: agents deployed on chain and their KV.

A local run's own KV lives in its agent state on this machine: the chain keeps storage only for
agents deployed on it, and only their own code, run by every node, writes it (DESIGN: the chain
host's KV). So a program reaches on-chain KV the way §11.10 describes CHAIN_OP, "a chain function
call, for instance invoking a smart contract", naming the chain "aither":

    CHAIN_OP "aither", "call", {"to": AGENT, "entry": "bump", "args": [2], "value": 0} -> R
    CHAIN_OP "aither", "read", {"to": AGENT, "entry": "get", "args": []} -> R
    CHAIN_OP "aither", "storage", {"agent": AGENT, "key": "count"} -> R

"read" is a dry run on the node's head state (nothing is sent); "call" is the same dry run, whose
value it returns, and a CALL transaction signed by the run's key, sent when the run ends well (its
receipt, with the value the agent really returned, is in the trace); "storage" reads one KV entry
as KV_FETCH would. A call that would trap, or an unknown agent, is a failed plugin call.
"""

from __future__ import annotations

from agent.effects import AgentCall
from agent.nodelink import NodeLink
from avm.host import PluginFailure
from avm.instructions.storage import kv_key
from avm.values import AvmMap, Value, check_key, from_wire, to_python
from core.crypto import ADDRESS_SIZE, to_checksum_address
from core.encoding import decode
from wallet.client import RpcClientError

CHAIN_NAME = "aither"
ACTIONS = ("call", "read", "storage")


def is_aither(chain: Value) -> bool:
    return type(chain) is str and chain.lower() == CHAIN_NAME


def _field(args: Value, *names: str, default: Value = None, required: bool = True) -> Value:
    if type(args) is AvmMap:
        for name in names:
            if args.has(name):
                return args.get(name)
    if required:
        raise PluginFailure(f"CHAIN_OP on {CHAIN_NAME} needs args.{names[0]}")
    return default


def _agent(args: Value) -> bytes:
    agent = _field(args, "to", "agent")
    if type(agent) is not bytes or len(agent) != ADDRESS_SIZE:
        raise PluginFailure(f"an agent address is {ADDRESS_SIZE} bytes, not {agent!r}")
    return agent


def _value(encoded: object) -> Value:
    if not isinstance(encoded, str) or not encoded.startswith("0x"):
        return None
    return from_wire(decode(bytes.fromhex(encoded[2:])))


def dry_run(node: NodeLink, caller: bytes, args: Value) -> tuple[AgentCall, Value]:
    """The call `args` describes and the value it returns on the head state. Raises
    PluginFailure if it would trap or the node refuses it."""
    agent = _agent(args)
    entry = _field(args, "entry")
    call_args = _field(args, "args", default=(), required=False)
    value = _field(args, "value", default=0, required=False)
    if type(entry) is not str:
        raise PluginFailure(f"an entry is a label name, not {entry!r}")
    if type(call_args) is not tuple:
        call_args = (call_args,)
    if type(value) is not int or value < 0:
        raise PluginFailure(f"a call's value is a non-negative int, not {value!r}")
    spec = {
        "to": to_checksum_address(agent),
        "entry": entry,
        "args": to_python(call_args),
        "value": hex(value),
        "from": to_checksum_address(caller),
    }
    try:
        result = node.call("aither_call", spec)
    except RpcClientError as exc:
        if exc.code is None:
            raise
        raise PluginFailure(f"{entry} of {spec['to']}: {exc}") from None
    assert isinstance(result, dict)
    if not result.get("ok"):
        raise PluginFailure(f"{entry} of {spec['to']} would trap: {result.get('trap')}")
    return AgentCall(agent, entry, call_args, value), _value(result.get("output"))


def storage(node: NodeLink, args: Value) -> Value:
    """One KV entry of an on-chain agent (null when absent)."""
    agent = _agent(args)
    key = _field(args, "key")
    try:
        raw_key = kv_key(check_key(key))
    except Exception as exc:  # the AVM's key check raises a trap
        raise PluginFailure(f"a KV key is an int, str or bytes: {exc}") from None
    try:
        found = node.call(
            "aither_getStorage", to_checksum_address(agent), "0x" + raw_key.hex(), True
        )
    except RpcClientError as exc:
        if exc.code is None:
            raise
        raise PluginFailure(f"storage of {to_checksum_address(agent)}: {exc}") from None
    assert isinstance(found, dict)
    return _value(found.get("raw"))
