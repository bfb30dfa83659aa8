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
from ledger import gas
from ledger.governance.errors import InvalidSpec
from ledger.state import Store

PPM = 1_000_000
# Hard cap on a text field, whatever the parameters say: a transaction is at most 64 KiB.
MAX_TEXT_FIELD = 64 * 1024

PARAMS = b"P"  # (the key itself) -> GovernanceParams


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
    ("block_gas_limit", gas.TX_BASE, 2**62),
)


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
    # Gas all of a block's transactions may use together (ledger gas = AVM milligas): about a
    # second of the tightest AVM loop on the machines the project measures on (README).
    block_gas_limit: int = gas.DEFAULT_BLOCK_GAS_LIMIT
    role_weights: tuple[tuple[Role, int], ...] = DEFAULT_ROLE_WEIGHTS  # every Role, in order

    def role_weight(self, role: Role) -> int:
        return next(weight for r, weight in self.role_weights if r is role)

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

    def to_value(self) -> list[Value]:
        ints: list[Value] = [getattr(self, name) for name, _, _ in _INT_FIELDS]
        return [*ints, self.burn_deposit_on_expiry, [w for _, w in self.role_weights]]

    @classmethod
    def from_value(cls, value: Value) -> GovernanceParams:
        """Decode and validate. Raises InvalidTransaction naming the problem."""
        count = len(_INT_FIELDS)
        if not isinstance(value, list) or len(value) != count + 2:
            raise InvalidTransaction(f"governance parameters must be a list of {count + 2} fields")
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
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> GovernanceParams:
        """Read the genesis form; missing names take their defaults, unknown names are refused.
        Raises InvalidSpec."""
        known = {name for name, _, _ in _INT_FIELDS} | {"burn_deposit_on_expiry", "role_weights"}
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
        params = cls(**ints, burn_deposit_on_expiry=burn, role_weights=tuple(weights))
        params.validate()
        return params


_WEIGHT_RULE = f"a role weight must be an integer in 0..{MAX_ROLE_WEIGHT} (ppm)"


def _is_weight(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value <= MAX_ROLE_WEIGHT


def load_params(store: Store) -> GovernanceParams:
    """The parameters in force (the defaults on a chain whose genesis set none)."""
    raw = store.get(PARAMS)
    return GovernanceParams() if raw is None else GovernanceParams.from_value(decode(raw))


def put_params(store: Store, params: GovernanceParams) -> None:
    store.put(PARAMS, encode(params.to_value()))
