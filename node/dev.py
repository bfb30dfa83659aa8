"""A dev chain's controls, as anvil's: blocks on demand, time, snapshots, and state set by hand.

Only a `--dev` node has them (`Node.dev`); the RPC methods (`aither_*`, and anvil's `evm_*` and
`anvil_*` names) are in node/rpc/dev_methods.py, the commands in `aither dev`.

State set by hand (a balance, a nonce, a loaded dump) is written by a block made at once, before
its transactions: the head's state root always commits to the state, so the chain reopens and
proves as any other. A snapshot is a block height; reverting rolls the ledger back through its
state history (`Ledger.revert_to`), in time proportional to what changed since.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from core.amounts import MAX_AMOUNT
from core.errors import AitherError
from core.schema import MAX_U64
from ledger.chain import Ledger
from ledger.state import ACCOUNT, Account, State
from ledger.tx import SignedTx

Prelude = Callable[[State], object]
MAX_STATE_KEY = 1024  # bytes of one key in a loaded dump (the longest the ledger writes is ~300)


class DevError(AitherError):
    """A dev control that cannot be done (a person's mistake, said so)."""


class BlockProducer(Protocol):
    """What the dev controls need of the consensus driver (node/driver.py)."""

    automine: bool
    block_time: float
    time_offset: int

    def clock(self) -> int: ...
    async def produce(self, prelude: Prelude | None = None) -> int: ...
    async def rewind(self, height: int) -> list[SignedTx]: ...


@dataclass(slots=True)
class DevChain:
    ledger: Ledger
    producer: BlockProducer
    accounts: tuple[bytes, ...] = ()
    impersonated: dict[bytes, bytes] = field(default_factory=dict)  # address -> public key
    _snapshots: dict[int, int] = field(default_factory=dict)  # id -> height
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # Blocks and time

    async def mine(self, blocks: int = 1, interval: int = 0) -> int:
        """Make `blocks` blocks now (with what waits in the mempool), `interval` seconds apart
        in their timestamps; the last one's height."""
        height = self.ledger.height
        for index in range(blocks):
            if index and interval:
                self.producer.time_offset += interval
            height = await self.producer.produce()
        return height

    def increase_time(self, seconds: int) -> int:
        """Move the clock of the next blocks forward; the total offset."""
        if seconds < 0:
            raise DevError("time only moves forward: give a positive number of seconds")
        self.producer.time_offset += seconds
        return self.producer.time_offset

    def set_next_timestamp(self, timestamp: int) -> None:
        """The next block's timestamp (the clock then runs on from it)."""
        head = self.ledger.head.timestamp
        if timestamp < head:
            raise DevError(f"timestamp {timestamp} is before the head block's ({head})")
        self.producer.time_offset = timestamp - int(time.time())

    def set_automine(self, enabled: bool) -> None:
        self.producer.automine = enabled

    def set_interval(self, seconds: float) -> None:
        """Make a block every `seconds` even without transactions (0: only on demand)."""
        if seconds < 0:
            raise DevError("the block interval must be 0 (off) or a positive number of seconds")
        self.producer.block_time = seconds

    # Snapshots

    def snapshot(self) -> int:
        """Remember the chain as it is now; an id to revert to."""
        snapshot_id = next(self._ids)
        self._snapshots[snapshot_id] = self.ledger.height
        return snapshot_id

    async def revert(self, snapshot_id: int) -> bool:
        """Roll back to a snapshot, forgetting it and every later one (as anvil does); False for
        an unknown id. The mempool is emptied."""
        height = self._snapshots.get(snapshot_id)
        if height is None:
            return False
        await self.producer.rewind(height)
        for later in [i for i in self._snapshots if i >= snapshot_id]:
            del self._snapshots[later]
        return True

    # State set by hand

    async def set_account(
        self, address: bytes, *, balance: int | None = None, nonce: int | None = None
    ) -> int:
        """Set an account's balance or nonce by a block made now; its height."""
        if nonce is not None and not 0 <= nonce <= MAX_U64:
            raise DevError(f"a nonce is 0..{MAX_U64}")
        if balance is not None and not 0 <= balance <= MAX_AMOUNT:
            raise DevError(f"a balance is 0..{MAX_AMOUNT} base units")

        def write(state: State) -> None:
            account = state.account(address)
            state.set_account(
                address,
                Account(
                    account.nonce if nonce is None else nonce,
                    account.balance if balance is None else balance,
                ),
            )

        return await self.producer.produce(write)

    def dump(self) -> dict[str, object]:
        """The whole state at the head, as JSON (`load` takes it back)."""
        head = self.ledger.head
        return {
            "chainId": self.ledger.chain_id,
            "height": head.height,
            "stateRoot": "0x" + head.state_root.hex(),
            "entries": [["0x" + k.hex(), "0x" + v.hex()] for k, v in self.ledger.state_entries()],
        }

    async def load(self, entries: Iterable[tuple[bytes, bytes]]) -> int:
        """Replace the whole state with `entries` by a block made now; its height."""
        wanted = dict(entries)
        for key in wanted:
            if not key or len(key) > MAX_STATE_KEY:
                raise DevError(f"a state key must be 1..{MAX_STATE_KEY} bytes")
            if key[:1] == ACCOUNT and len(key) != 1 + 20:
                raise DevError(f"0x{key.hex()} is not an account key (0x61 + 20 bytes)")
        gone = [key for key, _ in self.ledger.state_entries() if key not in wanted]

        def write(state: State) -> None:
            for key in gone:
                state.put(key, None)
            for key, value in wanted.items():
                state.put(key, value)

        return await self.producer.produce(write)

    def impersonate(self, address: bytes, pubkey: bytes) -> None:
        self.impersonated[address] = pubkey

    def stop_impersonating(self, address: bytes) -> bool:
        return self.impersonated.pop(address, None) is not None
