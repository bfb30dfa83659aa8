"""The genesis file: chain id, validators, pre-funded accounts, chain parameters, identities,
and the governance rules with the initial council (ledger/governance/council.py), every member of
which is one of the genesis identities.

JSON for people (amounts as decimal strings of base units, keys and addresses as 0x-hex); its
canonical encoding's hash identifies the chain, so a data directory cannot be reopened under a
different genesis by mistake.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from core.crypto import PUBKEY_SIZE, address_of, hash32, parse_address, to_checksum_address
from core.encoding import Value, encode
from core.errors import AitherError, DecodeError, InvalidTransaction
from ledger import gas
from ledger.governance.council import CouncilMember, parse_member_json
from ledger.governance.errors import GovernanceError
from ledger.governance.params import GovernanceParams
from ledger.identity import SetIdentity


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
class GenesisIdentity:
    """An identity registered in the genesis state, as a `register` transaction from `pubkey`
    in block 0 would register it. It has no X25519 certificate: its owner certifies one later
    with a register transaction of its own (genesis holds no signatures)."""

    pubkey: bytes
    name: str = ""
    roles: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()  # keys ascending

    @property
    def address(self) -> bytes:
        return address_of(self.pubkey)

    @property
    def registration(self) -> SetIdentity:
        return SetIdentity(self.name, None, self.roles, self.metadata)

    def to_value(self) -> list[Value]:
        return [self.pubkey, *self.registration.to_value()[1:]]

    def to_json(self) -> dict[str, object]:
        return {
            "address": to_checksum_address(self.address),  # for people; checked when read
            "publicKey": "0x" + self.pubkey.hex(),
            "name": self.name,
            "roles": list(self.roles),
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> GenesisIdentity:
        """Raises GenesisError naming the identity and what is wrong with it."""
        pubkey = _hex_bytes(str(doc["publicKey"]), PUBKEY_SIZE)
        metadata = doc.get("metadata", {})
        if not isinstance(metadata, dict):
            raise GenesisError(f"identity 0x{pubkey.hex()}: metadata must map keys to text")
        wire: list[Value] = [
            0,
            _as_value(doc.get("name", "")),
            None,
            _as_value(doc.get("roles", [])),
            [[str(key), _as_value(value)] for key, value in sorted(metadata.items())],
        ]
        registration = _registration(to_checksum_address(address_of(pubkey)), wire)
        identity = cls(pubkey, registration.name, registration.roles, registration.metadata)
        given = doc.get("address")
        if given is not None and parse_address(str(given)) != identity.address:
            raise GenesisError(
                f"identity {given}: the address is not the public key's "
                f"({to_checksum_address(identity.address)})"
            )
        return identity

    def check(self) -> None:
        """Raises GenesisError unless a register transaction could carry this identity."""
        _registration(to_checksum_address(self.address), self.registration.to_value())


def _registration(who: str, wire: list[Value]) -> SetIdentity:
    """The register payload `wire` decoded by the transaction's own rules (name, roles,
    metadata), or GenesisError naming the identity and the rule it breaks."""
    try:
        return SetIdentity.from_value(wire)
    except (InvalidTransaction, DecodeError) as exc:
        raise GenesisError(f"identity {who}: {exc}") from None


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
                _integer(doc.get(f"timeout_{name}_ms", getattr(defaults, f"{name}_ms")))
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
    name: str = field(default="aither")
    consensus: ConsensusParams = field(default_factory=ConsensusParams)
    governance: GovernanceParams = field(default_factory=GovernanceParams)
    identities: tuple[GenesisIdentity, ...] = ()  # registered in this order at height 0
    council: tuple[CouncilMember, ...] = ()  # changed later only by passed council proposals

    def to_value(self) -> list[Value]:
        return [
            self.name,
            self.chain_id,
            self.timestamp,
            [[v.pubkey, v.power] for v in self.validators],
            [[a.address, a.balance] for a in self.allocations],
            self.min_gas_price,
            self.consensus.to_value(),
            self.governance.to_value(),
            [i.to_value() for i in self.identities],
            [[m.address, *m.to_value()] for m in self.council],
        ]

    @property
    def block_gas_limit(self) -> int:
        """The block gas limit at genesis; a governance parameter, changed by proposal."""
        return self.governance.block_gas_limit

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
            "consensus": self.consensus.to_json(),
            "governance": self.governance.to_json(),
            "identities": [i.to_json() for i in self.identities],
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
            governance_doc = dict(doc.get("governance", {}))
            if "block_gas_limit" in doc:  # files from before it was a governance parameter
                governance_doc.setdefault("block_gas_limit", doc["block_gas_limit"])
            governance = GovernanceParams.from_json(governance_doc)
            identities = tuple(GenesisIdentity.from_json(i) for i in doc.get("identities", []))
            council = tuple(parse_member_json(m, governance) for m in doc.get("council", []))
            genesis = cls(
                chain_id=int(doc["chain_id"]),
                timestamp=int(doc["timestamp"]),
                validators=validators,
                allocations=allocations,
                min_gas_price=int(doc.get("min_gas_price", gas.DEFAULT_GAS_PRICE)),
                name=str(doc.get("name", "aither")),
                consensus=ConsensusParams.from_json(doc.get("consensus", {})),
                governance=governance,
                identities=identities,
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
        if min(dataclasses.astuple(self.consensus)) < 0:
            raise GenesisError("consensus timeouts must not be negative")
        try:
            self.governance.validate()
        except GovernanceError as exc:
            raise GenesisError(f"governance: {exc}") from None
        for identity in self.identities:
            identity.check()
        registered = {i.address for i in self.identities}
        if len(registered) != len(self.identities):
            raise GenesisError("an identity is listed twice")
        names = [i.name for i in self.identities if i.name]
        taken = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if taken is not None:
            raise GenesisError(f"two identities are named {taken}")
        addresses = [m.address for m in self.council]
        if len(set(addresses)) != len(addresses):
            raise GenesisError("a council member is listed twice")
        stranger = next((a for a in addresses if a not in registered), None)
        if stranger is not None:
            raise GenesisError(
                f"council member {to_checksum_address(stranger)} has no identity: every member "
                "must be one of the genesis `identities` (with its public key)"
            )
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


def _integer(value: object) -> int:
    """An integer from a genesis file (JSON numbers, or their text)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise GenesisError(f"{value!r} is not an integer")
    try:
        return int(value)
    except ValueError:
        raise GenesisError(f"{value!r} is not an integer") from None


def _as_value(value: object) -> Value:
    """A JSON value as the canonical value a transaction carries; the register payload's own
    rules then judge it. Maps and fractions have no such value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list):
        return [_as_value(item) for item in value]
    raise GenesisError(f"{value!r} is not a value an identity can hold (text, integer or list)")
