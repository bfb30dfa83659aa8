"""A run's on-chain effects as signed transactions, sent one at a time and awaited.

Each transaction is built just before it is sent (the nonce, gas price and, for a rotation, the
channel's members and their keys are read then), sent, and its receipt awaited before the next
one: a channel key rotation must see its join, an accepted answer its reward's escrow. The first
transaction the chain refuses or fails stops the rest; what was sent until then is reported with
the failure, because those transactions cannot be taken back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.effects import (
    AgentCall,
    ChannelJoin,
    ChannelRotation,
    Effect,
    Payment,
    RegionProposal,
    RewardOffer,
)
from core.crypto import SigningKey
from core.swarm_keys import rotate
from ledger.channels.payloads import AcceptAnswer, JoinChannel, OfferReward, RotateKey
from ledger.governance.payloads import CodeChangeSpec
from wallet.client import RpcClient, RpcClientError
from wallet.txbuilder import (
    build_call,
    build_channel,
    build_propose,
    build_transfer,
    member_keys,
    next_members,
)

RECEIPT_TIMEOUT_SEC = 60.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the chain did with one effect's transaction."""

    tx_hash: str
    ok: bool
    block: int
    gas_used: int
    error: str | None = None
    return_value: object = None  # a call's
    proposal_id: str | None = None  # a proposal's id on chain

    def to_json(self) -> dict[str, object]:
        return {
            "hash": self.tx_hash,
            "ok": self.ok,
            "block": self.block,
            "gasUsed": self.gas_used,
            "error": self.error,
            "returnValue": self.return_value,
            "proposalId": self.proposal_id,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Receipt:
        return Receipt(
            str(doc["hash"]),
            bool(doc["ok"]),
            int(doc["block"]),
            int(doc["gasUsed"]),
            doc.get("error"),
            doc.get("returnValue"),
            doc.get("proposalId"),
        )


@dataclass(frozen=True, slots=True)
class SentTransaction:
    effect: Effect
    receipt: Receipt


def _rotation(client: RpcClient, channel_id: bytes) -> RotateKey:
    view = client.call("aither_getChannel", "0x" + channel_id.hex())
    if not isinstance(view, dict):
        raise RpcClientError(f"no channel 0x{channel_id.hex()} on chain")
    members = member_keys(client, next_members(view))
    _, rotation = rotate(channel_id, int(str(view["epoch"])) + 1, members)
    return RotateKey(channel_id, rotation)


def build(client: RpcClient, key: SigningKey, effect: Effect) -> bytes:
    """The signed transaction of `effect`. Raises RpcClientError (the node refused an estimate
    or a read, e.g. a call that would trap)."""
    if isinstance(effect, Payment):
        return build_transfer(client, key, effect.to, effect.amount, effect.token)
    if isinstance(effect, AgentCall):
        return build_call(client, key, effect.agent, effect.entry, effect.args, effect.value)
    if isinstance(effect, RegionProposal):
        spec = CodeChangeSpec(
            effect.agent, effect.region, effect.new_ir, effect.rationale, "", effect.deposit
        )
        return build_propose(client, key, spec)
    if isinstance(effect, ChannelJoin):
        return build_channel(client, key, JoinChannel(effect.channel_id, None))
    if isinstance(effect, ChannelRotation):
        return build_channel(client, key, _rotation(client, effect.channel_id))
    if isinstance(effect, RewardOffer):
        offer = OfferReward(effect.channel_id, effect.message_hash, effect.amount, effect.timeout)
        return build_channel(client, key, offer)
    accept = AcceptAnswer(
        effect.reward,
        effect.channel_id,
        effect.epoch,
        effect.sender,
        effect.sequence,
        effect.timestamp,
        effect.payload_hash,
        effect.signature,
    )
    return build_channel(client, key, accept)


def _receipt(tx_hash: str, doc: dict[str, Any]) -> Receipt:
    proposal_id = None
    for log in doc.get("logs") or []:
        if isinstance(log, dict) and log.get("event") == "ProposalSubmitted":
            proposal_id = str(log["args"][0])
    return Receipt(
        tx_hash,
        doc.get("status") == "0x1",
        int(str(doc["blockNumber"]), 16),
        int(str(doc["gasUsed"]), 16),
        doc.get("error"),
        doc.get("returnValue"),
        proposal_id,
    )


def send_effects(
    client: RpcClient, key: SigningKey, effects: list[Effect]
) -> tuple[list[SentTransaction], str | None]:
    """Send each effect's transaction in order and await its receipt. Returns what was sent,
    and None or why sending stopped (a refusal, or a transaction that failed on chain)."""
    sent: list[SentTransaction] = []
    for effect in effects:
        what = effect.kind.value
        try:
            raw = build(client, key, effect)
            tx_hash = str(client.call("aither_sendRawTransaction", "0x" + raw.hex()))
            found = client.wait_for_receipt(tx_hash, RECEIPT_TIMEOUT_SEC)
        except RpcClientError as exc:
            return sent, f"the {what} transaction was refused: {exc}"
        receipt = _receipt(tx_hash, found)
        sent.append(SentTransaction(effect, receipt))
        if not receipt.ok:
            return sent, f"the {what} transaction {tx_hash} failed on chain: {receipt.error}"
    return sent, None
