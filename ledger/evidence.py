"""Equivocation evidence on chain: a validator that signed two blocks for one slot is jailed.

A node whose consensus saw one validator sign two proposals, or two votes of one kind, for the
same height and round with different blocks holds `Evidence` (ledger/consensus_messages.py). It
reports it in an EVIDENCE transaction, which costs nothing (a validator's account need hold no
coin) and is checked at admission as at inclusion: the pair must verify, and its signer must be
a validator now. Including it jails the signer: its power goes to 0 through the same path as a
`validators` proposal (the consensus driver drops it from the next height's set), and the jail
record keeps the height and the power it lost (slashed). Only a passed `validators` proposal
brings it back, which clears the record. The last validator is never jailed: a chain without
one cannot move again.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.crypto import HASH_SIZE, address_of, hash32
from core.encoding import Value, decode, encode
from core.errors import DecodeError, ExecutionFailed, InvalidTransaction
from core.schema import MAX_U64, fields, sized_bytes, uint
from ledger.consensus_messages import Evidence, InvalidEvidence
from ledger.receipt import Log
from ledger.state import Store, set_validator, validator_power, validator_totals

JAILED = b"J"  # + validator public key -> [height jailed, power slashed, evidence hash]
RELEASED = b"D"  # + validator public key -> the height a proposal restored it (8 bytes)
_DAMAGED = "a damaged jail record"


class EvidenceRefused(ExecutionFailed):
    """Evidence that jails nobody: it does not verify, or its signer is no validator now."""


@dataclass(frozen=True, slots=True)
class EvidencePayload:
    """An EVIDENCE transaction: the two conflicting signed messages (Evidence's wire form)."""

    evidence: Evidence

    def to_value(self) -> list[Value]:
        return self.evidence.to_value()

    @classmethod
    def from_value(cls, value: Value) -> EvidencePayload:
        try:
            return cls(Evidence.from_value(value))
        except DecodeError as exc:
            raise InvalidTransaction(f"evidence: {exc}") from None


@dataclass(frozen=True, slots=True)
class JailRecord:
    height: int  # the block that included the evidence
    slashed: int  # the voting power it held then
    evidence: bytes  # hash of the evidence's encoding

    def to_json(self) -> dict[str, object]:
        return {
            "height": self.height,
            "slashed": self.slashed,
            "evidence": "0x" + self.evidence.hex(),
        }


def load_jail(store: Store, pubkey: bytes) -> JailRecord | None:
    raw = store.get(JAILED + pubkey)
    return None if raw is None else load_jail_record(raw)


def load_jail_record(raw: bytes) -> JailRecord:
    height, slashed, evidence = fields(decode(raw), 3, _DAMAGED)
    return JailRecord(
        uint(height, MAX_U64, _DAMAGED),
        uint(slashed, MAX_U64, _DAMAGED),
        sized_bytes(evidence, HASH_SIZE, _DAMAGED),
    )


def check(store: Store, chain_id: int, evidence: Evidence) -> int:
    """The power of the validator `evidence` would jail. Raises EvidenceRefused saying why not."""
    offender = evidence.offender
    power = validator_power(store, offender)
    who = f"0x{address_of(offender).hex()}"
    if power == 0:
        jailed = load_jail(store, offender)
        state = f"was jailed at block {jailed.height}" if jailed else "is not a validator"
        raise EvidenceRefused(f"validator {who} {state}")
    released = store.get(RELEASED + offender)
    if released is not None and evidence.height <= int.from_bytes(released, "big"):
        # What it did before a proposal restored it was judged: it cannot jail it again.
        since = int.from_bytes(released, "big")
        raise EvidenceRefused(f"validator {who} was restored at block {since}, after height "
                              f"{evidence.height} of this evidence")  # fmt: skip
    try:
        evidence.verify(chain_id, {offender})
    except InvalidEvidence as exc:
        raise EvidenceRefused(f"the evidence does not hold: {exc}") from None
    if validator_totals(store)[0] == 1:
        raise EvidenceRefused(f"validator {who} is the last one: jailing it would stop the chain")
    return power


def jail(store: Store, chain_id: int, payload: EvidencePayload, height: int) -> tuple[Log, ...]:
    """Apply an EVIDENCE transaction. Raises EvidenceRefused before any write."""
    evidence = payload.evidence
    power = check(store, chain_id, evidence)
    set_validator(store, evidence.offender, 0)
    record: list[Value] = [height, power, hash32(evidence.encode())]
    store.put(JAILED + evidence.offender, encode(record))
    return (Log("ValidatorJailed", (address_of(evidence.offender), power, evidence.height)),)


def release(store: Store, pubkey: bytes, height: int) -> None:
    """A passed `validators` proposal gave a jailed validator power again at `height`: its
    record goes, and evidence of what it signed up to then no longer counts."""
    if store.get(JAILED + pubkey) is not None:
        store.put(JAILED + pubkey, None)
        store.put(RELEASED + pubkey, height.to_bytes(8, "big"))
