"""The genesis file: chain id, validators, pre-funded accounts, chain parameters, identities,
and the governance rules with the initial council (ledger/governance/council.py), every member of
which is one of the genesis identities.

JSON for people (amounts as decimal strings of base units, keys and addresses as 0x-hex); its
canonical encoding's hash identifies the chain, so a data directory cannot be reopened under a
different genesis by mistake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.crypto import PUBKEY_SIZE, address_of, hash32, parse_address, to_checksum_address
from core.encoding import Value, encode
from core.errors import AitherError, DecodeError, InvalidTransaction
from ledger.chain_params import ChainParams, ChainParamsError
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
class Genesis:
    chain_id: int
    timestamp: int
    validators: tuple[Validator, ...]
    allocations: tuple[Allocation, ...]
    name: str = field(default="aither")
    chain: ChainParams = field(default_factory=ChainParams)  # changed later by `chain` proposals
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
            self.chain.to_value(),
            self.governance.to_value(),
            [i.to_value() for i in self.identities],
            [[m.address, *m.to_value()] for m in self.council],
        ]

    @property
    def block_gas_limit(self) -> int:
        """The block gas limit at genesis (a chain parameter, changed by proposal)."""
        return self.chain.block_gas_limit

    @property
    def min_gas_price(self) -> int:
        """The least gas price at genesis (a chain parameter, changed by proposal)."""
        return self.chain.min_gas_price

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
            "chain": self.chain.to_json(),
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
            chain = ChainParams.from_json(_chain_doc(doc, governance_doc))
            governance = GovernanceParams.from_json(governance_doc)
            identities = tuple(GenesisIdentity.from_json(i) for i in doc.get("identities", []))
            council = tuple(parse_member_json(m, governance) for m in doc.get("council", []))
            genesis = cls(
                chain_id=int(doc["chain_id"]),
                timestamp=int(doc["timestamp"]),
                validators=validators,
                allocations=allocations,
                name=str(doc.get("name", "aither")),
                chain=chain,
                governance=governance,
                identities=identities,
                council=council,
            )
        except (KeyError, TypeError, ValueError, AttributeError, GovernanceError,
                ChainParamsError) as exc:  # fmt: skip
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
        try:
            self.chain.validate()
        except ChainParamsError as exc:
            raise GenesisError(f"chain: {exc}") from None
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


def _chain_doc(doc: dict[str, Any], governance: dict[str, Any]) -> dict[str, Any]:
    """The `chain` object of a genesis file, with what older files held elsewhere moved in: the
    gas price and block gas limit at the top (or the limit among the governance parameters),
    the timeouts under `consensus`. (`governance` loses its block gas limit.)"""
    chain = dict(doc.get("chain", {}))
    moved = {
        **{k: doc[k] for k in ("min_gas_price", "block_gas_limit") if k in doc},
        **dict(doc.get("consensus", {})),
    }
    if "block_gas_limit" in governance:
        moved["block_gas_limit"] = governance.pop("block_gas_limit")
    return {**moved, **chain}


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


def _as_value(value: object) -> Value:
    """A JSON value as the canonical value a transaction carries; the register payload's own
    rules then judge it. Maps and fractions have no such value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list):
        return [_as_value(item) for item in value]
    raise GenesisError(f"{value!r} is not a value an identity can hold (text, integer or list)")
