"""The mempool: admitted transactions waiting for a block, ordered by nonce per sender.

Admission (signature, chain id, gas price, intrinsic gas, block gas limit) happens before `add`;
here the pool checks nonce order, funds for everything the sender has pending, and its own
bounds, as geth's transaction pool does:

- A sender's transactions from its account nonce on without a gap are *executable*; those past
  a gap are *queued*. Queued transactions cost their sender nothing until they run, so they are
  bounded apart: per sender (`max_nonce_gap`), in all (`max_queued`, oldest dropped first) and in
  time (`queued_lifetime`, after which they are dropped).
- A full pool makes room for a transaction that pays a higher gas price than the cheapest one
  held: that one leaves, with the sender's later transactions (they could not run without it).
  Queued transactions are evicted before executable ones. A transaction that would itself be the
  cheapest is refused.

What leaves the pool other than into a block is returned to the caller, which forgets it from the
journal too.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.errors import TransactionRejected
from ledger.governance.payloads import ProposePayload
from ledger.state import Account
from ledger.tx import Call, Deploy, SignedTx, Transfer

REPLACE_BUMP_PERCENT = 10


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_txs: int = 50_000
    max_bytes: int = 64 * 1024 * 1024
    # How far ahead of the account nonce a transaction may wait: also the most transactions one
    # sender can hold in the pool (geth: 16 executable + 64 queued per account).
    max_nonce_gap: int = 64
    max_queued: int = 4_096  # transactions behind a nonce gap, all senders together
    queued_lifetime: float = 3 * 3600.0  # seconds a transaction may wait behind a gap (geth: 3 h)


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
    def __init__(
        self, limits: MempoolLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or MempoolLimits()
        self._clock = clock  # local bookkeeping only: the pool is not consensus
        self._by_hash: dict[bytes, SignedTx] = {}
        # sender -> nonce -> tx; senders in the order they first arrived (local, not consensus)
        self._by_sender: dict[bytes, dict[int, SignedTx]] = {}
        self._costs: dict[bytes, int] = {}  # sender -> sum of its pending transactions' costs
        self._queued: OrderedDict[bytes, float] = OrderedDict()  # hash -> when queued, oldest first
        self._by_price: list[tuple[int, int, bytes]] = []  # (gas price, arrival, hash), lazy heap
        self._arrivals = itertools.count()
        self._arrival: dict[bytes, int] = {}  # hash -> arrival order
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

    @property
    def queued_count(self) -> int:
        return len(self._queued)

    def add(self, stx: SignedTx, account: Account) -> list[SignedTx]:
        """Admit `stx` given its sender's committed account; return the transactions it pushed
        out (a replaced one, evicted cheaper ones, the oldest queued). Raises
        TransactionRejected."""
        replaced, victims = self._admission(stx, account)
        dropped = [] if replaced is None else [replaced]
        if replaced is not None:
            self._discard(replaced)
        for victim in victims:
            dropped += self._discard_with_successors(victim)
        self._by_sender.setdefault(stx.sender, {})[stx.tx.nonce] = stx
        self._by_hash[stx.hash] = stx
        self._costs[stx.sender] = self._costs.get(stx.sender, 0) + _cost(stx)
        self._bytes += len(stx.raw)
        self._arrival[stx.hash] = arrival = next(self._arrivals)
        heapq.heappush(self._by_price, (stx.tx.gas_price, arrival, stx.hash))
        if len(self._by_price) > 2 * len(self._by_hash) + 1024:  # drop entries of departed txs
            self._by_price = [e for e in self._by_price if e[2] in self._by_hash]
            heapq.heapify(self._by_price)
        self._reclassify(stx.sender, account.nonce)
        while len(self._queued) > self.limits.max_queued:
            oldest = next((s for s in self._queued_oldest_first() if s.sender != stx.sender), None)
            if oldest is None:
                break  # all queued are this sender's: max_nonce_gap bounds them
            dropped += self._discard_with_successors(oldest)
        return dropped

    def _queued_oldest_first(self) -> Iterable[SignedTx]:
        return (self._by_hash[tx_hash] for tx_hash in self._queued)

    def check(self, stx: SignedTx, account: Account) -> SignedTx | None:
        """Raise TransactionRejected unless `add` would admit `stx`; return what it replaces."""
        return self._admission(stx, account)[0]

    def _admission(self, stx: SignedTx, account: Account) -> tuple[SignedTx | None, list[SignedTx]]:
        """What admitting `stx` replaces and evicts; raises TransactionRejected if it may not."""
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
        committed = self._costs.get(stx.sender, 0) - (0 if replaced is None else _cost(replaced))
        if account.balance < committed + _cost(stx):
            raise TransactionRejected(
                f"insufficient funds: balance {account.balance}, pending costs {committed}, "
                f"this transaction up to {_cost(stx)}"
            )
        victims = [] if replaced is not None else self._room_for(stx)
        return replaced, victims

    def _room_for(self, stx: SignedTx) -> list[SignedTx]:
        """The transactions to evict so that `stx` fits: queued ones first, then the cheapest.
        Raises TransactionRejected if `stx` does not pay more than what it would push out."""
        count, size = len(self._by_hash) + 1, self._bytes + len(stx.raw)
        victims: list[SignedTx] = []
        if count <= self.limits.max_txs and size <= self.limits.max_bytes:
            return victims
        for victim in self._eviction_order(stx.sender):
            queued = victim.hash in self._queued
            if not queued and victim.tx.gas_price >= stx.tx.gas_price:
                break
            victims.append(victim)
            count, size = count - 1, size - len(victim.raw)
            if count <= self.limits.max_txs and size <= self.limits.max_bytes:
                return victims
        if count <= self.limits.max_txs and size <= self.limits.max_bytes:
            return victims
        raise TransactionRejected(
            "mempool is full: a transaction needs a gas price above "
            f"{self._lowest_price()} to take the place of the cheapest, or try after a block"
        )

    def _eviction_order(self, newcomer: bytes) -> Iterable[SignedTx]:
        """Queued transactions oldest first, then the cheapest by gas price (never the
        newcomer's own). Stale heap entries are dropped as they surface."""
        for stx in list(self._queued_oldest_first()):
            if stx.sender != newcomer:
                yield stx
        heap = list(self._by_price)  # a copy: a rejected newcomer must change nothing
        while heap:
            _, _, tx_hash = heapq.heappop(heap)
            cheapest = self._by_hash.get(tx_hash)
            if cheapest is not None and cheapest.sender != newcomer and tx_hash not in self._queued:
                yield cheapest

    def _lowest_price(self) -> int:
        while self._by_price and self._by_price[0][2] not in self._by_hash:
            heapq.heappop(self._by_price)
        return self._by_price[0][0] if self._by_price else 0

    def pending_nonce(self, sender: bytes, account_nonce: int) -> int:
        """The next nonce after the sender's contiguous run of pending transactions."""
        queue = self._by_sender.get(sender, {})
        nonce = account_nonce
        while nonce in queue:
            nonce += 1
        return nonce

    def ready(self, limit: int, nonce_of: Callable[[bytes], int]) -> list[SignedTx]:
        """Up to `limit` transactions that can run now, best first: each sender's in nonce
        order, and across senders by gas price (highest first), then by gas limit (smallest
        first, so that a block filled by one large call still takes the small ones that fit),
        then by arrival. As geth's price-and-nonce ordering; none of it is consensus."""
        heads: list[tuple[int, int, int, bytes, int]] = []
        for sender, queue in self._by_sender.items():
            nonce = nonce_of(sender)
            if nonce in queue:
                heads.append(self._rank(queue[nonce], nonce))
        heapq.heapify(heads)
        picked: list[SignedTx] = []
        while heads and len(picked) < limit:
            *_, sender, nonce = heapq.heappop(heads)
            queue = self._by_sender[sender]
            picked.append(queue[nonce])
            if nonce + 1 in queue:
                heapq.heappush(heads, self._rank(queue[nonce + 1], nonce + 1))
        return picked

    def _rank(self, stx: SignedTx, nonce: int) -> tuple[int, int, int, bytes, int]:
        return (-stx.tx.gas_price, stx.tx.gas_limit, self._arrival[stx.hash], stx.sender, nonce)

    def has_ready(self, nonce_of: Callable[[bytes], int]) -> bool:
        return any(nonce_of(sender) in queue for sender, queue in self._by_sender.items())

    def hashes(self) -> list[bytes]:
        return list(self._by_hash)

    def clear(self) -> list[SignedTx]:
        """Empty the pool (a dev chain's revert); what it held."""
        held = list(self._by_hash.values())
        self.remove(held)
        return held

    def remove(self, txs: Iterable[SignedTx]) -> None:
        for stx in txs:
            if stx.hash in self._by_hash:
                self._discard(stx)

    def prune(self, senders: Iterable[bytes], nonce_of: Callable[[bytes], int]) -> list[SignedTx]:
        """Drop transactions of `senders` whose nonce a block has used, and note which of their
        others can now run; return those dropped."""
        dropped: list[SignedTx] = []
        for sender in set(senders):
            queue = self._by_sender.get(sender)
            if not queue:
                continue
            nonce = nonce_of(sender)
            stale = [stx for n, stx in queue.items() if n < nonce]
            for old in stale:
                self._discard(old)
            dropped += stale
            if sender in self._by_sender:
                self._reclassify(sender, nonce)
        return dropped

    def expire(self) -> list[SignedTx]:
        """Drop the transactions that waited behind a gap longer than `queued_lifetime`."""
        deadline = self._clock() - self.limits.queued_lifetime
        dropped: list[SignedTx] = []
        while self._queued:
            tx_hash, since = next(iter(self._queued.items()))
            if since > deadline:
                break
            dropped += self._discard_with_successors(self._by_hash[tx_hash])
        return dropped

    def _reclassify(self, sender: bytes, account_nonce: int) -> None:
        """Mark the sender's transactions past its first nonce gap as queued, the rest not."""
        queue = self._by_sender.get(sender, {})
        runnable = self.pending_nonce(sender, account_nonce)
        now = self._clock()
        for nonce, stx in queue.items():
            if nonce < runnable:
                self._queued.pop(stx.hash, None)
            elif stx.hash not in self._queued:
                self._queued[stx.hash] = now

    def _discard_with_successors(self, stx: SignedTx) -> list[SignedTx]:
        """Drop `stx` and the sender's later transactions (they cannot run without it)."""
        queue = self._by_sender.get(stx.sender, {})
        gone = sorted((s for n, s in queue.items() if n >= stx.tx.nonce), key=lambda s: s.tx.nonce)
        for victim in gone:
            self._discard(victim)
        return gone

    def _discard(self, stx: SignedTx) -> None:
        del self._by_hash[stx.hash]
        del self._arrival[stx.hash]
        self._queued.pop(stx.hash, None)
        self._bytes -= len(stx.raw)
        queue = self._by_sender[stx.sender]
        del queue[stx.tx.nonce]
        self._costs[stx.sender] -= _cost(stx)
        if not queue:
            del self._by_sender[stx.sender]
            del self._costs[stx.sender]
