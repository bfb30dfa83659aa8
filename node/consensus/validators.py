"""The validator set: voting power, quorum thresholds and weighted round-robin proposers.

Thresholds are integer comparisons (`3 * power > 2 * total`), never fractions. Proposers follow
CometBFT's proposer-priority algorithm: every selection adds each validator's power to its
priority, picks the highest (ties to the lowest public key) and charges it the total power, so
over a window each validator proposes in proportion to its power. Validators are kept sorted by
public key, so nothing depends on the order a caller listed them in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from core.crypto import PUBKEY_SIZE
from core.encoding import decode, encode
from core.errors import AitherError, DecodeError
from ledger.block import MAX_VALIDATORS

# Priorities of validators are kept within this many times the total power of each other.
PRIORITY_WINDOW_FACTOR = 2
# As in CometBFT: small enough that priorities never approach 64 bits on other implementations.
MAX_TOTAL_POWER = (2**63 - 1) // 8


class InvalidValidatorSet(AitherError):
    """A validator set that cannot be used: empty, a bad key, a non-positive power."""


@dataclass(frozen=True, slots=True)
class Validator:
    pubkey: bytes
    power: int
    priority: int = 0


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators sorted by public key, with the proposer priorities of one height."""

    validators: tuple[Validator, ...]
    total_power: int = field(init=False)
    _powers: dict[bytes, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        vals = self.validators
        if not vals:
            raise InvalidValidatorSet("a validator set needs at least one validator")
        if len(vals) > MAX_VALIDATORS:
            raise InvalidValidatorSet(f"at most {MAX_VALIDATORS} validators")
        for v in vals:
            if not isinstance(v.pubkey, bytes) or len(v.pubkey) != PUBKEY_SIZE:
                raise InvalidValidatorSet("a validator key is 32 bytes")
            if not isinstance(v.power, int) or isinstance(v.power, bool) or v.power <= 0:
                raise InvalidValidatorSet("a validator's power is a positive integer")
        if any(a.pubkey >= b.pubkey for a, b in pairwise(vals)):
            raise InvalidValidatorSet("validators must be unique and sorted by key")
        total = sum(v.power for v in vals)
        if total > MAX_TOTAL_POWER:
            raise InvalidValidatorSet(f"total power exceeds {MAX_TOTAL_POWER}")
        object.__setattr__(self, "total_power", total)
        object.__setattr__(self, "_powers", {v.pubkey: v.power for v in vals})

    @classmethod
    def from_powers(cls, powers: Mapping[bytes, int]) -> ValidatorSet:
        """A fresh set (all priorities zero) from pubkey -> power, e.g. from genesis."""
        return cls(tuple(Validator(k, p) for k, p in sorted(powers.items())))

    # Membership and thresholds

    def __contains__(self, pubkey: object) -> bool:
        return pubkey in self._powers

    def __len__(self) -> int:
        return len(self.validators)

    def power_of(self, pubkey: bytes) -> int:
        """Voting power of `pubkey`, 0 for a non-member."""
        return self._powers.get(pubkey, 0)

    @property
    def powers(self) -> dict[bytes, int]:
        """pubkey -> power, the form `CommitCertificate.verify` takes."""
        return dict(self._powers)

    def is_quorum(self, power: int) -> bool:
        """More than 2/3 of the total power (the paper's 2f+1)."""
        return 3 * power > 2 * self.total_power

    def exceeds_one_third(self, power: int) -> bool:
        """More than 1/3 of the total power (the paper's f+1: at least one honest member)."""
        return 3 * power > self.total_power

    # Proposer selection

    def proposers(self) -> Iterator[bytes]:
        """The proposers of rounds 0, 1, 2, ... of the height this set belongs to."""
        priorities = self._centered()
        while True:
            yield self.validators[self._select(priorities)].pubkey

    def proposer(self, round_: int) -> bytes:
        """The proposer of `round_` (linear in the round: callers cache `proposers()`)."""
        for r, pubkey in enumerate(self.proposers()):
            if r == round_:
                return pubkey
        raise AssertionError("unreachable")

    def advance(self) -> ValidatorSet:
        """The same validators with the priorities of the next height."""
        priorities = self._centered()
        self._select(priorities)
        return self._with_priorities(priorities)

    def updated(self, changes: Mapping[bytes, int]) -> ValidatorSet:
        """Apply power changes (0 removes a validator); newcomers start at the back of the line.

        As in CometBFT a newcomer's priority is -1.125 times the new total, so joining (or
        leaving and rejoining) never moves a validator to the front.
        """
        powers = {v.pubkey: v.power for v in self.validators}
        priorities = {v.pubkey: v.priority for v in self.validators}
        for pubkey, power in changes.items():
            if power == 0:
                powers.pop(pubkey, None)
                priorities.pop(pubkey, None)
            else:
                powers[pubkey] = power
        total = sum(powers.values())
        newcomer = -(total + (total >> 3))
        return ValidatorSet(
            tuple(Validator(k, powers[k], priorities.get(k, newcomer)) for k in sorted(powers))
        )

    def _centered(self) -> list[int]:
        priorities = [v.priority for v in self.validators]
        window = PRIORITY_WINDOW_FACTOR * self.total_power
        spread = max(priorities) - min(priorities)
        if spread > window:
            ratio = -(-spread // window)
            # Truncating division, as CometBFT's int64 division, so both agree on the result.
            priorities = [-(-p // ratio) if p < 0 else p // ratio for p in priorities]
        average = sum(priorities) // len(priorities)
        return [p - average for p in priorities]

    def _select(self, priorities: list[int]) -> int:
        best = 0
        for i, v in enumerate(self.validators):
            priorities[i] += v.power
            # Strictly greater: on a tie the earlier (lower) key wins.
            if priorities[i] > priorities[best]:
                best = i
        priorities[best] -= self.total_power
        return best

    def _with_priorities(self, priorities: list[int]) -> ValidatorSet:
        return ValidatorSet(
            tuple(
                Validator(v.pubkey, v.power, p)
                for v, p in zip(self.validators, priorities, strict=True)
            )
        )

    # Persistence

    def to_bytes(self) -> bytes:
        return encode([[v.pubkey, v.power, v.priority] for v in self.validators])

    @classmethod
    def from_bytes(cls, data: bytes) -> ValidatorSet:
        """Raises DecodeError on bytes that are not a valid encoded set."""
        value = decode(data)
        if not isinstance(value, list):
            raise DecodeError("a validator set is a list")
        validators = []
        for item in value:
            if not (isinstance(item, list) and len(item) == 3):
                raise DecodeError("a validator is [pubkey, power, priority]")
            pubkey, power, priority = item
            if not (isinstance(pubkey, bytes) and type(power) is int and type(priority) is int):
                raise DecodeError("a validator is [pubkey, power, priority]")
            validators.append(Validator(pubkey, power, priority))
        try:
            return cls(tuple(validators))
        except InvalidValidatorSet as exc:
            raise DecodeError(str(exc)) from None
