"""The node: ledger, mempool, signature verifier and block production, on one asyncio loop.

Transactions are admitted on the loop (signatures on the verifier's threads); a block is built
and committed on a worker thread so the RPC keeps answering while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ledger.block import Block, Receipt
from ledger.chain import Ledger
from ledger.crypto import hash32
from ledger.errors import AitherError, InvalidTransaction, TransactionRejected
from ledger.tx import SignedTx, decode_transaction
from node.mempool import Mempool
from node.solo import SoloValidator
from node.verifier import SignatureVerifier

log = logging.getLogger("aither.node")

MAX_BLOCK_TXS = 20_000


@dataclass(frozen=True, slots=True)
class BlockCommitted:
    block: Block
    receipts: tuple[Receipt, ...]
    seconds: float
    root_seconds: float


class Node:
    def __init__(
        self,
        ledger: Ledger,
        validator: SoloValidator,
        *,
        block_time: float = 0.0,
        mempool: Mempool | None = None,
        verifier_threads: int = 2,
    ) -> None:
        self.ledger = ledger
        self.validator = validator
        self.block_time = block_time
        self.mempool = mempool or Mempool()
        self.verifier = SignatureVerifier(verifier_threads)
        self._wake = asyncio.Event()
        self._stopping = False
        self._producer: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[BlockCommitted], None]] = []
        self._next_block_at = time.monotonic()

    @property
    def chain_id(self) -> int:
        return self.ledger.chain_id

    def on_block(self, listener: Callable[[BlockCommitted], None]) -> None:
        self._listeners.append(listener)

    # Admission

    async def submit(self, raw: bytes) -> bytes:
        """Admit a transaction to the mempool and return its hash.

        Raises InvalidTransaction or TransactionRejected (both with a reason for a person).
        Submitting a transaction that is already pending or committed returns its hash again.
        """
        stx = self._precheck(raw)
        if self._known(stx):
            return stx.hash
        if not await self.verifier.verify(stx):
            raise InvalidTransaction("bad signature")
        self.mempool.check(stx, self.ledger.account(stx.sender))
        await self._journal_and_admit([stx])
        return stx.hash

    async def submit_many(self, raws: list[bytes]) -> list[bytes | AitherError]:
        """Admit a batch, verifying its signatures together; one hash or error per input."""
        outcomes: list[bytes | AitherError] = []
        to_verify: list[tuple[int, SignedTx]] = []
        for raw in raws:
            try:
                stx = self._precheck(raw)
            except AitherError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(stx.hash)
            if not self._known(stx):
                to_verify.append((len(outcomes) - 1, stx))
        verified = await self.verifier.verify_many([stx for _, stx in to_verify])
        accepted: list[tuple[int, SignedTx]] = []
        for (index, stx), ok in zip(to_verify, verified, strict=True):
            try:
                if not ok:
                    raise InvalidTransaction("bad signature")
                self.mempool.check(stx, self.ledger.account(stx.sender))
                accepted.append((index, stx))
            except AitherError as exc:
                outcomes[index] = exc
        refused = await self._journal_and_admit([stx for _, stx in accepted])
        for index, stx in accepted:
            if stx.hash in refused:
                outcomes[index] = refused[stx.hash]
        return outcomes

    def _precheck(self, raw: bytes) -> SignedTx:
        stx = decode_transaction(raw)
        if stx.tx.chain_id != self.chain_id:
            raise InvalidTransaction(
                f"wrong chain id {stx.tx.chain_id}, this chain is {self.chain_id}"
            )
        if stx.tx.gas_price < self.ledger.genesis.min_gas_price:
            raise TransactionRejected(
                f"gas price {stx.tx.gas_price} below minimum {self.ledger.genesis.min_gas_price}"
            )
        return stx

    def _known(self, stx: SignedTx) -> bool:
        return stx.hash in self.mempool or self.ledger.receipt(stx.hash) is not None

    async def _journal_and_admit(self, txs: list[SignedTx]) -> dict[bytes, AitherError]:
        """Journal transactions durably, then admit them; return those refused meanwhile.

        Journaling comes first so that a block can never include a transaction whose journal
        entry is written after the block deleted it.
        """
        if not txs:
            return {}
        await asyncio.to_thread(self.ledger.journal_pending, txs)
        refused: dict[bytes, AitherError] = {}
        for stx in txs:
            try:
                self._admit(stx)
            except AitherError as exc:  # the pool changed while the journal was written
                refused[stx.hash] = exc
        if refused:
            self.ledger.forget_pending(refused)
        if len(refused) == 1 and len(txs) == 1:
            raise next(iter(refused.values()))
        return refused

    def _admit(self, stx: SignedTx) -> None:
        self.mempool.add(stx, self.ledger.account(stx.sender))
        self._wake.set()

    def restore_pending(self) -> int:
        """Re-admit the transactions journaled before a stop or crash; forget invalid ones."""
        invalid: list[bytes] = []
        restored = 0
        raws = self.ledger.pending_journal()
        stxs = []
        for raw in raws:
            try:
                stxs.append(self._precheck(raw))
            except AitherError:
                invalid.append(hash32(raw))
        # Lower nonces first, so that no transaction waits behind a gap it could fill itself.
        for stx in sorted(stxs, key=lambda s: (s.sender, s.tx.nonce)):
            try:
                if not stx.tx.has_valid_signature():
                    raise InvalidTransaction("bad signature")
                if self.ledger.receipt(stx.hash) is None:
                    self._admit(stx)
                    restored += 1
                    continue
            except AitherError:
                pass
            invalid.append(stx.hash)
        self.ledger.forget_pending(invalid)
        if restored:
            log.info("restored %d pending transactions from the journal", restored)
        return restored

    def pending_nonce(self, address: bytes) -> int:
        return self.mempool.pending_nonce(address, self.ledger.account(address).nonce)

    # Block production

    def start(self) -> None:
        self.restore_pending()
        self._producer = asyncio.create_task(self._produce_forever(), name="block-producer")

    async def stop(self) -> None:
        """Finish the block being committed, if any, then stop producing."""
        self._stopping = True
        self._wake.set()
        if self._producer is not None:
            await self._producer
        self.verifier.close()

    async def _produce_forever(self) -> None:
        while not self._stopping:
            await self._wait_for_work()
            if self._stopping:
                break
            try:
                await self.produce_block()
            except Exception:
                log.exception("block production failed; the chain stays at %d", self.ledger.height)
                await asyncio.sleep(1)

    async def _wait_for_work(self) -> None:
        if self.block_time > 0:
            self._next_block_at += self.block_time
            delay = self._next_block_at - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._sleep_until_stop(), delay)
            else:  # fell behind (a slow block): keep the cadence from now on
                self._next_block_at = time.monotonic()
            return
        while not self._stopping and not self.mempool.has_ready(self._nonce_of):
            self._wake.clear()
            await self._wake.wait()

    async def _sleep_until_stop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._wake.wait()

    def _nonce_of(self, sender: bytes) -> int:
        return self.ledger.account(sender).nonce

    async def produce_block(self) -> BlockCommitted:
        """Build, certify and commit one block from the ready transactions."""
        started = time.perf_counter()
        candidates = self.mempool.ready(MAX_BLOCK_TXS, self._nonce_of)
        parent = self.ledger.head
        last_commit = self.ledger.commit_certificate(parent.height)
        pending = await asyncio.to_thread(
            self.ledger.build_block,
            candidates,
            int(time.time()),
            self.validator.proposer,
            last_commit,
        )
        certificate = self.validator.certify(pending)
        await asyncio.to_thread(self.ledger.commit, pending, certificate)
        self._after_commit(pending.transactions, pending.left_out)
        event = BlockCommitted(
            pending.block, pending.receipts, time.perf_counter() - started, pending.root_seconds
        )
        log.info(
            "block %d committed: %d txs, %.3f s (state root %.3f s)",
            event.block.height,
            len(event.block.transactions),
            event.seconds,
            event.root_seconds,
        )
        for stx, reason in pending.left_out:
            log.info("dropped tx %s: %s", stx.hash.hex(), reason)
        for listener in self._listeners:
            listener(event)
        return event

    def _after_commit(
        self, included: tuple[SignedTx, ...], left_out: tuple[tuple[SignedTx, str], ...]
    ) -> None:
        self.mempool.remove(included)
        self.mempool.remove(stx for stx, _ in left_out)
        pruned = self.mempool.prune((stx.sender for stx in included), self._nonce_of)
        if pruned:
            self.ledger.forget_pending(stx.hash for stx in pruned)
