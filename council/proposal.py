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


def _cast_vote(entry: object, pid: str) -> CastVote:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("member"), str):
        raise ProposalFormatError(f"proposal {pid}: a vote needs a member address")
    return CastVote(
        entry["member"], str(entry.get("choice", "")), str(entry.get("explanation", ""))
    )


# -- the assembled IR ----------------------------------------------------------------------------
