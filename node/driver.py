"""The consensus driver: runs the pure Tendermint core (`node.consensus.core`) for one node.

It feeds the core its inputs one at a time (network messages, timeouts, block checks), carries
out the effects in the order returned (persist the signer, gossip, schedule timers, build,
check and commit blocks) and starts each height when there is reason to. With one validator and
no network this is the dev node: a height starts when transactions wait (or every block time),
and the core decides it in the same call that proposes. With peers it is a testnet validator,
and a sync loop fetches certified blocks the node missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from avm.errors import UnknownAvmVersion
from core.crypto import SigningKey, address_of, hash32
from core.errors import AitherError, DecodeError, InvalidBlock
from ledger.block import Block, CommitCertificate
from ledger.chain import RESTORE_HINT, DataDirError, HistoryUnavailable, PendingBlock
from ledger.consensus_messages import Evidence, Proposal, Vote, VoteKind
from ledger.evidence import EvidencePayload
from ledger.genesis import Genesis
from ledger.state import State
from ledger.tx import SignedTx, Transaction, TxKind, decode_transaction
from node.consensus.core import (
    Broadcast,
    Consensus,
    Decide,
    Effect,
    PersistSigner,
    RecordEvidence,
    RequestProposal,
    ScheduleTimeout,
    TimeoutConfig,
    TimeoutKind,
    ValidateBlock,
)
from node.consensus.signer import SignerGuard
from node.consensus.validators import ValidatorSet
from node.consensus_store import ConsensusStore
from node.dev import Prelude
from node.node import Node

log = logging.getLogger("aither.consensus")

Input = Callable[[], list[Effect] | Awaitable[list[Effect]]]
MAX_BODIES = 64  # block bodies held for the current height (a byzantine proposer could spam)
MAX_CLOCK_DRIFT = 30  # seconds a proposed block's timestamp may run ahead of our clock
EVIDENCE_GAS_LIMIT = 200_000  # an EVIDENCE transaction's: its intrinsic gas and gas.EVIDENCE


@dataclass(frozen=True, slots=True)
class Schedule:
    """When heights start: `empty_blocks` (testnet: every commit timeout) or on demand (dev)."""

    empty_blocks: bool
    block_time: float = 0.0  # dev: also start a height this often even without transactions


class Broadcaster(Protocol):
    """What the driver needs of the network; the dev node has none."""

    async def publish_message(self, data: bytes) -> None: ...
    async def publish_block(self, block: Block) -> None: ...


class ConsensusDriver:
    def __init__(
        self,
        node: Node,
        genesis: Genesis,
        store: ConsensusStore,
        key: SigningKey | None,
        schedule: Schedule,
        network: Broadcaster | None = None,
    ) -> None:
        self.node = node
        self.ledger = node.ledger
        self.genesis = genesis
        self.store = store
        self.schedule = schedule
        self.network = network
        self.timeouts = self._timeouts_in_force()
        signer = None
        if key is not None:
            saved = store.signer_state()
            try:
                signer = SignerGuard(key) if saved is None else SignerGuard.from_bytes(key, saved)
            except DecodeError as exc:
                raise DataDirError(
                    f"the signer state in {store.path} is damaged ({exc}); {RESTORE_HINT}"
                ) from None
            signed = signer.state.height
            if signed > self.ledger.height + 1:
                # It would refuse to sign the heights it signed before (they may have had other
                # blocks), so the chain could never move: blocks it committed were lost.
                raise DataDirError(
                    f"the chain in {self.ledger.path} ends at block {self.ledger.height} but this "
                    f"validator has signed block {signed}: committed blocks were lost; "
                    f"{RESTORE_HINT}"
                )
        self.key = key
        self.core = Consensus(genesis.chain_id, signer, self.timeouts)
        self.validators = self._validators_at(self.ledger.height + 1)
        self._inputs: asyncio.Queue[Input | None] = asyncio.Queue()
        self._bodies: dict[bytes, Block] = {}  # current height's block bodies by hash
        self._executed: dict[bytes, PendingBlock] = {}  # checked blocks ready to commit
        self._awaiting: set[bytes] = set()  # hashes the core asked to check, body not yet here
        self._tasks: list[asyncio.Task[None]] = []
        # Set when the chain enacted what this node cannot run (an AVM version it lacks): the
        # node stops there, saying why, rather than fork from the others.
        self.halted = asyncio.Event()
        self.double_sign = False  # a test chain's misbehaving validator (see _conflicting)
        self.halt_reason: UnknownAvmVersion | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._height_started = False
        self._started_at = time.perf_counter()
        self._last_progress = time.monotonic()
        # A dev chain's controls (node/dev.py): blocks on demand, their time, rolling back.
        self._automine = True  # start a height as soon as transactions wait
        self._block_time = schedule.block_time
        self.time_offset = 0  # seconds added to the clock for block timestamps
        self._requested: list[tuple[Prelude | None, asyncio.Future[int]]] = []
        self._taken: list[tuple[Prelude | None, asyncio.Future[int]]] = []  # in the proposal
        self._after_height: list[Input] = []  # inputs that wait for the height in progress

    @property
    def height(self) -> int:
        """The height being decided."""
        return self.ledger.height + 1

    # Lifecycle

    def start(self) -> None:
        for raw in self.store.bodies(self.height):
            self._keep_body(Block.decode(raw))
        self._tasks.append(asyncio.create_task(self._run(), name="consensus"))
        self._start_height_when_due()

    async def stop(self) -> None:
        """Finish the input being handled (a block being committed completes), then stop."""
        await self._inputs.put(None)
        for timer in self._timers:
            timer.cancel()
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def submit(self, item: Input) -> None:
        """Queue an input for the core; inputs run one at a time, in order."""
        self._inputs.put_nowait(item)

    # Network inputs (already screened by the topic validators)

    def on_message(self, message: Proposal | Vote | Evidence) -> None:
        if isinstance(message, Proposal):
            self.submit(lambda: self.core.on_proposal(message))
        elif isinstance(message, Vote):
            self.submit(lambda: self.core.on_vote(message))
        else:
            self.submit(lambda: self._evidence(message))

    def on_block_body(self, block: Block) -> None:
        self.submit(lambda: self._body_arrived(block))

    def rebroadcast_if_stalled(self, after: float = 1.0) -> None:
        if self._height_started and time.monotonic() - self._last_progress > after:
            self._last_progress = time.monotonic()
            self.submit(self.core.rebroadcast)

    # The loop

    async def _run(self) -> None:
        while True:
            item = await self._inputs.get()
            if item is None:
                return
            try:
                outcome = item()
                effects = outcome if isinstance(outcome, list) else await outcome
                await self._carry_out(effects)
            except UnknownAvmVersion as exc:
                self._halt(exc)
                return
            except Exception:
                log.exception("consensus input failed at height %d", self.height)

    def _halt(self, reason: UnknownAvmVersion) -> None:
        if self.halt_reason is None:
            log.critical("halted at block %d: %s", self.height, reason)
            self.halt_reason = reason
            self.halted.set()

    async def _carry_out(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, PersistSigner):
                await asyncio.to_thread(self.store.save_signer_state, effect.state)
            elif isinstance(effect, Broadcast):
                self._last_progress = time.monotonic()
                await self._broadcast(effect.message)
            elif isinstance(effect, ScheduleTimeout):
                self._schedule_timeout(effect)
            elif isinstance(effect, RequestProposal):
                await self._propose(effect.height, effect.round)
            elif isinstance(effect, ValidateBlock):
                await self._validate(effect.height, effect.block_hash)
            elif isinstance(effect, Decide):
                await self._commit(
                    effect.height, effect.round, effect.block_hash, effect.certificate
                )
            elif isinstance(effect, RecordEvidence):
                await self._evidence(effect.evidence)

    async def _broadcast(self, message: Proposal | Vote | Evidence) -> None:
        if self.network is None:
            return
        if isinstance(message, Proposal) and message.block_hash in self._bodies:
            await self.network.publish_block(self._bodies[message.block_hash])
        await self.network.publish_message(message.encode())
        if self.double_sign and isinstance(message, Vote) and message.kind is VoteKind.PREVOTE:
            await self.network.publish_message(self._conflicting(message).encode())

    def _conflicting(self, vote: Vote) -> Vote:
        """A test chain's deliberate equivocation: the same prevote for another block, signed
        past the signer guard (`--double-sign-for-tests`)."""
        assert self.key is not None
        other = None if vote.block_hash is not None else hash32(b"aither/double-sign")
        message = Vote.sign_bytes_for(
            self.genesis.chain_id, vote.kind, vote.height, vote.round, other
        )
        return Vote(
            vote.kind, vote.height, vote.round, other, vote.validator, self.key.sign(message)
        )

    def _schedule_timeout(self, effect: ScheduleTimeout) -> None:
        kind, height, round_ = effect.kind, effect.height, effect.round

        def fire(kind: TimeoutKind = kind) -> None:
            self.submit(lambda: self.core.on_timeout(kind, height, round_))

        loop = asyncio.get_running_loop()
        self._timers = [t for t in self._timers if not t.cancelled()][-64:]
        self._timers.append(loop.call_later(effect.duration_ms / 1000, fire))

    # Heights

    def _start_height_when_due(self) -> None:
        self._height_started = False
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(self._wait_then_start(), name="next-height"))

    async def _wait_then_start(self) -> None:
        if self.schedule.empty_blocks:
            await asyncio.sleep(self.timeouts.commit_ms / 1000)
        else:
            await self._wait_for_work()
        height, validators = self.height, self.validators
        self.submit(lambda: self._start_height(height, validators))

    async def _wait_for_work(self) -> None:
        while not (self._requested or (self.automine and self.node.has_ready())):
            self.node.work.clear()
            timeout = None
            if self.block_time > 0:
                deadline = self._started_at + self.block_time
                timeout = max(0.0, deadline - time.perf_counter())
            try:
                await asyncio.wait_for(self.node.work.wait(), timeout)
            except TimeoutError:
                return

    # A dev chain's controls (node/dev.py)

    @property
    def automine(self) -> bool:
        return self._automine

    @automine.setter
    def automine(self, enabled: bool) -> None:
        self._automine = enabled
        self.node.work.set()  # the wait for the next height looks again

    @property
    def block_time(self) -> float:
        """Seconds after which a height starts even without transactions (0: never)."""
        return self._block_time

    @block_time.setter
    def block_time(self, seconds: float) -> None:
        self._block_time = seconds
        self.node.work.set()

    def clock(self) -> int:
        """The timestamp the next block proposed here gets (before its parent's floor)."""
        return int(time.time()) + self.time_offset

    async def produce(self, prelude: Prelude | None = None) -> int:
        """Make a block now, with the transactions ready and `prelude`'s state writes; its
        height once committed."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._requested.append((prelude, done))
        self.node.work.set()
        return await done

    async def rewind(self, height: int) -> list[SignedTx]:
        """Roll the chain back to block `height` between heights: the ledger, the mempool
        (emptied) and the consensus state (this validator signs the undone heights again)."""
        done: asyncio.Future[list[SignedTx]] = asyncio.get_running_loop().create_future()

        async def rewind_now() -> list[Effect]:
            if self._height_started:  # a block is being decided: after it
                self._after_height.append(rewind_now)
                return []
            try:
                self.ledger.check_revertible(height)
            except HistoryUnavailable as exc:
                done.set_exception(exc)
                return []
            # The signer forgets its heights first: a crash between the two writes then leaves
            # a signer that may sign again over a longer chain, never one that refuses to start.
            signer = None if self.key is None else SignerGuard(self.key)
            if signer is not None:
                await asyncio.to_thread(self.store.save_signer_state, signer.to_bytes())
            try:
                undone = await asyncio.to_thread(self.ledger.revert_to, height)
            except AitherError as exc:
                done.set_exception(exc)
                return []
            self.node.ledger.forget_pending(stx.hash for stx in self.node.mempool.clear())
            self.core = Consensus(self.genesis.chain_id, signer, self.timeouts)
            self.validators = self._validators_at(self.height)
            self._bodies.clear()
            self._executed.clear()
            self._awaiting.clear()
            for task in self._tasks[1:]:
                task.cancel()  # the wait for the old next height
            self._start_height_when_due()
            done.set_result(undone)
            return []

        self.submit(rewind_now)
        return await done

    def _start_height(self, height: int, validators: ValidatorSet) -> list[Effect]:
        if height != self.height or self._height_started:
            return []  # sync moved the head meanwhile; a newer start is on its way
        self._height_started = True
        self._started_at = time.perf_counter()
        self._last_progress = time.monotonic()
        self.timeouts = self.core.config = self._timeouts_in_force()
        return self.core.start_height(height, validators)

    def _timeouts_in_force(self) -> TimeoutConfig:
        """The chain parameters' timeouts for the next block (a `chain` proposal changes them)."""
        rules = self.ledger.chain_params()
        return TimeoutConfig(
            rules.timeout_propose_ms,
            rules.timeout_prevote_ms,
            rules.timeout_precommit_ms,
            rules.timeout_delta_ms,
            rules.timeout_commit_ms,
        )

    async def _propose(self, height: int, round_: int) -> None:
        if height != self.height:
            return
        candidates = []
        size = 0
        for stx in self.node.ready():
            size += len(stx.raw)
            if size > self.ledger.chain_params().max_block_bytes:
                break
            candidates.append(stx)
        self._taken = list(self._requested)
        preludes = [prelude for prelude, _ in self._taken if prelude is not None]

        def write_preludes(state: State) -> None:
            for prelude in preludes:
                prelude(state)

        pending = await asyncio.to_thread(
            self.ledger.build_block,
            candidates,
            self.clock(),
            address_of(self.key.pubkey) if self.key else bytes(20),
            self.ledger.commit_certificate(height - 1),
            write_preludes if preludes else None,
        )
        block = pending.block
        await asyncio.to_thread(self.store.save_body, block)
        self._keep_body(block)
        self._executed[block.hash] = pending
        self.submit(lambda: self.core.propose(height, round_, block.hash))

    async def _validate(self, height: int, block_hash: bytes) -> None:
        if height != self.height:
            return
        if block_hash in self._executed:
            self.submit(lambda: self.core.on_validity(height, block_hash, True))
            return
        block = self._bodies.get(block_hash)
        if block is None:
            self._awaiting.add(block_hash)
            return
        valid = await self._execute(block)
        self.submit(lambda: self.core.on_validity(height, block_hash, valid))

    async def _execute(self, block: Block) -> bool:
        if block.header.timestamp > time.time() + MAX_CLOCK_DRIFT:
            log.info("rejected block %s: timestamp in the future", block.hash.hex()[:16])
            return False
        try:
            txs = await self._verified_transactions(block)
            pending = await asyncio.to_thread(self.ledger.execute_block, block, verified=txs)
        except UnknownAvmVersion:
            raise  # not the block's fault: this node cannot run what the chain enacted
        except (InvalidBlock, DecodeError, AitherError) as exc:
            log.info("rejected block %d %s: %s", block.height, block.hash.hex()[:16], exc)
            return False
        self._executed[block.hash] = pending
        await asyncio.to_thread(self.store.save_body, block)
        return True

    async def _verified_transactions(self, block: Block) -> list[SignedTx]:
        """The block's transactions decoded, with verified signatures.

        Those the mempool admitted are taken from it as they are (decoded and verified then);
        only the others are decoded here, and verified on the verifier threads.
        """
        txs: list[SignedTx] = []
        unknown: list[SignedTx] = []
        for raw in block.transactions:
            stx = self.node.mempool.get(hash32(raw))
            if stx is None:
                stx = decode_transaction(raw)
                unknown.append(stx)
            txs.append(stx)
        if not all(await self.node.verifier.verify_many(unknown)):
            raise InvalidBlock("a transaction's signature does not verify")
        return txs

    async def _body_arrived(self, block: Block) -> list[Effect]:
        if block.height != self.height or block.hash in self._bodies:
            return []
        self._keep_body(block)
        if block.hash not in self._awaiting:
            return []
        self._awaiting.discard(block.hash)
        valid = await self._execute(block)
        return self.core.on_validity(block.height, block.hash, valid)

    def _keep_body(self, block: Block) -> None:
        if len(self._bodies) < MAX_BODIES and block.height == self.height:
            self._bodies[block.hash] = block

    async def _commit(
        self, height: int, round_: int, block_hash: bytes, certificate: CommitCertificate
    ) -> None:
        pending = self._executed.get(block_hash)
        if pending is None or height != self.height:
            log.error("decided block %d %s is not at hand", height, block_hash.hex()[:16])
            return
        await asyncio.to_thread(self.ledger.commit, pending, certificate)
        self._advance(pending, round_)

    def _advance(self, pending: PendingBlock, round_: int, synced: bool = False) -> None:
        """After a block is written (by consensus or by sync): move to the next height."""
        height = pending.block.height
        seconds = time.perf_counter() - self._started_at
        self.node.committed(pending, round_, seconds, synced)
        self.validators = self._validators_at(height + 1)
        self._bodies.clear()
        self._executed.clear()
        self._awaiting.clear()
        self.store.forget_bodies_below(height + 1)
        for request in self._taken:  # the requests this block answers
            self._requested.remove(request)
            if not request[1].done():  # its caller may have gone
                request[1].set_result(height)
        self._taken = []
        self._start_height_when_due()
        waiting, self._after_height = self._after_height, []
        for item in waiting:
            self.submit(item)

    # Validator sets: genesis for height 1, then advanced once per height

    def _validators_at(self, height: int) -> ValidatorSet:
        stored = self.store.latest_validators(height)
        if stored is None:
            powers = {v.pubkey: v.power for v in self.genesis.validators}
            known, validators = 1, ValidatorSet.from_powers(powers)
        else:
            known, validators = stored
        for next_height in range(known + 1, height + 1):
            validators = self._as_enacted(validators.advance(), next_height)
        if known != height:
            self.store.save_validators(height, validators)
        return validators

    def _as_enacted(self, validators: ValidatorSet, height: int) -> ValidatorSet:
        """`validators` with the powers the state after block height-1 holds (a passed
        `validators` proposal changes them from the block after its enactment)."""
        try:
            powers = self.ledger.validators_at(height - 1)
        except HistoryUnavailable:  # the node pruned it: the head's (a node catching up)
            powers = self.ledger.validators()
        changes = {key: power for key, power in powers.items() if validators.power_of(key) != power}
        changes.update({v.pubkey: 0 for v in validators.validators if v.pubkey not in powers})
        if not changes:
            return validators
        log.info("validators at height %d: %d changed", height, len(changes))
        return validators.updated(changes)

    # Evidence

    async def _evidence(self, evidence: Evidence) -> list[Effect]:
        if await asyncio.to_thread(self.store.save_evidence, evidence):
            offender = address_of(evidence.offender)
            log.warning(
                "evidence: validator %s equivocated at height %d", offender.hex(), evidence.height
            )
            if self.network is not None:
                await self.network.publish_message(evidence.encode())
            await self._report(evidence)
        return []

    async def _report(self, evidence: Evidence) -> None:
        """Put `evidence` on chain in an EVIDENCE transaction (no fee) signed by this node's
        validator key; the first such transaction included jails the offender."""
        if self.key is None:
            return
        reporter = self.key
        account = self.ledger.account(reporter.address)
        nonce = account.nonce + sum(
            1 for stx in self.node.ready() if stx.sender == reporter.address
        )
        tx = Transaction(self.genesis.chain_id, TxKind.EVIDENCE, reporter.pubkey, nonce,
                         EVIDENCE_GAS_LIMIT, 0, EvidencePayload(evidence))  # fmt: skip
        try:
            await self.node.submit(tx.signed(reporter).encode())
        except AitherError as exc:  # jailed already (another node reported it first), ...
            log.info("evidence not reported: %s", exc)
        else:
            log.warning(
                "evidence reported on chain: validator %s", address_of(evidence.offender).hex()
            )

    # Sync: blocks certified by others, applied in order

    async def apply_synced(self, block: Block, certificate: CommitCertificate) -> bool:
        """Verify a block fetched from a peer against its certificate and commit it.

        Returns False (and commits nothing) unless it is the next block and its certificate
        carries more than 2/3 of the height's voting power.
        """
        done = asyncio.get_running_loop().create_future()

        async def apply() -> list[Effect]:
            try:
                done.set_result(await self._apply_synced(block, certificate))
            except UnknownAvmVersion as exc:
                self._halt(exc)
                done.set_exception(exc)
            except Exception as exc:
                done.set_exception(exc)
            return []

        self.submit(apply)
        return await done

    async def _apply_synced(self, block: Block, certificate: CommitCertificate) -> bool:
        if block.height != self.height:
            return False
        if certificate.block_hash != block.hash or certificate.height != block.height:
            raise InvalidBlock("the certificate is for another block")
        certificate.verify(self.genesis.chain_id, self.validators.powers)
        pending = self._executed.get(block.hash)
        if pending is None:
            pending = await asyncio.to_thread(self.ledger.execute_block, block)
        await asyncio.to_thread(self.ledger.commit, pending, certificate)
        log.info("block %d synced from a peer", block.height)
        self._advance(pending, certificate.round, synced=True)
        return True
