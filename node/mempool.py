"""The mempool: admitted transactions waiting for a block, ordered by nonce per sender.

Admission (signature, chain id, size) happens before `add`; here the pool checks nonce order,
funds for everything the sender has pending, and its own bounds. A transaction admitted stays
until a block includes it or it can no longer be included (its nonce was used, its sender can no
longer pay).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ledger.errors import TransactionRejected
from ledger.governance_types import ProposePayload
from ledger.state import Account
from ledger.tx import Call, Deploy, SignedTx, Transfer

REPLACE_BUMP_PERCENT = 10


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_txs: int = 100_000
    max_bytes: int = 128 * 1024 * 1024
    max_nonce_gap: int = 64  # how far ahead of the account nonce a transaction may wait
    max_per_sender: int = 4_096


def _cost(stx: SignedTx) -> int:
    """The most native coin a transaction can take from its sender: its fee, plus the value it
    moves (a transfer's amount, an agent's value, a proposal's deposit into escrow)."""
    payload = stx.tx.payload
    if isinstance(payload, Transfer):
        value = 0 if payload.token else payload.amount
    elif isinstance(payload, Deploy | Call):
        value = payload.value
    elif isinstance(payload, ProposePayload):
        value = payload.spec.deposit
    else:
        value = 0
    return stx.tx.max_fee + value


class Mempool:
    def __init__(self, limits: MempoolLimits | None = None) -> None:
        self.limits = limits or MempoolLimits()
        self._by_hash: dict[bytes, SignedTx] = {}
        # sender -> nonce -> tx; senders in the order they first arrived (local, not consensus)
        self._by_sender: dict[bytes, dict[int, SignedTx]] = {}
        self._costs: dict[bytes, int] = {}  # sender -> sum of its pending transactions' costs
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> SignedTx | None:
        return self._by_hash.get(tx_hash)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def add(self, stx: SignedTx, account: Account) -> None:
        """Admit `stx` given its sender's committed account. Raises TransactionRejected."""
        replaced = self.check(stx, account)
        if replaced is not None:
            self._discard(replaced)
        self._by_sender.setdefault(stx.sender, {})[stx.tx.nonce] = stx
        self._by_hash[stx.hash] = stx
        self._costs[stx.sender] = self._costs.get(stx.sender, 0) + _cost(stx)
        self._bytes += len(stx.raw)

    def check(self, stx: SignedTx, account: Account) -> SignedTx | None:
        """Raise TransactionRejected unless `add` would admit `stx`; return what it replaces."""
        tx = stx.tx
        if tx.nonce < account.nonce:
            raise TransactionRejected(f"nonce too low: {tx.nonce}, account nonce {account.nonce}")
        if tx.nonce >= account.nonce + self.limits.max_nonce_gap:
            raise TransactionRejected(
                f"nonce {tx.nonce} is too far ahead of account nonce {account.nonce} "
                f"(at most {self.limits.max_nonce_gap - 1} ahead)"
            )
        queue = self._by_sender.get(stx.sender, {})
        replaced = queue.get(tx.nonce)
        if replaced is not None:
            bumped = replaced.tx.gas_price * (100 + REPLACE_BUMP_PERCENT) // 100
            if tx.gas_price < bumped:
                raise TransactionRejected(
                    f"nonce {tx.nonce} is already pending; "
                    f"a replacement needs gas price >= {bumped}"
                )
        elif len(queue) >= self.limits.max_per_sender:
            raise TransactionRejected("too many pending transactions from this sender")
        if len(self._by_hash) >= self.limits.max_txs or self._bytes + len(stx.raw) > (
            self.limits.max_bytes
        ):
            raise TransactionRejected("mempool is full, try again after the next block")
        committed = self._costs.get(stx.sender, 0) - (0 if replaced is None else _cost(replaced))
        if account.balance < committed + _cost(stx):
            raise TransactionRejected(
                f"insufficient funds: balance {account.balance}, pending costs {committed}, "
                f"this transaction up to {_cost(stx)}"
            )
        return replaced

    def pending_nonce(self, sender: bytes, account_nonce: int) -> int:
        """The next nonce after the sender's contiguous run of pending transactions."""
        queue = self._by_sender.get(sender, {})
        nonce = account_nonce
        while nonce in queue:
            nonce += 1
        return nonce

    def ready(self, limit: int, nonce_of: Callable[[bytes], int]) -> list[SignedTx]:
        """Up to `limit` transactions that can run now, each sender's in nonce order."""
        picked: list[SignedTx] = []
        for sender, queue in self._by_sender.items():
            nonce = nonce_of(sender)
            while nonce in queue and len(picked) < limit:
                picked.append(queue[nonce])
                nonce += 1
            if len(picked) >= limit:
                break
        return picked

    def has_ready(self, nonce_of: Callable[[bytes], int]) -> bool:
        return any(nonce_of(sender) in queue for sender, queue in self._by_sender.items())

    def remove(self, txs: Iterable[SignedTx]) -> None:
        for stx in txs:
            if stx.hash in self._by_hash:
                self._discard(stx)

    def prune(self, senders: Iterable[bytes], nonce_of: Callable[[bytes], int]) -> list[SignedTx]:
        """Drop transactions of `senders` whose nonce a block has used; return them."""
        dropped: list[SignedTx] = []
        for sender in set(senders):
            queue = self._by_sender.get(sender)
            if not queue:
                continue
            nonce = nonce_of(sender)
            dropped.extend(stx for n, stx in queue.items() if n < nonce)
        for stale in dropped:
            self._discard(stale)
        return dropped

    def _discard(self, stx: SignedTx) -> None:
        del self._by_hash[stx.hash]
        self._bytes -= len(stx.raw)
        queue = self._by_sender[stx.sender]
        del queue[stx.tx.nonce]
        self._costs[stx.sender] -= _cost(stx)
        if not queue:
            del self._by_sender[stx.sender]
            del self._costs[stx.sender]
