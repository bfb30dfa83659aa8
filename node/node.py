"""The node's transaction side: admission, the mempool and its journal, and commit bookkeeping.

Transactions are admitted on the asyncio loop (signatures on the verifier's threads). When and
how blocks are made is the consensus driver's business (`node.driver`); it hands every
committed block back here so the mempool and the listeners (logs, subscriptions) follow.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.crypto import hash32
from core.errors import AitherError, InvalidTransaction, TransactionRejected
from ledger import evidence
from ledger.agents import check_deploy_version
from ledger.block import MAX_VALIDATORS, Block
from ledger.chain import Ledger, PendingBlock
from ledger.evidence import JAILED, EvidencePayload
from ledger.receipt import Receipt
from ledger.state import State
from ledger.transition import check_admissible
from ledger.tx import Deploy, SignedTx, decode_transaction
from node.mempool import Mempool
from node.metrics import NodeMetrics
from node.verifier import SignatureVerifier

if TYPE_CHECKING:
    from node.dev import DevChain
    from node.swarm.service import SwarmService

log = logging.getLogger("aither.node")

MAX_BLOCK_TXS = 20_000


@dataclass(frozen=True, slots=True)
class BlockCommitted:
    block: Block
    transactions: tuple[SignedTx, ...]  # the block's, decoded
    receipts: tuple[Receipt, ...]
    round: int
    seconds: float  # from the start of the height (a synced block: since the last one decided)
    root_seconds: float
    synced: bool = False  # fetched from a peer, not decided here


class Node:
    def __init__(
        self,
        ledger: Ledger,
        *,
        mempool: Mempool | None = None,
        verifier_threads: int = 2,
    ) -> None:
        self.ledger = ledger
        self.mempool = Mempool() if mempool is None else mempool  # an empty pool is falsy
        self.verifier = SignatureVerifier(verifier_threads)
        self.work = asyncio.Event()  # set when a transaction is admitted
        self.peer_count: Callable[[], int] = lambda: 0
        self.swarm: SwarmService | None = None  # set when the node holds swarm identities
        self.dev_accounts: tuple[bytes, ...] = ()  # a dev chain's funded accounts (eth_accounts)
        self.dev: DevChain | None = None  # a dev chain's controls (node/dev.py)
        self._listeners: list[Callable[[BlockCommitted], object]] = []
        self._admitted: list[Callable[[list[SignedTx]], None]] = []
        self.metrics = NodeMetrics()
        self.metrics.watch(lambda: len(self.mempool), lambda: self.peer_count())
        self.metrics.start(ledger.height, ledger.validators())
        # The validator sets after the last two commits: block h's certificate was signed by
        # the set in force for h-1, which the commit of h-2 left.
        self._sets: deque[dict[bytes, int]] = deque([ledger.validators()] * 2, maxlen=2)

    @property
    def chain_id(self) -> int:
        return self.ledger.chain_id

    def on_block(self, listener: Callable[[BlockCommitted], object]) -> None:
        self._listeners.append(listener)

    def on_admitted(self, listener: Callable[[list[SignedTx]], None]) -> None:
        """Call `listener` with every batch of newly admitted transactions (to gossip them)."""
        self._admitted.append(listener)

    # Admission

    async def submit(self, raw: bytes) -> bytes:
        """Admit a transaction to the mempool and return its hash.

        Raises InvalidTransaction or TransactionRejected (both with a reason for a person).
        Submitting a transaction that is already pending or committed returns its hash again.
        """
        started = time.perf_counter()
        try:
            return await self._submit(raw)
        except AitherError:
            self.metrics.mempool_failed.inc()
            raise
        finally:
            self.metrics.admission_seconds.observe(time.perf_counter() - started)

    async def _submit(self, raw: bytes) -> bytes:
        stx = self.precheck(raw)
        if self._known(stx):
            return stx.hash
        if not await self.verifier.verify(stx):
            raise InvalidTransaction("bad signature")
        self.mempool.check(stx, self.ledger.account(stx.sender))
        await self._journal_and_admit([stx])
        return stx.hash

    async def submit_many(
        self, raws: list[bytes], *, gossip: bool = True, verified: Container[bytes] = ()
    ) -> list[bytes | AitherError]:
        """Admit a batch, verifying its signatures together; one hash or error per input.

        `gossip=False` for transactions that came from gossip: the network relays them already.
        `verified`: hashes of transactions whose signatures the caller has checked (the gossip
        topic's validator does, before relaying).
        """
        started = time.perf_counter()
        outcomes = await self._submit_many(raws, gossip=gossip, verified=verified)
        self.metrics.admission_seconds.observe(time.perf_counter() - started)
        self.metrics.mempool_failed.inc(sum(isinstance(o, AitherError) for o in outcomes))
        return outcomes

    async def _submit_many(
        self, raws: list[bytes], *, gossip: bool, verified: Container[bytes]
    ) -> list[bytes | AitherError]:
        outcomes: list[bytes | AitherError] = []
        to_verify: list[tuple[int, SignedTx]] = []
        for raw in raws:
            try:
                stx = self.precheck(raw)
            except AitherError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(stx.hash)
            if not self._known(stx):
                to_verify.append((len(outcomes) - 1, stx))
        unverified = [stx for _, stx in to_verify if stx.hash not in verified]
        checked = iter(await self.verifier.verify_many(unverified))
        valid = [stx.hash in verified or next(checked) for _, stx in to_verify]
        accepted: list[tuple[int, SignedTx]] = []
        for (index, stx), ok in zip(to_verify, valid, strict=True):
            try:
                if not ok:
                    raise InvalidTransaction("bad signature")
                self.mempool.check(stx, self.ledger.account(stx.sender))
                accepted.append((index, stx))
            except AitherError as exc:
                outcomes[index] = exc
        refused = await self._journal_and_admit([stx for _, stx in accepted], gossip=gossip)
        for index, stx in accepted:
            if stx.hash in refused:
                outcomes[index] = refused[stx.hash]
        return outcomes

    def precheck(self, raw: bytes) -> SignedTx:
        """Decode a transaction and refuse what no block could include (the checks that need
        no state: chain id, gas price, intrinsic gas, block gas limit)."""
        stx = decode_transaction(raw)
        if stx.tx.chain_id != self.chain_id:
            raise InvalidTransaction(
                f"wrong chain id {stx.tx.chain_id}, this chain is {self.chain_id}"
            )
        check_admissible(stx, self.ledger.next_context())
        payload = stx.tx.payload
        if isinstance(payload, Deploy):
            check_deploy_version(State(self.ledger), payload)
        if isinstance(payload, EvidencePayload):  # free to send: checked whole before admission
            try:
                evidence.check(State(self.ledger), self.chain_id, payload.evidence)
            except evidence.EvidenceRefused as exc:
                raise TransactionRejected(str(exc)) from None
        return stx

    def _known(self, stx: SignedTx) -> bool:
        return stx.hash in self.mempool or self.ledger.receipt(stx.hash) is not None

    async def _journal_and_admit(
        self, txs: list[SignedTx], *, gossip: bool = True
    ) -> dict[bytes, AitherError]:
        """Journal transactions durably, then admit them; return those refused meanwhile.

        Journaling comes first so that a block can never include a transaction whose journal
        entry is written after the block deleted it.
        """
        if not txs:
            return {}
        await asyncio.to_thread(self.ledger.journal_pending, txs)
        refused: dict[bytes, AitherError] = {}
        dropped: list[SignedTx] = []
        for stx in txs:
            try:
                dropped += self._admit(stx)
            except AitherError as exc:  # the pool changed while the journal was written
                refused[stx.hash] = exc
        if refused:
            self.ledger.forget_pending(refused)
        self._forget_dropped(dropped)
        admitted = [stx for stx in txs if stx.hash not in refused]
        if admitted and gossip:
            for listener in self._admitted:
                listener(admitted)
        if len(refused) == 1 and len(txs) == 1:
            raise next(iter(refused.values()))
        return refused

    def _admit(self, stx: SignedTx) -> list[SignedTx]:
        """Add `stx` to the pool; what it pushed out (replaced or evicted)."""
        dropped = self.mempool.add(stx, self.ledger.account(stx.sender))
        self.work.set()
        return dropped

    def _forget_dropped(self, dropped: list[SignedTx]) -> None:
        """The journal keeps only what the pool keeps: forget what admission pushed out."""
        if dropped:
            log.info("mempool: %d transactions replaced or evicted", len(dropped))
            self.ledger.forget_pending(stx.hash for stx in dropped)

    def restore_pending(self) -> int:
        """Re-admit the transactions journaled before a stop or crash; forget invalid ones."""
        invalid: list[bytes] = []
        dropped: list[SignedTx] = []
        restored = 0
        raws = self.ledger.pending_journal()
        stxs = []
        for raw in raws:
            try:
                stxs.append(self.precheck(raw))
            except AitherError:
                invalid.append(hash32(raw))
        # Lower nonces first, so that no transaction waits behind a gap it could fill itself.
        for stx in sorted(stxs, key=lambda s: (s.sender, s.tx.nonce)):
            try:
                if not stx.tx.has_valid_signature():
                    raise InvalidTransaction("bad signature")
                if self.ledger.receipt(stx.hash) is None:
                    dropped += self._admit(stx)
                    restored += 1
                    continue
            except AitherError:
                pass
            invalid.append(stx.hash)
        self.ledger.forget_pending(invalid)
        restored -= len(dropped)
        self._forget_dropped(dropped)
        if restored:
            log.info("restored %d pending transactions from the journal", restored)
        return restored

    def pending_nonce(self, address: bytes) -> int:
        return self.mempool.pending_nonce(address, self.ledger.account(address).nonce)

    # Block production

    def close(self) -> None:
        self.verifier.close()

    # What consensus asks of the transaction side

    def nonce_of(self, sender: bytes) -> int:
        return self.ledger.account(sender).nonce

    def has_ready(self) -> bool:
        return self.mempool.has_ready(self.nonce_of)

    def ready(self, limit: int = MAX_BLOCK_TXS) -> list[SignedTx]:
        return self.mempool.ready(limit, self.nonce_of)

    def committed(
        self, pending: PendingBlock, round_: int, seconds: float, synced: bool = False
    ) -> BlockCommitted:
        """Bookkeeping after a block is written: mempool, journal, log line, listeners."""
        self.mempool.remove(pending.transactions)
        self.mempool.remove(stx for stx, _ in pending.left_out)
        pruned = self.mempool.prune((stx.sender for stx in pending.transactions), self.nonce_of)
        expired = self.mempool.expire()
        if expired:
            log.info("mempool: %d transactions waited behind a nonce gap too long", len(expired))
        if pruned or expired:
            self.ledger.forget_pending(stx.hash for stx in pruned + expired)
        for stx, reason in pending.left_out:
            log.info("dropped tx %s: %s", stx.hash.hex(), reason)
        event = BlockCommitted(
            pending.block,
            pending.transactions,
            pending.receipts,
            round_,
            seconds,
            pending.root_seconds,
            synced,
        )
        log.info(
            "block %d committed: %d txs, %.3f s (state root %.3f s)",
            event.block.height,
            len(event.block.transactions),
            event.seconds,
            event.root_seconds,
        )
        self._measure(event)
        for listener in self._listeners:
            listener(event)
        return event

    def _measure(self, event: BlockCommitted) -> None:
        """The block's figures for /metrics: who signed the commit it carries (of the set that
        decided its parent, kept from two commits ago), the validators jailed now. Never in the
        way of the commit: a failure here is one log line."""
        block = event.block
        try:
            commit = block.header.last_commit
            signers = [s.validator for s in commit.signatures] if commit is not None else []
            decided_by = self._sets[0] if commit is not None else {}
            _, reader = self.ledger.state_at(block.height)
            jailed = reader.state_range(JAILED, bytes([JAILED[0] + 1]), MAX_VALIDATORS)
            self.metrics.block(
                block.height,
                event.round,
                len(block.transactions),
                len(block.encode()),  # at most the chain's max_block_bytes
                block.header.gas_used,
                None if event.synced else event.seconds,
                decided_by,
                signers,
                len(list(jailed)),
            )
        except Exception as exc:  # metrics must never stop a node
            log.warning("metrics of block %d: %s: %s", block.height, type(exc).__name__, exc)
        finally:
            self._sets.append(self.ledger.validators())
