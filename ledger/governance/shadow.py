"""Shadow replay: a protocol change tried on the chain's own recent blocks before anyone votes.

When a `gas` proposal is sandboxed, every node runs the transactions of the last
`shadow_blocks` blocks again, each block against the state before it, under the proposed
schedule, and compares what they did then with what they do now (try-runtime's idea, seed 002's
shadow testing). The summary is part of the proposal's record, so it is computed at the block's
end by every node alike: the blocks are chosen from their headers (the newest first, until the
gas they used passes `shadow_gas`) and the replay reads only committed state. Reviewers read it:
an outcome that changes (a call that succeeded now traps, or the reverse) is a regression, a gas
delta is a price change.

The replay itself is the ledger's (it holds the history): governance sees it as a `ShadowRunner`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from avm.gas import GasSchedule
from core.crypto import HASH_SIZE
from core.encoding import Value
from core.schema import MAX_U64, fields, flag, items, sized_bytes, text, uint

MAX_SHADOW_BLOCKS = 128  # a network node keeps at least this many blocks' state (--history-blocks)
MAX_SHADOW_DIFFS = 32  # differences a summary lists (the count covers them all)
MAX_DIFF_ERROR = 512  # characters of a replayed transaction's error a difference keeps
_DAMAGED = "a damaged shadow replay summary"


@dataclass(frozen=True, slots=True)
class ShadowDiff:
    """One transaction that did something else under the proposed schedule."""

    block: int
    tx_hash: bytes
    ok_before: bool
    ok_after: bool
    gas_before: int
    gas_after: int
    error_after: str = ""  # why it fails now (or is left out of its block), clipped

    def __post_init__(self) -> None:
        if len(self.error_after) > MAX_DIFF_ERROR:  # an agent's REVERT message can be long
            object.__setattr__(self, "error_after", self.error_after[:MAX_DIFF_ERROR])

    @property
    def outcome_changed(self) -> bool:
        return self.ok_before != self.ok_after

    def to_value(self) -> list[Value]:
        return [self.block, self.tx_hash, self.ok_before, self.ok_after, self.gas_before,
                self.gas_after, self.error_after]  # fmt: skip

    @classmethod
    def from_value(cls, value: Value) -> ShadowDiff:
        block, tx_hash, ok_before, ok_after, before, after, error = fields(value, 7, _DAMAGED)
        return cls(
            uint(block, MAX_U64, _DAMAGED),
            sized_bytes(tx_hash, HASH_SIZE, _DAMAGED),
            flag(ok_before, _DAMAGED),
            flag(ok_after, _DAMAGED),
            uint(before, MAX_U64, _DAMAGED),
            uint(after, MAX_U64, _DAMAGED),
            text(error, 4 * MAX_DIFF_ERROR, _DAMAGED),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "block": self.block,
            "tx": "0x" + self.tx_hash.hex(),
            "okBefore": self.ok_before,
            "okAfter": self.ok_after,
            "gasBefore": self.gas_before,
            "gasAfter": self.gas_after,
            "error": self.error_after or None,
        }


@dataclass(frozen=True, slots=True)
class ShadowSummary:
    """What replaying blocks `first`..`last` under the proposed schedule changed. Gas is ledger
    gas (AVM milligas), summed over every replayed transaction."""

    first: int  # 0 and `last` 0: no block to replay (a chain younger than one block)
    last: int
    transactions: int
    outcome_changes: int
    gas_changes: int  # transactions whose gas differs, their outcome the same
    gas_before: int
    gas_after: int
    diffs: tuple[ShadowDiff, ...] = ()  # outcome changes first, then the largest gas deltas

    def to_value(self) -> list[Value]:
        counts: list[Value] = [self.first, self.last, self.transactions, self.outcome_changes,
                               self.gas_changes, self.gas_before, self.gas_after]  # fmt: skip
        return [*counts, [d.to_value() for d in self.diffs]]

    @classmethod
    def from_value(cls, value: Value) -> ShadowSummary:
        *counts, diffs = fields(value, 8, _DAMAGED)
        first, last, txs, outcomes, gas_changes, before, after = (
            uint(c, 2**64 * MAX_SHADOW_BLOCKS, _DAMAGED) for c in counts
        )
        listed = tuple(ShadowDiff.from_value(d) for d in items(diffs, MAX_SHADOW_DIFFS, _DAMAGED))
        return cls(first, last, txs, outcomes, gas_changes, before, after, listed)

    def to_json(self) -> dict[str, object]:
        """{firstBlock, lastBlock, transactions, outcomeChanges, gasChanges, gasBefore,
        gasAfter, diffs: [{block, tx, okBefore, okAfter, gasBefore, gasAfter, error}]}"""
        return {
            "firstBlock": self.first,
            "lastBlock": self.last,
            "transactions": self.transactions,
            "outcomeChanges": self.outcome_changes,
            "gasChanges": self.gas_changes,
            "gasBefore": self.gas_before,
            "gasAfter": self.gas_after,
            "diffs": [d.to_json() for d in self.diffs],
        }


def summarize(first: int, last: int, replayed: list[ShadowDiff]) -> ShadowSummary:
    """The summary of every replayed transaction (`replayed` holds one entry for each, changed
    or not), listing the outcome changes first and then the largest gas deltas."""
    changed = [d for d in replayed if d.outcome_changed or d.gas_before != d.gas_after]
    changed.sort(key=lambda d: (not d.outcome_changed, -abs(d.gas_after - d.gas_before),
                                d.block, d.tx_hash))  # fmt: skip
    outcomes = sum(1 for d in changed if d.outcome_changed)
    return ShadowSummary(
        first,
        last,
        len(replayed),
        outcomes,
        len(changed) - outcomes,
        sum(d.gas_before for d in replayed),
        sum(d.gas_after for d in replayed),
        tuple(changed[:MAX_SHADOW_DIFFS]),
    )


class ShadowRunner(Protocol):
    """The ledger's replay of its recent blocks under another gas schedule."""

    def __call__(self, schedule: GasSchedule, blocks: int, gas: int, txs: int) -> ShadowSummary:
        """Replay at most the last `blocks` blocks, the newest first until their committed gas
        would pass `gas` or their transactions `txs`, under `schedule`."""
        ...
