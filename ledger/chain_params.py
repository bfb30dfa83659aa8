"""The chain parameters, the gas schedule and the AVM version: the protocol's limits, timings,
prices and instruction set, enacted at a height.

Fixed in genesis and changed only by a passed `chain` proposal (a protocol track: a longer vote,
a two-thirds majority). They are one state entry, so every node applies the same ones from the
block after enactment and `aither_getChainParams(height)` reads them at any kept height.
Wire form: a fixed-order list of integers (`_FIELDS`); genesis form: JSON with the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from avm.errors import UnknownAvmVersion
from avm.gas import V1, GasSchedule, schedule_from_value, schedule_to_value
from avm.instructions import LATEST_VERSION, VERSIONS
from core.amounts import MAX_AMOUNT
from core.encoding import Value, decode, encode
from core.errors import InvalidTransaction
from ledger import gas
from ledger.state import Store

CHAIN_PARAMS = b"C"  # (the key itself) -> ChainParams
GAS_SCHEDULE = b"G"  # (the key itself) -> the version in force; + version (4 bytes) -> a schedule
AVM_VERSION = b"O"  # (the key itself) -> the newest AVM version code may be deployed for

# Fixed limits, which bound the governed ones.
MAX_TX_SIZE = 64 * 1024  # a signed transaction's bytes; a block always has room for one
# A proposal travels whole in one gossip message, which p2p/gossip.py caps just under 1 MiB.
MAX_BLOCK_BYTES = 768 * 1024
MAX_TIMEOUT_MS = 10 * 60 * 1000  # a round never waits ten minutes for anything

# (name, lower bound, upper bound) of every parameter, in wire order.
_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("block_gas_limit", gas.TX_BASE, 2**62),
    ("min_gas_price", 0, MAX_AMOUNT),
    ("max_block_bytes", MAX_TX_SIZE, MAX_BLOCK_BYTES),
    ("timeout_propose_ms", 1, MAX_TIMEOUT_MS),
    ("timeout_prevote_ms", 1, MAX_TIMEOUT_MS),
    ("timeout_precommit_ms", 1, MAX_TIMEOUT_MS),
    ("timeout_delta_ms", 0, MAX_TIMEOUT_MS),
    ("timeout_commit_ms", 0, MAX_TIMEOUT_MS),
)
NAMES = tuple(name for name, _, _ in _FIELDS)


class ChainParamsError(InvalidTransaction):
    """Chain parameters out of their bounds (named)."""


@dataclass(frozen=True, slots=True)
class ChainParams:
    """Gas is ledger gas (AVM milligas); the price in base units per gas; timeouts in ms, the
    round's waits growing by `timeout_delta_ms` each round (Tendermint's)."""

    # Gas all of a block's transactions may use together: about a second of the tightest AVM
    # loop on the machines the project measures on (README).
    block_gas_limit: int = gas.DEFAULT_BLOCK_GAS_LIMIT
    min_gas_price: int = gas.DEFAULT_GAS_PRICE
    # Transactions' bytes a proposer puts in one block: whatever the gas, the block still has to
    # travel to every validator within the propose timeout.
    max_block_bytes: int = 512 * 1024
    timeout_propose_ms: int = 3_000
    timeout_prevote_ms: int = 1_000
    timeout_precommit_ms: int = 1_000
    timeout_delta_ms: int = 500
    timeout_commit_ms: int = 1_000

    def validate(self) -> None:
        """Raises ChainParamsError naming the first parameter out of its bounds."""
        for name, low, high in _FIELDS:
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise ChainParamsError(f"{name} must be an integer in {low}..{high}")

    def to_value(self) -> list[Value]:
        return [getattr(self, name) for name in NAMES]

    @classmethod
    def from_value(cls, value: Value) -> ChainParams:
        """Decode and validate. Raises ChainParamsError naming the problem."""
        numbers = [v for v in value if type(v) is int] if isinstance(value, list) else []
        if not isinstance(value, list) or not len(numbers) == len(value) == len(_FIELDS):
            raise ChainParamsError(f"chain parameters are a list of {len(_FIELDS)} integers")
        params = cls(*numbers)
        params.validate()
        return params

    def to_json(self) -> dict[str, object]:
        """The genesis form: snake_case names, integers (the gas price as decimal text)."""
        doc: dict[str, object] = {name: getattr(self, name) for name in NAMES}
        doc["min_gas_price"] = str(self.min_gas_price)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, object], base: ChainParams | None = None) -> ChainParams:
        """Read the genesis form; a missing name keeps its value in `base` (the defaults when
        None); an unknown name is refused. Raises ChainParamsError."""
        unknown = sorted(set(doc) - set(NAMES))
        if unknown:
            names = ", ".join(NAMES)
            raise ChainParamsError(f"unknown chain parameter {unknown[0]!r} (parameters: {names})")
        start = base or cls()
        values: dict[str, int] = {}
        for name in NAMES:
            raw = doc.get(name, getattr(start, name))
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ChainParamsError(f"{name} must be an integer")
            try:
                values[name] = int(raw)
            except ValueError:
                raise ChainParamsError(f"{name} must be an integer, not {raw!r}") from None
        params = cls(**values)
        params.validate()
        return params

    def changes(self, other: ChainParams) -> dict[str, tuple[int, int]]:
        """name -> (this value, `other`'s) for every parameter that differs."""
        return {
            name: (getattr(self, name), getattr(other, name))
            for name in NAMES
            if getattr(self, name) != getattr(other, name)
        }


def load_chain_params(store: Store, genesis: ChainParams) -> ChainParams:
    """The parameters in force (`genesis`' on a chain that has not written them)."""
    raw = store.get(CHAIN_PARAMS)
    return genesis if raw is None else ChainParams.from_value(decode(raw))


def put_chain_params(store: Store, params: ChainParams) -> None:
    store.put(CHAIN_PARAMS, encode(params.to_value()))


# ---- gas schedules -----------------------------------------------------------------------------
# Every version ever enacted stays in state (a trace replays a call under the schedule it ran
# under); the version in force is one entry. A chain that enacted none runs V1.

# One object per schedule: the AVM caches a prepared program per (code, schedule object).
_INTERNED: dict[bytes, GasSchedule] = {}
_MAX_INTERNED = 64


def _schedule_key(version: int) -> bytes:
    return GAS_SCHEDULE + version.to_bytes(4, "big")


def gas_schedule(store: Store) -> GasSchedule:
    """The schedule agent calls are charged by in the block being executed."""
    raw = store.get(GAS_SCHEDULE)
    if raw is None:
        return V1
    found = gas_schedule_of(store, int.from_bytes(raw, "big"))
    assert found is not None, "the gas schedule in force is not in state"
    return found


def gas_schedule_of(store: Store, version: int) -> GasSchedule | None:
    """Schedule `version`, if the chain ever enacted it (V1 always)."""
    if not 1 <= version < 2**32:
        return None
    raw = store.get(_schedule_key(version))
    if raw is None:
        return V1 if version == 1 else None
    schedule = _INTERNED.get(raw)
    if schedule is None:
        schedule = schedule_from_value(decode(raw))
        if len(_INTERNED) >= _MAX_INTERNED:
            _INTERNED.clear()
        _INTERNED[raw] = schedule
    return schedule


def enact_gas_schedule(store: Store, schedule: GasSchedule) -> None:
    """Keep `schedule` and put it in force from the next block."""
    store.put(_schedule_key(schedule.version), encode(schedule_to_value(schedule)))
    store.put(GAS_SCHEDULE, schedule.version.to_bytes(4, "big"))


# ---- AVM versions ------------------------------------------------------------------------------
# Code records the version it was assembled for and runs under it for good; the chain's version
# is the newest that may be deployed (or reached by a patch). A chain starts on version 1.


def avm_version(store: Store) -> int:
    raw = store.get(AVM_VERSION)
    return 1 if raw is None else int.from_bytes(raw, "big")


def enact_avm_version(store: Store, version: int) -> None:
    """Let code of `version` be deployed from the next block. Raises UnknownAvmVersion when
    this node's AVM lacks it: the node must stop there (and be upgraded), not fork."""
    if version not in VERSIONS:
        raise UnknownAvmVersion(version, LATEST_VERSION)
    store.put(AVM_VERSION, version.to_bytes(4, "big"))
