"""Swarm collaboration (§11.2, §10.3).

On chain a swarm message is an event (channels and end-to-end encryption live in p2p/); a reward
is an offer in the message, paid later with PAY_AGENT. A fetch returns a handle derived from the
request; waiting for the answer is not deterministic and is an external opcode.
"""

from __future__ import annotations

from avm.errors import BadOperand
from avm.instructions.wallet import want_amount
from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import Value, encode_value, size_of, type_name
from core.crypto import hash32

family = Family("swarm")


def _want_channel(channel: Value) -> str:
    if type(channel) is not str or not channel:
        raise BadOperand(f"a channel is a non-empty str, not {type_name(channel)}")
    return channel


@family.op("SWARM_CONNECT", P("channel"), gas="swarm_connect")
def swarm_connect(vm: Machine, channel: Value) -> bool:
    vm.host.emit("swarm.connect", encode_value(_want_channel(channel)))
    return True


@family.op(
    "SWARM_BROADCAST",
    P("message"),
    P("data", None),
    P("reward", 0),
    gas="swarm_broadcast_base",
    returns=False,
)
def swarm_broadcast(vm: Machine, message: Value, data: Value, reward: Value) -> None:
    vm.charge(vm.sched.swarm_broadcast_per_byte * size_of(data))
    vm.host.emit("swarm.broadcast", encode_value((message, data, want_amount(reward))))


@family.op(
    "SEND_SWARM_MSG",
    P("channel"),
    P("message"),
    P("reward", 0),
    gas="send_swarm_msg_base",
    returns=False,
)
def send_swarm_msg(vm: Machine, channel: Value, message: Value, reward: Value) -> None:
    vm.charge(vm.sched.send_swarm_msg_per_byte * size_of(message))
    payload = (_want_channel(channel), message, want_amount(reward))
    vm.host.emit("swarm.message", encode_value(payload))


@family.op("SWARM_FETCH", P("data_type"), P("request_id"), gas="swarm_fetch_base")
def swarm_fetch(vm: Machine, data_type: Value, request_id: Value) -> bytes:
    """Publish a request; the handle is the hash of (agent, data type, request id)."""
    request = encode_value((vm.host.self_address(), data_type, request_id))
    vm.charge(vm.sched.swarm_fetch_per_byte * len(request))
    vm.host.emit("swarm.fetch", request)
    return hash32(request)
