"""The genesis file: chain id, validators, pre-funded accounts, chain parameters, and the
governance rules with the initial council (ledger/governance_types.py).

JSON for people (amounts as decimal strings of base units, keys and addresses as 0x-hex); its
canonical encoding's hash identifies the chain, so a data directory cannot be reopened under a
different genesis by mistake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ledger import gas
from ledger.crypto import hash32, parse_address, to_checksum_address
from ledger.encoding import Value, encode
from ledger.errors import AitherError
from ledger.governance_types import (
    CouncilMember,
    GovernanceError,
    GovernanceParams,
    parse_member_json,
)


class GenesisError(AitherError):
    """A genesis file that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class Validator:
    pubkey: bytes
    power: int


@dataclass(frozen=True, slots=True)
class Allocation:
    address: bytes
    balance: int


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """Tendermint-style timeouts in milliseconds; each round waits `delta_ms` longer."""

    propose_ms: int = 3_000
    prevote_ms: int = 1_000
    precommit_ms: int = 1_000
    delta_ms: int = 500
    commit_ms: int = 1_000

    def to_value(self) -> list[Value]:
        return [self.propose_ms, self.prevote_ms, self.precommit_ms, self.delta_ms, self.commit_ms]

    def to_json(self) -> dict[str, int]:
        return {
            "timeout_propose_ms": self.propose_ms,
            "timeout_prevote_ms": self.prevote_ms,
            "timeout_precommit_ms": self.precommit_ms,
            "timeout_delta_ms": self.delta_ms,
            "timeout_commit_ms": self.commit_ms,
        }

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> ConsensusParams:
        defaults = cls()
        return cls(
            *(
                int(doc.get(f"timeout_{name}_ms", getattr(defaults, f"{name}_ms")))
                for name in ("propose", "prevote", "precommit", "delta", "commit")
            )
        )


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: int
    timestamp: int
    validators: tuple[Validator, ...]
    allocations: tuple[Allocation, ...]
    min_gas_price: int = gas.DEFAULT_GAS_PRICE
    block_gas_limit: int = gas.DEFAULT_BLOCK_GAS_LIMIT
    name: str = field(default="aither")
    consensus: ConsensusParams = field(default_factory=ConsensusParams)
    governance: GovernanceParams = field(default_factory=GovernanceParams)
    council: tuple[CouncilMember, ...] = ()  # changed later only by passed council proposals

    def to_value(self) -> list[Value]:
        return [
            self.name,
            self.chain_id,
            self.timestamp,
            [[v.pubkey, v.power] for v in self.validators],
            [[a.address, a.balance] for a in self.allocations],
            self.min_gas_price,
            self.block_gas_limit,
            self.consensus.to_value(),
            self.governance.to_value(),
            [[m.address, *m.to_value()] for m in self.council],
        ]

    @property
    def hash(self) -> bytes:
        return hash32(encode(self.to_value()))

    @property
    def total_supply(self) -> int:
        return sum(a.balance for a in self.allocations)

    def to_json(self) -> str:
        doc = {
            "name": self.name,
            "chain_id": self.chain_id,
            "timestamp": self.timestamp,
            "validators": [
                {"pubkey": "0x" + v.pubkey.hex(), "power": v.power} for v in self.validators
            ],
            "allocations": [
                {"address": to_checksum_address(a.address), "balance": str(a.balance)}
                for a in self.allocations
            ],
            "min_gas_price": str(self.min_gas_price),
            "block_gas_limit": self.block_gas_limit,
            "consensus": self.consensus.to_json(),
            "governance": self.governance.to_json(),
            "council": [_member_json(m) for m in self.council],
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Genesis:
        try:
            doc = json.loads(text)
            validators = tuple(
                Validator(_hex_bytes(v["pubkey"], 32), int(v["power"])) for v in doc["validators"]
            )
            allocations = tuple(
                Allocation(parse_address(a["address"]), int(a["balance"]))
                for a in doc["allocations"]
            )
            governance = GovernanceParams.from_json(doc.get("governance", {}))
            council = tuple(parse_member_json(m, governance) for m in doc.get("council", []))
            genesis = cls(
                chain_id=int(doc["chain_id"]),
                timestamp=int(doc["timestamp"]),
                validators=validators,
                allocations=allocations,
                min_gas_price=int(doc.get("min_gas_price", gas.DEFAULT_GAS_PRICE)),
                block_gas_limit=int(doc.get("block_gas_limit", gas.DEFAULT_BLOCK_GAS_LIMIT)),
                name=str(doc.get("name", "aither")),
                consensus=ConsensusParams.from_json(doc.get("consensus", {})),
                governance=governance,
                council=council,
            )
        except (KeyError, TypeError, ValueError, AttributeError, GovernanceError) as exc:
            raise GenesisError(f"bad genesis file: {exc}") from None
        genesis.validate()
        return genesis

    @classmethod
    def load(cls, path: Path) -> Genesis:
        try:
            return cls.from_json(path.read_text())
        except OSError as exc:
            raise GenesisError(f"cannot read genesis file {path}: {exc.strerror}") from None

    def validate(self) -> None:
        if not self.validators:
            raise GenesisError("genesis needs at least one validator")
        if any(v.power <= 0 for v in self.validators):
            raise GenesisError("validator power must be positive")
        if len({v.pubkey for v in self.validators}) != len(self.validators):
            raise GenesisError("a validator is listed twice")
        if len({a.address for a in self.allocations}) != len(self.allocations):
            raise GenesisError("an account is allocated twice")
        if any(a.balance < 0 for a in self.allocations):
            raise GenesisError("allocations must not be negative")
        if min(self.consensus.to_value()) < 0:
            raise GenesisError("consensus timeouts must not be negative")
        try:
            self.governance.validate()
        except GovernanceError as exc:
            raise GenesisError(f"governance: {exc}") from None
        addresses = [m.address for m in self.council]
        if len(set(addresses)) != len(addresses):
            raise GenesisError("a council member is listed twice")
        if len(addresses) > self.governance.max_council_size:
            raise GenesisError(f"the council has at most {self.governance.max_council_size}")
        low, high = self.governance.min_accuracy_ppm, self.governance.max_accuracy_ppm
        if any(not low <= m.accuracy_ppm <= high for m in self.council):
            raise GenesisError(f"a council member's accuracyPpm must be in {low}..{high}")


def _member_json(member: CouncilMember) -> dict[str, object]:
    doc: dict[str, object] = {
        "address": to_checksum_address(member.address),
        "role": member.role.value,
        "accuracyPpm": member.accuracy_ppm,
    }
    if member.role_name:
        doc["roleName"] = member.role_name
    return doc


def _hex_bytes(text: str, size: int) -> bytes:
    raw = bytes.fromhex(text.removeprefix("0x"))
    if len(raw) != size:
        raise ValueError(f"expected {size} bytes of hex, got {len(raw)}")
    return raw
