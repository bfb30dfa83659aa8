"""A proposal as the council reads it: the JSON `aither_getProposal` serves, checked and typed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import AitherError


class ProposalFormatError(AitherError):
    """Proposal JSON that does not have the shape the council expects."""


# -- the proposal, as served over RPC ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """One test the chain ran against the patched code. Gas is None for a test that is new."""

    test: str
    passed: bool
    gas_before: int | None
    gas_after: int | None
    storage_before: int | None = None  # optional: bytes of agent storage after the test
    storage_after: int | None = None


@dataclass(frozen=True, slots=True)
class ShadowDiff:
    """One replayed transaction that did something else under the proposed gas schedule."""

    block: int
    tx: str  # 0x-hex transaction hash, lower case
    ok_before: bool
    ok_after: bool
    gas_before: int  # milligas
    gas_after: int
    error: str  # why it fails now ("" when it does not)

    @property
    def outcome_changed(self) -> bool:
        return self.ok_before != self.ok_after


@dataclass(frozen=True, slots=True)
class ShadowSummary:
    """The shadow replay of blocks `first_block`..`last_block` under a proposed gas schedule
    (`ledger.governance.shadow.ShadowSummary.to_json`). Gas is milligas summed over every
    replayed transaction; `diffs` lists the outcome changes first, then the largest gas deltas."""

    first_block: int
    last_block: int
    transactions: int
    outcome_changes: int  # succeeded before and fail now, or the reverse
    gas_changes: int  # same outcome, different gas
    gas_before: int
    gas_after: int
    diffs: tuple[ShadowDiff, ...]


@dataclass(frozen=True, slots=True)
class CastVote:
    member: str
    choice: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Proposal:
    """The fields of `aither_getProposal` the council reads (the JSON keys are camelCase)."""

    id: str
    kind: str
    status: str
    agent: str
    region: str
    rationale: str
    old_ir: str
    new_ir: str
    tests: str
    sandbox: tuple[SandboxResult, ...]
    votes: tuple[CastVote, ...]
    shadow: ShadowSummary | None = None  # a "gas" proposal's replay; None before it ran

    @property
    def id_bytes(self) -> bytes:
        return bytes.fromhex(self.id[2:])

    def voted_by(self, address: str) -> bool:
        """True if `address` (any case) appears among the proposal's votes."""
        return any(v.member.lower() == address.lower() for v in self.votes)

    @classmethod
    def from_json(cls, obj: object) -> Proposal:
        """Read one proposal object. Raises ProposalFormatError naming the bad field."""
        if not isinstance(obj, Mapping):
            raise ProposalFormatError("a proposal is a JSON object")
        pid = obj.get("id")
        if not isinstance(pid, str) or re.fullmatch(r"0x[0-9a-fA-F]{64}", pid) is None:
            raise ProposalFormatError(f"proposal id {pid!r} is not 0x-hex of 32 bytes")
        sandbox = obj.get("sandbox") or []
        votes = obj.get("votes") or []
        if not isinstance(sandbox, list) or not isinstance(votes, list):
            raise ProposalFormatError(f"proposal {pid}: sandbox and votes must be lists")
        return cls(
            id=pid.lower(),
            kind=_text(obj, "kind", pid),
            status=_text(obj, "status", pid),
            agent=_text(obj, "agent", pid),
            region=_text(obj, "region", pid),
            rationale=_text(obj, "rationale", pid),
            old_ir=_text(obj, "oldIr", pid),
            new_ir=_text(obj, "newIr", pid),
            tests=_text(obj, "tests", pid),
            sandbox=tuple(_sandbox_result(entry, pid) for entry in sandbox),
            votes=tuple(_cast_vote(entry, pid) for entry in votes),
            shadow=_shadow_summary(obj.get("shadow"), pid),
        )


def _text(obj: Mapping[str, object], key: str, pid: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProposalFormatError(f"proposal {pid}: {key} must be text")
    return value


def _quantity(value: object, what: str) -> int | None:
    """An integer from JSON: a number or 0x-hex (the node writes quantities as hex)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]+", value):
        return int(value, 16)
    raise ProposalFormatError(f"{what} must be an integer, got {value!r}")


def _sandbox_result(entry: object, pid: str) -> SandboxResult:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("test"), str):
        raise ProposalFormatError(f"proposal {pid}: a sandbox entry needs a test name")
    name = entry["test"]
    where = f"proposal {pid}: sandbox {name}"
    return SandboxResult(
        name,
        entry.get("passed") is True,
        _quantity(entry.get("gasBefore"), f"{where} gasBefore"),
        _quantity(entry.get("gasAfter"), f"{where} gasAfter"),
        _quantity(entry.get("storageBefore"), f"{where} storageBefore"),
        _quantity(entry.get("storageAfter"), f"{where} storageAfter"),
    )


def _count(entry: Mapping[str, object], key: str, where: str) -> int:
    """A required non-negative integer field of a shadow summary or one of its diffs."""
    value = _quantity(entry.get(key), f"{where} {key}")
    if value is None or value < 0:
        raise ProposalFormatError(f"{where} {key} must be a non-negative integer")
    return value


def _flag(entry: Mapping[str, object], key: str, where: str) -> bool:
    value = entry.get(key)
    if not isinstance(value, bool):
        raise ProposalFormatError(f"{where} {key} must be true or false, got {value!r}")
    return value


def _shadow_diff(entry: object, where: str) -> ShadowDiff:
    if not isinstance(entry, Mapping):
        raise ProposalFormatError(f"{where} diffs: each entry is an object")
    tx = entry.get("tx")
    if not isinstance(tx, str) or re.fullmatch(r"0x[0-9a-fA-F]{64}", tx) is None:
        raise ProposalFormatError(f"{where} diffs: tx {tx!r} is not 0x-hex of 32 bytes")
    where = f"{where} diff {tx}"
    error = entry.get("error")
    if error is not None and not isinstance(error, str):
        raise ProposalFormatError(f"{where} error must be text or null")
    return ShadowDiff(
        _count(entry, "block", where),
        tx.lower(),
        _flag(entry, "okBefore", where),
        _flag(entry, "okAfter", where),
        _count(entry, "gasBefore", where),
        _count(entry, "gasAfter", where),
        error or "",
    )


def _shadow_summary(value: object, pid: str) -> ShadowSummary | None:
    """The `shadow` field: absent (an older node) or null (no replay) is None."""
    if value is None:
        return None
    where = f"proposal {pid}: shadow"
    if not isinstance(value, Mapping):
        raise ProposalFormatError(f"{where} must be an object or null")
    diffs = value.get("diffs")
    if diffs is None:
        diffs = []
    if not isinstance(diffs, list):
        raise ProposalFormatError(f"{where} diffs must be a list")
    return ShadowSummary(
        _count(value, "firstBlock", where),
        _count(value, "lastBlock", where),
        _count(value, "transactions", where),
        _count(value, "outcomeChanges", where),
        _count(value, "gasChanges", where),
        _count(value, "gasBefore", where),
        _count(value, "gasAfter", where),
        tuple(_shadow_diff(entry, where) for entry in diffs),
    )


def _cast_vote(entry: object, pid: str) -> CastVote:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("member"), str):
        raise ProposalFormatError(f"proposal {pid}: a vote needs a member address")
    return CastVote(
        entry["member"], str(entry.get("choice", "")), str(entry.get("explanation", ""))
    )


# -- the assembled IR ----------------------------------------------------------------------------
