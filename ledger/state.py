"""Typed access to the state entries, over a write overlay with a stack of journals.

Every state entry is a (key, value) pair of bytes; the key's first byte names its table. All of
them, and nothing else, are committed to by the state root.

A transaction's writes go to a journal (`begin`, `commit`, `rollback`): a transfer uses just that
one. An agent call nests more journals on top of it (`checkpoint`, `commit(cp)`, `rollback(cp)`),
one per AVM call, so a trap undoes exactly the call's writes; reads look through the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.amounts import MAX_AMOUNT
from core.crypto import ADDRESS_SIZE
from core.encoding import decode, encode
from core.errors import DecodeError, ExecutionFailed
from core.schema import MAX_U64, fields, sized_bytes, text, uint

ACCOUNT = b"a"  # + address -> nonce (8 bytes) || balance (16 bytes), big-endian
TOKEN = b"t"  # + symbol -> [symbol, name, decimals, supply, creator]
TOKEN_BALANCE = b"b"  # + address + symbol -> balance
VALIDATOR = b"v"  # + pubkey -> power
VALIDATOR_TOTALS = b"W"  # (the key itself) -> [how many validators, their total power]
# Agents (see ledger/agents.py). An agent is also an account: its coins live under ACCOUNT.
CODE = b"c"  # + code id -> code object bytes; every version ever deployed, never deleted
AGENT = b"g"  # + address -> [code id, deployer, created at height, lineage length, channel]
STORAGE = b"k"  # + address + key -> value: the agent's flat storage (the AVM namespaces keys)
LINEAGE = b"l"  # + address + index (4 bytes) -> one code change, oldest first


class StateReader(Protocol):
    def get_state(self, key: bytes) -> bytes | None: ...


@runtime_checkable
class RangeReader(StateReader, Protocol):
    """A reader that also reads keys in order (the ledger; the scheduler needs it)."""

    def state_range(self, start: bytes, stop: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` entries with start <= key < stop, in key order."""
        ...


@dataclass(frozen=True, slots=True)
class Account:
    nonce: int = 0
    balance: int = 0


@dataclass(frozen=True, slots=True)
class Token:
    symbol: str
    name: str
    decimals: int
    supply: int
    creator: bytes


def decode_token(raw: bytes) -> Token:
    """A token record as `State.set_token` stores it."""
    symbol, name, decimals, supply, creator = fields(decode(raw), 5, "token record")
    damaged = "damaged token record"
    return Token(
        text(symbol, MAX_TOKEN_TEXT, damaged),
        text(name, MAX_TOKEN_TEXT, damaged),
        uint(decimals, MAX_U64, damaged),
        uint(supply, MAX_AMOUNT, damaged),
        sized_bytes(creator, ADDRESS_SIZE, damaged),
    )


MAX_TOKEN_TEXT = 1024  # a bound for reading back what the chain wrote (symbols and names are short)


# Accounts are the hottest entries (every transaction reads and writes two or three), so they
# have a fixed-width layout rather than msgpack: about ten times cheaper to read and write.
def encode_account(account: Account) -> bytes:
    return account.nonce.to_bytes(8, "big") + account.balance.to_bytes(16, "big")


def decode_account(raw: bytes) -> Account:
    if len(raw) != 24:
        raise DecodeError(f"an account entry is 24 bytes, got {len(raw)}")
    return Account(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big"))


class Store(Protocol):
    """What the tables of agents, identities, channels and governance need of state: `get` and
    `put` (a `State`, or the AVM's chain host, which records what it reads)."""

    def get(self, key: bytes) -> bytes | None: ...
    def put(self, key: bytes, value: bytes | None) -> None: ...


def read_account(store: Store, address: bytes) -> Account:
    raw = store.get(ACCOUNT + address)
    return Account() if raw is None else decode_account(raw)


def validator_power(store: Store, pubkey: bytes) -> int:
    raw = store.get(VALIDATOR + pubkey)
    return 0 if raw is None else uint(decode(raw), MAX_U64, "damaged validator power")


def validator_totals(store: Store) -> tuple[int, int]:
    """How many validators there are and their total power."""
    raw = store.get(VALIDATOR_TOTALS)
    if raw is None:
        return 0, 0
    count, total = fields(decode(raw), 2, "damaged validator totals")
    return uint(count, MAX_U64, "damaged validator totals"), uint(total, MAX_U64, "damaged")


def set_validator(store: Store, pubkey: bytes, power: int) -> None:
    """Give `pubkey` `power` (0 removes it from the set), keeping the totals."""
    before = validator_power(store, pubkey)
    count, total = validator_totals(store)
    count += (power > 0) - (before > 0)
    store.put(VALIDATOR_TOTALS, encode([count, total + power - before]))
    store.put(VALIDATOR + pubkey, encode(power) if power else None)


def move(store: Store, source: bytes, target: bytes, amount: int) -> None:
    """Move `amount` native units from `source` to `target`: the one way balances move between
    accounts. ExecutionFailed, with nothing changed, when the source holds less or the target
    would overflow."""
    if amount == 0:
        return
    have = read_account(store, source)
    if have.balance < amount:
        raise ExecutionFailed(f"insufficient funds: balance {have.balance}, need {amount}")
    if source == target:
        return
    got = read_account(store, target)
    if got.balance + amount > MAX_AMOUNT:
        raise ExecutionFailed("balance would overflow")
    store.put(ACCOUNT + source, encode_account(Account(have.nonce, have.balance - amount)))
    store.put(ACCOUNT + target, encode_account(Account(got.nonce, got.balance + amount)))


def burn(store: Store, source: bytes, amount: int) -> None:
    """Destroy `amount` native units held by `source` (a burnt deposit). ExecutionFailed, with
    nothing changed, when it holds less."""
    if amount == 0:
        return
    have = read_account(store, source)
    if have.balance < amount:
        raise ExecutionFailed(f"insufficient funds: balance {have.balance}, need {amount}")
    store.put(ACCOUNT + source, encode_account(Account(have.nonce, have.balance - amount)))


class State:
    """A block's pending writes over committed state, with a stack of open journals.

    `_tx` is the top journal (None when none is open) and `_below` the journals under it, so a
    transfer, which opens one, never walks a list.
    """

    __slots__ = ("_base", "_below", "_block", "_tx")

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self._block: dict[bytes, bytes | None] = {}
        self._tx: dict[bytes, bytes | None] | None = None
        self._below: list[dict[bytes, bytes | None]] = []

    def get(self, key: bytes) -> bytes | None:
        if self._tx is not None and key in self._tx:
            return self._tx[key]
        if self._below:  # journals of nested agent calls; a transfer has none
            for journal in reversed(self._below):
                if key in journal:
                    return journal[key]
        if key in self._block:
            return self._block[key]
        return self._base.get_state(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        (self._block if self._tx is None else self._tx)[key] = value

    def begin(self) -> None:
        """Open the transaction's journal (checkpoint 0)."""
        assert self._tx is None, "a transaction is already open"
        self._tx = {}

    def checkpoint(self) -> int:
        """Open a journal on top of the open ones; its number, for `commit` and `rollback`."""
        if self._tx is None:
            self._tx = {}
            return 0
        self._below.append(self._tx)
        self._tx = {}
        return len(self._below)

    def commit(self, checkpoint: int = 0) -> None:
        """Keep the writes made since `checkpoint` (0: the transaction's, into the block)."""
        top = self._tx
        assert top is not None and checkpoint <= len(self._below)
        if not self._below:  # the transaction's own journal: a transfer's only one
            self._block.update(top)
            self._tx = None
            return
        while len(self._below) > checkpoint:  # fold the journals above into `checkpoint`'s
            under = self._below.pop()
            under.update(top)
            top = under
        if checkpoint == 0:
            self._block.update(top)
            self._tx = None
        else:
            under = self._below.pop()
            under.update(top)
            self._tx = under

    def rollback(self, checkpoint: int = 0) -> None:
        """Undo every write made since `checkpoint` (0: the whole transaction)."""
        assert self._tx is not None and checkpoint <= len(self._below)
        if checkpoint == 0:
            self._tx = None
            self._below.clear()
        else:
            self._tx = self._below[checkpoint - 1]
            del self._below[checkpoint - 1 :]

    def keys_in(self, start: bytes, stop: bytes, limit: int) -> list[bytes]:
        """The first `limit` keys with start <= key < stop as this overlay sees them (its
        writes over the committed state), in order. Reads the block's writes once: call it once
        per pass, not per key. Requires a RangeReader under it; no journal may be open."""
        assert self._tx is None, "a transaction is still open"
        base = self._base
        if not isinstance(base, RangeReader):
            raise TypeError("ranges need a RangeReader under the State")
        written = {k: v for k, v in self._block.items() if start <= k < stop}
        present = {k for k, v in written.items() if v is not None}
        # At most len(written) committed keys are shadowed by this block's writes.
        for key, _ in base.state_range(start, stop, limit + len(written)):
            if key not in written:
                present.add(key)
        return sorted(present)[:limit]

    def changes(self) -> dict[bytes, bytes | None]:
        """The block's writes (None = deleted), to be committed with the block."""
        assert self._tx is None, "a transaction is still open"
        return self._block

    # Tables

    def account(self, address: bytes) -> Account:
        raw = self.get(ACCOUNT + address)
        return Account() if raw is None else decode_account(raw)

    def set_account(self, address: bytes, account: Account) -> None:
        self.put(ACCOUNT + address, encode_account(account))

    def token(self, symbol: str) -> Token | None:
        raw = self.get(TOKEN + symbol.encode())
        return None if raw is None else decode_token(raw)

    def set_token(self, token: Token) -> None:
        value = (token.symbol, token.name, token.decimals, token.supply, token.creator)
        self.put(TOKEN + token.symbol.encode(), encode(value))

    def token_balance(self, address: bytes, symbol: str) -> int:
        raw = self.get(TOKEN_BALANCE + address + symbol.encode())
        return 0 if raw is None else uint(decode(raw), MAX_AMOUNT, "damaged token balance")

    def set_token_balance(self, address: bytes, symbol: str, balance: int) -> None:
        self.put(TOKEN_BALANCE + address + symbol.encode(), encode(balance))

    def set_validator(self, pubkey: bytes, power: int) -> None:
        set_validator(self, pubkey, power)
