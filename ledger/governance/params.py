"""The governance parameters: every rule a proposal is filed, tallied and enacted by.

Fixed in genesis and changed only by a passed `params` proposal. Their wire form is a fixed-order
list (the integers of `_INT_FIELDS`, the expiry flag, the role weights); their genesis form is
JSON. Fractions are parts per million (`PPM` = 1.0). The parameters in force are one state entry,
`PARAMS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypeGuard

from core.amounts import MAX_AMOUNT, UNIT
from core.encoding import Value, decode, encode
from core.errors import InvalidTransaction
from ledger.governance.errors import InvalidSpec
from ledger.governance.shadow import MAX_SHADOW_BLOCKS
from ledger.state import Store

PPM = 1_000_000
# Hard cap on a text field, whatever the parameters say: a transaction is at most 64 KiB.
MAX_TEXT_FIELD = 64 * 1024

PARAMS = b"P"  # (the key itself) -> GovernanceParams


class ProposalKind(Enum):
    """What a proposal changes; each kind is decided on its own track (`GovernanceParams.track`)."""

    CODE = "code"  # rewrite a `council` region of an agent
    PARAMS = "params"  # replace the governance parameters
    COUNCIL = "council"  # add or remove council members
    REVERT = "revert"  # restore a region from a snapshot (an earlier code id)
    POLICY = "policy"  # set the SECURITY_CHECK policy of an agent with a `council` region
    CHAIN = "chain"  # replace the chain parameters (block limits, gas price, timeouts)
    GAS = "gas"  # put a new gas schedule in force
    VALIDATORS = "validators"  # add or remove validators, or change their power
    AVM = "avm"  # let code of a newer AVM version be deployed


# Kinds that change the protocol itself: without a track of their own they are decided over twice
# the voting period and enactment delay, by at least a two-thirds majority.
PROTOCOL_KINDS = frozenset(
    {ProposalKind.CHAIN, ProposalKind.GAS, ProposalKind.VALIDATORS, ProposalKind.AVM}
)
PROTOCOL_THRESHOLD_PPM = 666_667


@dataclass(frozen=True, slots=True)
class Track:
    """How proposals of one kind are decided (as OpenGov's tracks): the least deposit, the
    voting period and enactment delay (blocks), the quorum and the threshold (ppm)."""

    min_deposit: int
    voting_period: int
    quorum_ppm: int
    threshold_ppm: int
    enactment_delay: int

    def to_value(self) -> list[Value]:
        return [getattr(self, name) for name, _, _ in _TRACK_FIELDS]

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {name: getattr(self, name) for name, _, _ in _TRACK_FIELDS}
        doc["min_deposit"] = str(self.min_deposit)
        return doc


class Role(Enum):
    """A council member's review speciality; its weight comes from the parameters."""

    SECURITY_AUDITOR = "SecurityAuditor"
    LATENCY_PROFILER = "LatencyProfiler"
    MEMORY_OPTIMIZER = "MemoryOptimizer"
    REGRESSION_HUNTER = "RegressionHunter"
    STANDARDS_ENFORCER = "StandardsEnforcer"
    CUSTOM = "Custom"  # any other speciality, named by the member's `role_name`


DEFAULT_ROLE_WEIGHTS: tuple[tuple[Role, int], ...] = (
    (Role.SECURITY_AUDITOR, 1_500_000),
    (Role.LATENCY_PROFILER, 1_000_000),
    (Role.MEMORY_OPTIMIZER, 1_000_000),
    (Role.REGRESSION_HUNTER, 1_200_000),
    (Role.STANDARDS_ENFORCER, 800_000),
    (Role.CUSTOM, 1_000_000),
)
MAX_ROLE_WEIGHT = 100 * PPM

# The bound on a vote's explanation unless a `params` proposal sets another
# (`max_explanation_bytes`); the reviewer service writes explanations within it.
DEFAULT_MAX_EXPLANATION_BYTES = 2048

# (field name, lower bound, upper bound) of every integer parameter, in wire order.
_INT_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("voting_period", 1, 2**32),
    ("emergency_voting_period", 1, 2**32),
    ("enactment_delay", 0, 2**32),
    ("quorum_ppm", 0, PPM),
    ("threshold_ppm", 0, PPM),
    ("veto_ppm", 0, PPM),
    ("emergency_threshold_ppm", 0, PPM),
    ("min_deposit", 0, MAX_AMOUNT),
    ("cancel_burn_ppm", 0, PPM),
    ("max_rationale_bytes", 1, MAX_TEXT_FIELD),
    ("max_explanation_bytes", 1, MAX_TEXT_FIELD),
    ("max_ir_bytes", 1, MAX_TEXT_FIELD),
    ("max_tests_bytes", 1, MAX_TEXT_FIELD),
    ("sandbox_gas", 1, 2**62),
    ("initial_accuracy_ppm", 0, PPM),
    ("accuracy_step_ppm", 0, PPM),
    ("min_accuracy_ppm", 0, PPM),
    ("max_accuracy_ppm", 0, PPM),
    ("max_council_size", 1, 1024),
    ("max_active_proposals", 1, 1024),
    ("shadow_blocks", 0, MAX_SHADOW_BLOCKS),
    ("shadow_gas", 0, 2**62),
    ("shadow_txs", 0, 100_000),
)
_TRACK_FIELDS = tuple(f for f in _INT_FIELDS if f[0] in Track.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class GovernanceParams:
    """Every governance rule, fixed in genesis and changed only by a passed `params` proposal.

    Ratios are parts per million; the tally defaults are Cosmos x/gov's (quorum 0.334,
    threshold 0.5, veto 0.334). Gas is AVM milligas. `min_deposit` is in base units.
    """

    voting_period: int = 100  # blocks
    emergency_voting_period: int = 10  # blocks, for an emergency revert
    enactment_delay: int = 10  # blocks between passing and enactment (none for emergencies)
    quorum_ppm: int = 334_000  # share of the council's weight that must vote
    threshold_ppm: int = 500_000  # yes / (yes + no + veto) must be above this
    veto_ppm: int = 334_000  # veto / all votes above this: vetoed, deposit burnt
    emergency_threshold_ppm: int = 667_000
    min_deposit: int = 10 * UNIT
    burn_deposit_on_expiry: bool = False  # no quorum: the deposit is returned by default
    cancel_burn_ppm: int = 500_000  # share of the deposit burnt when the proposer cancels
    max_rationale_bytes: int = 4096
    max_explanation_bytes: int = DEFAULT_MAX_EXPLANATION_BYTES
    max_ir_bytes: int = 32 * 1024
    max_tests_bytes: int = 16 * 1024
    sandbox_gas: int = 500_000_000  # milligas for all of a proposal's tests, per code version
    initial_accuracy_ppm: int = 800_000
    accuracy_step_ppm: int = 50_000
    min_accuracy_ppm: int = 100_000
    max_accuracy_ppm: int = PPM
    max_council_size: int = 64
    max_active_proposals: int = 32
    # Shadow replay of a `gas` proposal (ledger/governance/shadow.py): the recent blocks it tries
    # the schedule on, the most gas and transactions those blocks may hold together. Both bound
    # the replay every validator runs inside a block: about 0.6 s here (bench/governance.py).
    shadow_blocks: int = 100
    shadow_gas: int = 600_000_000
    shadow_txs: int = 5_000
    role_weights: tuple[tuple[Role, int], ...] = DEFAULT_ROLE_WEIGHTS  # every Role, in order
    # Kinds decided by rules of their own, in ProposalKind order; the others by `track`'s default.
    tracks: tuple[tuple[ProposalKind, Track], ...] = ()

    def role_weight(self, role: Role) -> int:
        return next(weight for r, weight in self.role_weights if r is role)

    def track(self, kind: ProposalKind) -> Track:
        """The rules `kind` is decided by: its own track, else the parameters above (for a
        protocol kind: twice the voting period and delay, and a two-thirds threshold)."""
        own = next((t for k, t in self.tracks if k is kind), None)
        if own is not None:
            return own
        if kind in PROTOCOL_KINDS:
            return Track(
                self.min_deposit,
                2 * self.voting_period,
                self.quorum_ppm,
                max(self.threshold_ppm, PROTOCOL_THRESHOLD_PPM),
                2 * self.enactment_delay,
            )
        return Track(
            self.min_deposit,
            self.voting_period,
            self.quorum_ppm,
            self.threshold_ppm,
            self.enactment_delay,
        )

    def track_table(self) -> dict[str, dict[str, object]]:
        """Every kind's track in force, as aither_getCouncil shows it."""
        return {kind.value: self.track(kind).to_json() for kind in ProposalKind}

    def validate(self) -> None:
        """Raises InvalidSpec naming the first rule that does not hold."""
        for name, low, high in _INT_FIELDS:
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise InvalidSpec(f"{name} must be an integer in {low}..{high}")
        if type(self.burn_deposit_on_expiry) is not bool:
            raise InvalidSpec("burn_deposit_on_expiry must be true or false")
        if self.emergency_threshold_ppm < self.threshold_ppm:
            raise InvalidSpec("emergency_threshold_ppm must not be below threshold_ppm")
        if not self.min_accuracy_ppm <= self.initial_accuracy_ppm <= self.max_accuracy_ppm:
            raise InvalidSpec("accuracy must satisfy min <= initial <= max")
        if tuple(r for r, _ in self.role_weights) != tuple(Role):
            raise InvalidSpec("role_weights must give every role once, in order")
        if any(not _is_weight(w) for _, w in self.role_weights):
            raise InvalidSpec(_WEIGHT_RULE)
        kinds = [k for k, _ in self.tracks]
        if kinds != sorted(set(kinds), key=list(ProposalKind).index):
            raise InvalidSpec("tracks must name each kind once, in order")
        for kind, track in self.tracks:
            for name, low, high in _TRACK_FIELDS:
                value = getattr(track, name)
                if type(value) is not int or not low <= value <= high:
                    where = f"tracks.{kind.value}.{name}"
                    raise InvalidSpec(f"{where} must be an integer in {low}..{high}")

    def to_value(self) -> list[Value]:
        ints: list[Value] = [getattr(self, name) for name, _, _ in _INT_FIELDS]
        weights: list[Value] = [w for _, w in self.role_weights]
        tracks: list[Value] = [[k.value, t.to_value()] for k, t in self.tracks]
        return [*ints, self.burn_deposit_on_expiry, weights, tracks]

    @classmethod
    def from_value(cls, value: Value) -> GovernanceParams:
        """Decode and validate. Raises InvalidTransaction naming the problem."""
        count = len(_INT_FIELDS)
        if not isinstance(value, list) or len(value) != count + 3:
            raise InvalidTransaction(f"governance parameters must be a list of {count + 3} fields")
        weights = value[count + 1]
        if not (isinstance(weights, list) and len(weights) == len(Role)):
            raise InvalidTransaction(f"role_weights must list {len(Role)} weights")
        ints: dict[str, int] = {}
        for (name, low, high), field in zip(_INT_FIELDS, value, strict=False):
            if type(field) is not int or not low <= field <= high:
                raise InvalidTransaction(f"{name} must be an integer in {low}..{high}")
            ints[name] = field
        burn = value[count]
        if type(burn) is not bool:
            raise InvalidTransaction("burn_deposit_on_expiry must be true or false")
        checked: list[int] = []
        for weight in weights:
            if not _is_weight(weight):
                raise InvalidTransaction(_WEIGHT_RULE)
            checked.append(weight)
        params = cls(
            **ints,
            burn_deposit_on_expiry=burn,
            role_weights=tuple(zip(Role, checked, strict=True)),
            tracks=_tracks_from_value(value[count + 2]),
        )
        try:
            params.validate()
        except InvalidSpec as exc:
            raise InvalidTransaction(str(exc)) from None
        return params

    def to_json(self) -> dict[str, object]:
        """The genesis form: snake_case names, `min_deposit` as a decimal string of base units,
        role weights by role name, every ratio in ppm (integers: JSON never carries a float)."""
        doc: dict[str, object] = {name: getattr(self, name) for name, _, _ in _INT_FIELDS}
        doc["min_deposit"] = str(self.min_deposit)
        doc["burn_deposit_on_expiry"] = self.burn_deposit_on_expiry
        doc["role_weights"] = {role.value: weight for role, weight in self.role_weights}
        doc["tracks"] = {kind.value: track.to_json() for kind, track in self.tracks}
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> GovernanceParams:
        """Read the genesis form; missing names take their defaults, unknown names are refused.
        Raises InvalidSpec."""
        known = {name for name, _, _ in _INT_FIELDS}
        known |= {"burn_deposit_on_expiry", "role_weights", "tracks"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise InvalidSpec(f"unknown governance parameter {unknown[0]!r}")
        defaults = cls()
        ints: dict[str, int] = {}
        for name, _, _ in _INT_FIELDS:
            raw = doc.get(name, getattr(defaults, name))
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise InvalidSpec(f"{name} must be an integer")
            try:
                ints[name] = int(raw)
            except ValueError:
                raise InvalidSpec(f"{name} must be an integer, not {raw!r}") from None
        burn = doc.get("burn_deposit_on_expiry", False)
        if type(burn) is not bool:
            raise InvalidSpec("burn_deposit_on_expiry must be true or false")
        weights_doc = doc.get("role_weights", {})
        if not isinstance(weights_doc, dict):
            raise InvalidSpec("role_weights must map role names to ppm weights")
        bad = sorted(set(weights_doc) - {role.value for role in Role})
        if bad:
            raise InvalidSpec(f"unknown role {bad[0]!r} in role_weights")
        weights: list[tuple[Role, int]] = []
        for role in Role:
            weight = weights_doc.get(role.value, defaults.role_weight(role))
            if not _is_weight(weight):
                raise InvalidSpec(_WEIGHT_RULE)
            weights.append((role, weight))
        params = cls(**ints, burn_deposit_on_expiry=burn, role_weights=tuple(weights),
                     tracks=_tracks_from_json(doc.get("tracks", {}), ints))  # fmt: skip
        params.validate()
        return params


def _kind(name: object, where: str) -> ProposalKind:
    try:
        return ProposalKind(name)
    except ValueError:
        kinds = ", ".join(k.value for k in ProposalKind)
        raise InvalidSpec(f"{where}: no proposal kind {name!r} (kinds: {kinds})") from None


def _tracks_from_value(value: Value) -> tuple[tuple[ProposalKind, Track], ...]:
    if not (isinstance(value, list) and len(value) <= len(ProposalKind)):
        raise InvalidTransaction(f"tracks must be a list of at most {len(ProposalKind)}")
    tracks = []
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list)):
            raise InvalidTransaction("a track is [kind, [its rules]]")
        rules = [v for v in entry[1] if _is_int(v)]
        if len(rules) != len(entry[1]) or len(rules) != len(_TRACK_FIELDS):
            raise InvalidTransaction(f"a track's rules are {len(_TRACK_FIELDS)} integers")
        try:
            kind = _kind(entry[0], "tracks")
        except InvalidSpec as exc:
            raise InvalidTransaction(str(exc)) from None
        names = [name for name, _, _ in _TRACK_FIELDS]
        tracks.append((kind, Track(**dict(zip(names, rules, strict=True)))))
    return tuple(tracks)


def _tracks_from_json(doc: object, base: dict[str, int]) -> tuple[tuple[ProposalKind, Track], ...]:
    """{kind: {min_deposit, voting_period, quorum_ppm, threshold_ppm, enactment_delay}}; a
    missing rule is the parameter of the same name in `base`."""
    if not isinstance(doc, dict):
        raise InvalidSpec("tracks must map proposal kinds to their rules")
    tracks = []
    for name, rules in doc.items():
        kind = _kind(name, "tracks")
        if not isinstance(rules, dict):
            raise InvalidSpec(f"tracks.{kind.value} must be an object of rules")
        known = {field for field, _, _ in _TRACK_FIELDS}
        unknown = sorted(set(rules) - known)
        if unknown:
            raise InvalidSpec(f"tracks.{kind.value}: unknown rule {unknown[0]!r}")
        values = {}
        for field, _, _ in _TRACK_FIELDS:
            raw = rules.get(field, base[field])
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise InvalidSpec(f"tracks.{kind.value}.{field} must be an integer")
            try:
                values[field] = int(raw)
            except ValueError:
                raise InvalidSpec(f"tracks.{kind.value}.{field} must be an integer") from None
        tracks.append((kind, Track(**values)))
    return tuple(sorted(tracks, key=lambda t: list(ProposalKind).index(t[0])))


def _is_int(value: object) -> TypeGuard[int]:
    return type(value) is int


_WEIGHT_RULE = f"a role weight must be an integer in 0..{MAX_ROLE_WEIGHT} (ppm)"


def _is_weight(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value <= MAX_ROLE_WEIGHT


def load_params(store: Store) -> GovernanceParams:
    """The parameters in force (the defaults on a chain whose genesis set none)."""
    raw = store.get(PARAMS)
    return GovernanceParams() if raw is None else GovernanceParams.from_value(decode(raw))


def put_params(store: Store, params: GovernanceParams) -> None:
    store.put(PARAMS, encode(params.to_value()))
