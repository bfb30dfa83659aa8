"""Screening consensus messages before they are relayed (the gossip topic's validator).

Pure and quick, so it can run on the network thread: decode, check the signer belongs to the
validator set and the signature verifies. Signature checks are cached in `messages`, so the
core's own check of an admitted message costs nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from core.errors import DecodeError
from ledger.consensus_messages import Evidence, InvalidEvidence, Message, Proposal, decode_message
from node.consensus.validators import ValidatorSet

# Heights around ours worth relaying: the previous one (peers still finishing it), ours and
# the next (peers that decided first). Anything else is for block sync, not gossip.
HEIGHT_WINDOW = 1


class Verdict(enum.Enum):
    ACCEPT = "accept"
    REJECT = "reject"  # malformed, forged or from a non-validator: count it against the peer
    IGNORE = "ignore"  # well-formed but not for now (another height): drop without blame


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    message: Message | None
    reason: str


def admit(data: bytes, chain_id: int, validators: ValidatorSet, height: int) -> Admission:
    """Judge wire bytes for the consensus topic of `chain_id` while deciding `height`."""
    try:
        message = decode_message(data)
    except DecodeError as exc:
        return Admission(Verdict.REJECT, None, f"malformed: {exc}")
    if abs(message.height - height) > HEIGHT_WINDOW:
        return Admission(Verdict.IGNORE, message, f"height {message.height} is not near {height}")
    if isinstance(message, Evidence):
        try:
            message.verify(chain_id, validators)
        except InvalidEvidence as exc:
            return Admission(Verdict.REJECT, message, f"bad evidence: {exc}")
        return Admission(Verdict.ACCEPT, message, "evidence")
    signer = message.proposer if isinstance(message, Proposal) else message.validator
    if signer not in validators:
        # The set may differ at another height; only at ours is a stranger certainly wrong.
        verdict = Verdict.REJECT if message.height == height else Verdict.IGNORE
        return Admission(verdict, message, "signer is not a validator")
    if not message.verify_signature(chain_id):
        return Admission(Verdict.REJECT, message, "bad signature")
    return Admission(Verdict.ACCEPT, message, "ok")
