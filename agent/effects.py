"""On-chain effects of a local run: what the run asked of the chain, as plain values.

The local host collects them while the program runs (a trapped call drops its own with the rest
of its changes) and the runner turns them into signed transactions only when the run ends well,
in the order the program made them (`agent.transactions`). Each has a canonical JSON
description: the trace file keeps it with the receipt of its transaction, and a replay checks
that it makes the same effects again.

| opcode                                   | effect           | transaction                     |
|------------------------------------------|------------------|---------------------------------|
| PAY_AGENT                                | Payment          | TRANSFER (the coin or a token)  |
| CHAIN_OP "aither", "call"                | AgentCall        | CALL: an on-chain agent (its KV)|
| SELF_MODIFY, REVERT_CODE on `council`    | RegionProposal   | PROPOSE a code change           |
| SWARM_CONNECT                            | ChannelJoin,     | CHANNEL join, and a key         |
|                                          | ChannelRotation  | rotation that admits the join   |
| SWARM_BROADCAST, SEND_SWARM_MSG, REWARD>0| RewardOffer      | CHANNEL reward escrow           |
| WAIT_FOR_RESPONSE on a rewarded request  | AnswerAcceptance | CHANNEL accept: pays an answer  |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from avm.values import Value, to_python
from core.crypto import to_checksum_address


class EffectKind(Enum):
    TRANSFER = "transfer"
    CALL = "call"
    PROPOSE = "propose"
    CHANNEL_JOIN = "channel_join"
    CHANNEL_ROTATE = "channel_rotate"
    REWARD = "channel_reward"
    ACCEPT = "channel_accept"


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


@dataclass(frozen=True, slots=True)
class Payment:
    """A PAY_AGENT: `amount` base units of `token` ("" is the native coin) to `to`."""

    to: bytes
    amount: int
    token: str

    kind = EffectKind.TRANSFER

    def spends(self) -> tuple[str, int]:
        return self.token, self.amount

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "to": to_checksum_address(self.to),
            "amount": str(self.amount),
            "token": self.token,
        }


@dataclass(frozen=True, slots=True)
class AgentCall:
    """A call of `entry` of the on-chain agent `agent`, sending it `value` native units."""

    agent: bytes
    entry: str
    args: tuple[Value, ...]
    value: int = 0

    kind = EffectKind.CALL

    def spends(self) -> tuple[str, int]:
        return "", self.value

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "agent": to_checksum_address(self.agent),
            "entry": self.entry,
            "args": to_python(self.args),
            "value": str(self.value),
        }


@dataclass(frozen=True, slots=True)
class RegionProposal:
    """A code-change proposal for `region` of the on-chain agent `agent`: its new body as IR
    text, with `deposit` native units held in escrow by governance."""

    agent: bytes
    region: str
    new_ir: str
    deposit: int
    rationale: str

    kind = EffectKind.PROPOSE

    def spends(self) -> tuple[str, int]:
        return "", self.deposit

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "agent": to_checksum_address(self.agent),
            "region": self.region,
            "newIr": self.new_ir,
            "deposit": str(self.deposit),
            "rationale": self.rationale,
        }


@dataclass(frozen=True, slots=True)
class ChannelJoin:
    """Join the open channel `name` (it takes effect at the channel's next key rotation)."""

    channel_id: bytes
    name: str

    kind = EffectKind.CHANNEL_JOIN

    def spends(self) -> tuple[str, int]:
        return "", 0

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind.value, "channel": _hex(self.channel_id), "name": self.name}


@dataclass(frozen=True, slots=True)
class ChannelRotation:
    """Rotate the channel's key to its next epoch, sealed to the members the chain expects
    then (which admits pending joins). The key itself is made when the transaction is built."""

    channel_id: bytes
    name: str

    kind = EffectKind.CHANNEL_ROTATE

    def spends(self) -> tuple[str, int]:
        return "", 0

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind.value, "channel": _hex(self.channel_id), "name": self.name}


@dataclass(frozen=True, slots=True)
class RewardOffer:
    """Escrow `amount` native units for an answer to the message `message_hash`; it returns to
    the agent if no answer is accepted by block `timeout`."""

    channel_id: bytes
    message_hash: bytes
    amount: int
    timeout: int

    kind = EffectKind.REWARD

    def spends(self) -> tuple[str, int]:
        return "", self.amount

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "channel": _hex(self.channel_id),
            "message": _hex(self.message_hash),
            "amount": str(self.amount),
            "timeout": self.timeout,
        }


@dataclass(frozen=True, slots=True)
class AnswerAcceptance:
    """Accept an answer to the rewarded message `reward`: the chain checks the answer's signed
    statement (these fields) and pays its sender the escrow."""

    reward: bytes
    channel_id: bytes
    epoch: int
    sender: bytes
    sequence: int
    timestamp: int
    payload_hash: bytes
    signature: bytes

    kind = EffectKind.ACCEPT

    def spends(self) -> tuple[str, int]:
        return "", 0  # the escrow was spent by the offer

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "reward": _hex(self.reward),
            "channel": _hex(self.channel_id),
            "epoch": self.epoch,
            "sender": to_checksum_address(self.sender),
            "sequence": self.sequence,
            "timestamp": self.timestamp,
            "payloadHash": _hex(self.payload_hash),
            "signature": _hex(self.signature),
        }


Effect = (
    Payment
    | AgentCall
    | RegionProposal
    | ChannelJoin
    | ChannelRotation
    | RewardOffer
    | AnswerAcceptance
)
