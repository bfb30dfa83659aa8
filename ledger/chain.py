"""The ledger: blocks, state and indexes in one LevelDB database.

A block is executed over an in-memory overlay (`State`) and committed with everything it changes
(state entries, Merkle nodes, block, receipts, indexes, head pointer) in one
`WriteBatch(sync=True)`: after a crash the database is before the block or after it, never between.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import partial
from pathlib import Path

import plyvel

from avm.code import CodeObject
from avm.gas import GasSchedule
from avm.host import CodeChange
from core.amounts import MAX_AMOUNT
from core.crypto import ADDRESS_SIZE, HASH_SIZE, address_of, hash32
from core.encoding import Value, decode, encode
from core.errors import AitherError, DecodeError, InvalidBlock
from core.schema import MAX_U64, byte_strings, fields, items, uint
from ledger import agents, identity
from ledger.block import MAX_VALIDATORS, Block, BlockHeader, CommitCertificate, merkle_root
from ledger.chain_params import (
    ChainParams,
    enact_gas_schedule,
    load_chain_params,
    put_chain_params,
)
from ledger.genesis import Genesis
from ledger.governance import council
from ledger.governance.payloads import ProposePayload
from ledger.governance.proposals import PROPOSAL_RECORD
from ledger.governance.shadow import ShadowDiff, ShadowSummary, summarize
from ledger.governance.transition import GovernanceEvent
from ledger.merkle import EMPTY_ROOT, MemoryNodeStore, Proof, StateTree
from ledger.receipt import MAX_TOPICS, LocatedLog, LogCriteria, Receipt, emitter
from ledger.receipt import topics as log_topics
from ledger.scheduler import TaskRun
from ledger.state import (
    ACCOUNT,
    CODE,
    TOKEN,
    TOKEN_BALANCE,
    VALIDATOR,
    Account,
    RangeReader,
    State,
    Token,
    decode_token,
)
from ledger.transition import BlockContext, Replays, apply_transactions
from ledger.tx import Call, Deploy, SignedTx, Transfer, decode_transaction

# LevelDB key prefixes. State entries are the only ones the state root commits to.
_STATE = b"s"
_NODE = b"n"
_BLOCK = b"B"  # + height -> block
_BLOCK_HEIGHT = b"h"  # + block hash -> height
_COMMIT = b"c"  # + height -> the certificate that committed that block
_TX = b"x"  # + tx hash -> [height, index]
_RECEIPT = b"r"  # + tx hash -> receipt
_HISTORY = b"A"  # + address + height + index -> tx hash
_META_HEAD = b"m:head"
_META_GENESIS = b"m:genesis"
_PENDING = b"p"  # + tx hash -> transaction admitted to the mempool, not yet in a block
_REPLAY = b"R"  # + tx hash -> an agent call's replay record, for its trace (ledger/agents.py)
_TASK_RUNS = b"K"  # + height -> the scheduled tasks run at that block's end (ledger/scheduler.py)
# State history, for reads at past blocks and for rolling blocks back (a dev chain's revert):
# each block's changed keys, and each changed key's value before that block wrote it.
_CHANGED = b"U"  # + height -> the state keys the block changed
_PAST = b"H"  # + key length (2) + key + height -> b"\0" (absent) or b"\1" + value before the block
_META_OLDEST = b"m:oldest"  # the oldest height whose state can be read
# The log index: where each event is, by its emitter and by each of its topics.
_LOG_EMITTER = b"La"  # + emitter + height + log index in block -> location
_LOG_TOPIC = b"Lt"  # + position (1) + topic + height + log index in block -> location
_LAST = b"\xff" * 8

EVERY_LOG = LogCriteria()
DEFAULT_HISTORY_BLOCKS = 128  # past blocks whose state a (non-archive) node can read, as geth

log = logging.getLogger("aither.governance")
storage_log = logging.getLogger("aither.ledger")


class DataDirError(AitherError):
    """A data directory that cannot be opened for this chain."""


RESTORE_HINT = "restore the data dir from a backup, or start over with --reset"


class DamagedDataDir(DataDirError):
    """The chain's storage disagrees with itself: what it says is wrong, and what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"the chain in {path} is damaged: {problem}; {RESTORE_HINT}")


def _h(height: int) -> bytes:
    return height.to_bytes(8, "big")


def open_database(path: Path) -> plyvel.DB:
    """Open (or create) a LevelDB with paranoid checks: LevelDB refuses damaged files instead
    of skipping them. Raises DataDirError with what to do."""
    try:
        return plyvel.DB(str(path), create_if_missing=True, paranoid_checks=True)
    except plyvel.CorruptionError as exc:
        raise DataDirError(f"the database {path} is damaged ({exc}); {RESTORE_HINT}") from None
    except plyvel.IOError as exc:
        raise DataDirError(f"cannot open the database {path}: {exc}") from None
    except plyvel.Error as exc:
        raise DataDirError(f"cannot open the database {path}: {exc}; {RESTORE_HINT}") from None


@dataclass(frozen=True, slots=True)
class PendingBlock:
    """A block executed but not yet committed, with everything its commit writes."""

    block: Block
    transactions: tuple[SignedTx, ...]
    receipts: tuple[Receipt, ...]
    changes: dict[bytes, bytes | None]
    nodes: dict[bytes, bytes]
    left_out: tuple[tuple[SignedTx, str], ...] = ()
    root_seconds: float = 0.0  # time spent updating the state root, for the block log line
    replays: Replays = field(default_factory=dict)  # agent calls' replay records by tx hash
    # What governance did at the block's end (sandboxes, tallies, enactments), for the log.
    governance_events: tuple[GovernanceEvent, ...] = ()
    task_runs: tuple[TaskRun, ...] = ()  # the scheduled tasks run at its end, for the log


@dataclass(frozen=True, slots=True)
class TxLocation:
    height: int
    index: int
    block_hash: bytes


class IdKind(Enum):
    """The kinds of 32-byte ids a person may give by a unique prefix (as git takes hashes)."""

    TRANSACTION = "transaction"
    BLOCK = "block"
    CODE = "code"
    PROPOSAL = "proposal"


MAX_PREFIX_SCAN = 10_000  # keys one prefix lookup reads (an odd last digit filters what it reads)


class HistoryUnavailable(AitherError):
    """State at a block this node no longer (or never did) keep."""


class TooManyLogs(AitherError):
    """A log query that matches or scans more than its limit."""


def _past_key(key: bytes, height: int) -> bytes:
    return _PAST + len(key).to_bytes(2, "big") + key + _h(height)


def _past_value(value: bytes | None) -> bytes:
    return b"\0" if value is None else b"\1" + value


def _first(entry: tuple[bytes, bytes | None]) -> bytes:
    return entry[0]


class _Snapshot:
    """Committed state as of one moment, however many blocks commit meanwhile; with `height`
    below that moment's head, the state as it was after block `height`."""

    def __init__(self, snapshot: plyvel.Snapshot, height: int | None = None) -> None:
        self._snapshot = snapshot
        self._after = None if height is None else _h(height + 1)

    def get_state(self, key: bytes) -> bytes | None:
        if self._after is not None:
            # The value before the first block after `height` that changed the key, if any did.
            past = _PAST + len(key).to_bytes(2, "big") + key
            with self._snapshot.iterator(start=past + self._after, stop=past + _LAST) as later:
                for _, before in later:
                    return before[1:] if before[:1] == b"\1" else None
        found: bytes | None = self._snapshot.get(_STATE + key)
        return found

    def state_range(self, start: bytes, stop: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` entries with start <= key < stop, in key order, as of this reader's
        block: the entries of now, with the keys changed since read as they were then."""
        with self._snapshot.iterator(start=_STATE + start, stop=_STATE + stop) as now:
            entries = ((key[len(_STATE) :], value) for key, value in now)
            if self._after is None:
                return list(itertools.islice(entries, limit))
            changed = self._changed_since(start, stop)
            since = set(changed)
            merged = heapq.merge(entries, ((key, None) for key in changed), key=_first)
            found: list[tuple[bytes, bytes]] = []
            for key, group in itertools.groupby(merged, key=_first):
                value = self.get_state(key) if key in since else next(group)[1]
                if value is not None:
                    found.append((key, value))
                    if len(found) == limit:
                        break
            return found

    def _changed_since(self, start: bytes, stop: bytes) -> list[bytes]:
        """The keys in [start, stop) that blocks after this reader's changed, in order."""
        assert self._after is not None
        keys: set[bytes] = set()
        with self._snapshot.iterator(start=_CHANGED + self._after, stop=_CHANGED + _LAST) as it:
            for _, raw in it:
                listed = byte_strings(decode(raw), MAX_U64, "damaged change list")
                keys.update(key for key in listed if start <= key < stop)
        return sorted(keys)


class Ledger:
    """One chain's blocks and state. Reads are safe from any thread; one writer commits."""

    def __init__(
        self, path: Path, genesis: Genesis, *, history_blocks: int | None = DEFAULT_HISTORY_BLOCKS
    ) -> None:
        """`history_blocks`: how many past blocks' state stays readable (None: every block's,
        an archive node)."""
        path.mkdir(parents=True, exist_ok=True)
        self._db = open_database(path / "chain.ldb")
        self.path = path
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.history_blocks = history_blocks
        self._tree = StateTree(self)  # used by the one thread that builds blocks
        self._proof_tree = StateTree(self)  # used by RPC; the trees' caches are not thread-safe
        self._write_lock = threading.Lock()
        # (head hash, the chain parameters its state holds): read once per head
        self._chain_params_at: tuple[bytes, ChainParams] = (b"", self.genesis.chain)
        stored = self._db.get(_META_GENESIS)
        if stored is None and self._db.get(_META_HEAD) is not None:
            self._db.close()
            raise DamagedDataDir(path, "the genesis marker is missing")
        if stored is None:
            self._commit_genesis()
        elif stored != genesis.hash:
            self._db.close()
            raise DataDirError(
                f"{path} holds a different chain (genesis {stored.hex()[:16]}...); "
                "use another --data-dir or --reset"
            )
        try:
            self._head = self._check_storage()
        except DataDirError:
            self._db.close()
            raise
        oldest = self._db.get(_META_OLDEST)
        if oldest is None:  # a chain kept before state history: none to read
            self._db.put(_META_OLDEST, _h(self._head.height))
        self._oldest = self._head.height if oldest is None else int.from_bytes(oldest, "big")

    def _check_storage(self) -> BlockHeader:
        """The head block, once the storage has been checked against itself: every record
        readable (LevelDB checksums), every block from genesis to the head present with its
        certificate, and the state entries hashing to the head's state root. Raises
        DamagedDataDir naming the first disagreement."""
        started = time.perf_counter()
        try:
            counts: dict[bytes, int] = {}
            with self._db.iterator(include_value=False, verify_checksums=True) as keys:
                for key in keys:
                    counts[key[:1]] = counts.get(key[:1], 0) + 1
            raw_head = self._db.get(_META_HEAD)
            if raw_head is None or len(raw_head) != 8:
                raise DamagedDataDir(self.path, "the head pointer is missing")
            height = int.from_bytes(raw_head, "big")
            if counts.get(_BLOCK, 0) != height + 1:
                raise DamagedDataDir(
                    self.path, f"{counts.get(_BLOCK, 0)} blocks stored for a head at {height}"
                )
            if counts.get(_COMMIT, 0) != height:
                raise DamagedDataDir(
                    self.path, f"{counts.get(_COMMIT, 0)} commit certificates for {height} blocks"
                )
            header = self._load_header(height)
            if self._db.get(_BLOCK_HEIGHT + header.hash) != raw_head:
                raise DamagedDataDir(self.path, f"block {height} is not indexed by its hash")
            if height and self.commit_certificate(height) is None:
                raise DamagedDataDir(self.path, f"block {height} has no commit certificate")
            entries = {
                key[len(_STATE) :]: value
                for key, value in self._db.iterator(prefix=_STATE, verify_checksums=True)
            }
        except plyvel.CorruptionError as exc:
            raise DamagedDataDir(self.path, f"LevelDB reports corruption ({exc})") from None
        except (DecodeError, InvalidBlock, TypeError, ValueError) as exc:
            raise DamagedDataDir(self.path, f"the head block does not decode ({exc})") from None
        root, _ = StateTree(MemoryNodeStore()).update(EMPTY_ROOT, entries)
        if root != header.state_root:
            raise DamagedDataDir(
                self.path, f"the state does not hash to block {height}'s state root"
            )
        if self.get_node(root) is None and root != EMPTY_ROOT:
            raise DamagedDataDir(self.path, "the state tree's root node is missing")
        storage_log.info(
            "chain checked: %d blocks, %d state entries, state root ok (%.2f s)",
            height + 1,
            len(entries),
            time.perf_counter() - started,
        )
        return header

    def close(self) -> None:
        self._db.close()

    # Storage reads used by State and StateTree

    def get_state(self, key: bytes) -> bytes | None:
        found: bytes | None = self._db.get(_STATE + key)
        return found

    def get_node(self, node_hash: bytes) -> bytes | None:
        found: bytes | None = self._db.get(_NODE + node_hash)
        return found

    # Head and blocks

    @property
    def head(self) -> BlockHeader:
        return self._head

    @property
    def height(self) -> int:
        return self._head.height

    def block(self, height: int) -> Block | None:
        raw = self._db.get(_BLOCK + _h(height))
        return None if raw is None else Block.decode(raw)

    def block_by_hash(self, block_hash: bytes) -> Block | None:
        raw = self._db.get(_BLOCK_HEIGHT + block_hash)
        return None if raw is None else self.block(int.from_bytes(raw, "big"))

    def commit_certificate(self, height: int) -> CommitCertificate | None:
        raw = self._db.get(_COMMIT + _h(height))
        return None if raw is None else CommitCertificate.from_value(decode(raw))

    def _load_header(self, height: int) -> BlockHeader:
        block = self.block(height)
        if block is None:
            raise DataDirError(f"the database is missing block {height}")
        return block.header

    # State reads (latest committed state)

    def account(self, address: bytes) -> Account:
        return State(self).account(address)

    def token(self, symbol: str) -> Token | None:
        return State(self).token(symbol)

    def token_balance(self, address: bytes, symbol: str) -> int:
        return State(self).token_balance(address, symbol)

    def tokens(self) -> list[Token]:
        return [decode_token(v) for _, v in self._db.iterator(prefix=_STATE + TOKEN)]

    def token_balances(self, address: bytes) -> dict[str, int]:
        """Every token `address` has held, by symbol."""
        prefix = _STATE + TOKEN_BALANCE + address
        return {
            key[len(prefix) :].decode(): uint(decode(value), MAX_AMOUNT, "damaged token balance")
            for key, value in self._db.iterator(prefix=prefix)
        }

    def validators_at(self, height: int) -> dict[bytes, int]:
        """pubkey -> power of the validators after block `height` (those of block height+1).
        Raises HistoryUnavailable as `state_at` does."""
        _, reader = self.state_at(height)
        entries = reader.state_range(VALIDATOR, _after_prefix(VALIDATOR), MAX_VALIDATORS + 1)
        damaged = "damaged validator power"
        return {k[len(VALIDATOR) :]: uint(decode(v), MAX_U64, damaged) for k, v in entries}

    def validators(self) -> dict[bytes, int]:
        prefix = _STATE + VALIDATOR
        damaged = "damaged validator power"
        return {
            k[len(prefix) :]: uint(decode(v), MAX_U64, damaged)
            for k, v in self._db.iterator(prefix=prefix)
        }

    def prove_account(self, address: bytes) -> tuple[BlockHeader, bytes | None, Proof]:
        """The account entry at the head and its Merkle proof against the head's state root."""
        head = self._head
        key = ACCOUNT + address
        return head, self.get_state(key), self._proof_tree.prove(head.state_root, key)

    def head_state(self) -> tuple[BlockHeader, RangeReader]:
        """The head and a reader of exactly its state, for reads that must agree with each
        other (a dry-run call) while blocks keep committing."""
        with self._write_lock:
            return self._head, _Snapshot(self._db.snapshot())

    @property
    def oldest_state(self) -> int:
        """The oldest block whose state this node can read (and a dev chain revert to)."""
        return self._oldest

    def state_at(self, height: int) -> tuple[BlockHeader, RangeReader]:
        """Block `height`'s header and a reader of the state as it was after it.

        Raises HistoryUnavailable for a block past the head or older than `oldest_state`.
        """
        with self._write_lock:
            head, snapshot = self._head, self._db.snapshot()
        if height > head.height:
            raise HistoryUnavailable(f"block {height} is past the head {head.height}")
        if height < self._oldest:
            raise HistoryUnavailable(
                f"the state at block {height} is not kept: this node keeps blocks "
                f"{self._oldest}..{head.height} (run it with --archive to keep every block's)"
            )
        if height == head.height:
            return head, _Snapshot(snapshot)
        return self._load_header(height), _Snapshot(snapshot, height)

    def state_range(self, start: bytes, stop: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` committed state entries with start <= key < stop, in key order."""
        with self._db.iterator(start=_STATE + start, stop=_STATE + stop) as entries:
            return [(k[len(_STATE) :], v) for k, v in itertools.islice(entries, limit)]

    def state_page(
        self, prefix: bytes, after: bytes | None, limit: int
    ) -> list[tuple[bytes, bytes]]:
        """Up to `limit` state entries (key without `prefix`, value) whose keys start with
        `prefix`, in key order, after the one whose key ends in `after` (a page of a scan)."""
        start = prefix + (b"" if after is None else after + b"\x00")
        page = self.state_range(start, _after_prefix(prefix), limit)
        return [(key[len(prefix) :], value) for key, value in page]

    def state_entries(self) -> Iterator[tuple[bytes, bytes]]:
        """Every committed state entry, in key order (for a state dump)."""
        with self._db.snapshot().iterator(prefix=_STATE) as entries:
            for key, value in entries:
                yield key[len(_STATE) :], value

    # Agents (latest committed state)

    def agent(self, address: bytes) -> agents.AgentRecord | None:
        return agents.load_agent(State(self), address)

    def code(self, code_id: bytes) -> CodeObject | None:
        return agents.load_code(State(self), code_id)

    def agent_storage(self, address: bytes, key: bytes) -> bytes | None:
        return self.get_state(agents.storage_key(address, key))

    def lineage(self, address: bytes) -> tuple[CodeChange, ...]:
        return agents.load_lineage(State(self), address)

    def governance_state(self) -> tuple[BlockHeader, State, agents.LedgerAgents]:
        """The head, its state (for governance's views) and its agents, all of one moment."""
        head, reader = self.head_state()
        state = State(reader)
        return head, state, agents.LedgerAgents(state)

    def replay_record(self, tx_hash: bytes) -> bytes | None:
        """The replay record of a committed agent call (None for other transactions)."""
        if self.transaction(tx_hash) is None:
            return None  # not visible until its block is the head's
        found: bytes | None = self._db.get(_REPLAY + tx_hash)
        return found

    def task_runs(self, height: int) -> list[Value]:
        """The scheduled tasks run at the end of block `height`, as TaskRun.to_value wrote
        them (none for a block past the head)."""
        if height > self._head.height:
            return []
        raw = self._db.get(_TASK_RUNS + _h(height))
        return [] if raw is None else items(decode(raw), MAX_U64, "damaged task runs")

    # Transactions, receipts, history

    def transaction(self, tx_hash: bytes) -> tuple[SignedTx, TxLocation] | None:
        raw = self._db.get(_TX + tx_hash)
        if raw is None:
            return None
        location = fields(decode(raw), 2, "transaction location")
        height = uint(location[0], MAX_U64, "damaged transaction location")
        index = uint(location[1], MAX_U64, "damaged transaction location")
        if height > self._head.height:
            return None  # written a moment ago; visible once the head moves, with its block
        block = self.block(height)
        assert block is not None
        return decode_transaction(block.transactions[index]), TxLocation(height, index, block.hash)

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        raw = self._db.get(_RECEIPT + tx_hash)
        return None if raw is None else Receipt.decode(raw)

    def history(self, address: bytes, limit: int = 100) -> list[bytes]:
        """Hashes of the transactions that touched `address`, newest first."""
        found: list[bytes] = []
        with self._db.iterator(prefix=_HISTORY + address, reverse=True) as it:
            for _, tx_hash in it:
                found.append(tx_hash)
                if len(found) >= limit:
                    break
        return found

    # Executing and committing blocks

    def build_block(
        self,
        candidates: Iterable[SignedTx],
        timestamp: int,
        proposer: bytes,
        last_commit: CommitCertificate | None,
        prelude: Callable[[State], None] | None = None,
    ) -> PendingBlock:
        """Execute candidates on the head state into a new block; leave out those not includable
        (`left_out`, for the mempool to drop) and those past the block gas limit (they wait).

        `prelude` writes state before the transactions run: a dev chain's own changes (set a
        balance, load a state dump), which its next block carries so that its state root
        always commits to the state. No other node could re-execute such a block."""
        parent = self._head
        ctx = self._context(parent.height + 1, max(timestamp, parent.timestamp), proposer)
        state = State(self)
        if prelude is not None:
            prelude(state)
        replays: Replays = {}
        events: list[GovernanceEvent] = []
        applied = apply_transactions(state, candidates, ctx, replays, events)
        pending = self._seal(
            parent,
            ctx,
            state,
            applied.included,
            applied.receipts,
            last_commit,
            tuple(applied.left_out),
            replays,
            events,
        )
        return replace(pending, task_runs=tuple(applied.task_runs))

    def execute_block(
        self, block: Block, *, verified: Sequence[SignedTx] | None = None
    ) -> PendingBlock:
        """Re-execute a block someone else built; raise InvalidBlock unless it checks out.

        `verified`: the block's transactions, in order, already decoded and their signatures
        checked by the caller (at admission, or on its verifier threads): they are neither
        decoded nor verified again here.
        """
        parent = self._head
        header = block.header
        if header.height != parent.height + 1 or header.parent_hash != parent.hash:
            raise InvalidBlock(f"block {header.height} does not extend the head {parent.height}")
        if header.timestamp < parent.timestamp:
            raise InvalidBlock("block timestamp is before its parent's")
        if verified is None:
            txs = [decode_transaction(raw) for raw in block.transactions]
            if not all(stx.tx.has_valid_signature() for stx in txs):
                raise InvalidBlock("a transaction's signature does not verify")
        else:
            txs = list(verified)
            if [stx.raw for stx in txs] != list(block.transactions):
                raise InvalidBlock("the verified transactions are not the block's")
        ctx = self._context(header.height, header.timestamp, header.proposer)
        state = State(self)
        replays: Replays = {}
        events: list[GovernanceEvent] = []
        applied = apply_transactions(state, txs, ctx, replays, events)
        if applied.left_out:
            reason = applied.left_out[0][1]
            raise InvalidBlock(f"block includes a transaction that is not valid: {reason}")
        if applied.deferred:
            raise InvalidBlock(f"block exceeds the block gas limit {ctx.block_gas_limit:,}")
        pending = self._seal(
            parent,
            ctx,
            state,
            applied.included,
            applied.receipts,
            header.last_commit,
            (),
            replays,
            events,
        )
        if pending.block.hash != block.hash:
            raise InvalidBlock("executing the block gives another header (state or receipts root)")
        return replace(pending, task_runs=tuple(applied.task_runs))

    def commit(self, pending: PendingBlock, certificate: CommitCertificate) -> None:
        """Write a block, its state and indexes in one synced batch and make it the head."""
        block = pending.block
        if certificate.block_hash != block.hash or certificate.height != block.height:
            raise InvalidBlock("the certificate is for another block")
        with self._write_lock:
            if block.header.parent_hash != self._head.hash:
                raise InvalidBlock(f"block {block.height} no longer extends the head")
            height = _h(block.height)
            with self._db.write_batch(sync=True) as batch:
                for key, value in pending.changes.items():
                    batch.put(_past_key(key, block.height), _past_value(self.get_state(key)))
                    if value is None:
                        batch.delete(_STATE + key)
                    else:
                        batch.put(_STATE + key, value)
                batch.put(_CHANGED + height, encode(sorted(pending.changes)))
                self._prune_history(batch, block.height)
                for key in _log_index_keys(block.height, pending.receipts):
                    batch.put(key, b"")
                for node_hash, node in pending.nodes.items():
                    batch.put(_NODE + node_hash, node)
                batch.put(_BLOCK + height, block.encode())
                batch.put(_BLOCK_HEIGHT + block.hash, height)
                batch.put(_COMMIT + height, encode(certificate.to_value()))
                for index, (stx, receipt) in enumerate(
                    zip(pending.transactions, pending.receipts, strict=True)
                ):
                    batch.put(_TX + stx.hash, encode([block.height, index]))
                    batch.put(_RECEIPT + stx.hash, receipt.encode())
                    where = height + index.to_bytes(4, "big")
                    for party in _parties(stx):
                        batch.put(_HISTORY + party + where, stx.hash)
                if pending.task_runs:
                    runs = [run.to_value() for run in pending.task_runs]
                    batch.put(_TASK_RUNS + height, encode(runs))
                for tx_hash, record in pending.replays.items():
                    batch.put(_REPLAY + tx_hash, record)
                for stx in pending.transactions:
                    batch.delete(_PENDING + stx.hash)
                for stx, _ in pending.left_out:
                    batch.delete(_PENDING + stx.hash)
                batch.put(_META_HEAD, height)
            self._head = block.header
        for run in pending.task_runs:
            task = run.task
            outcome = "dropped" if run.dropped else "ok" if run.ok else "failed"
            log.info(
                "block %d task %s of 0x%s: %s, %d gas%s",
                block.height,
                task.name,
                task.agent.hex(),
                outcome,
                run.gas_used,
                f" ({run.error})" if run.error else "",
            )
        for event in pending.governance_events:
            log.info(
                "block %d governance: %s 0x%s %s %s",
                block.height,
                event.topic,
                event.proposal_id.hex(),
                event.status.value,
                event.detail,
            )

    def _prune_history(self, batch: plyvel.WriteBatch, height: int) -> None:
        """Forget the state history a block at `height` moves out of the kept window."""
        if self.history_blocks is None:
            return
        oldest = max(self._oldest, height - self.history_blocks)
        for past in range(self._oldest + 1, oldest + 1):
            self._forget_changes(batch, past)
        if oldest != self._oldest:
            batch.put(_META_OLDEST, _h(oldest))
            self._oldest = oldest

    def _changed_keys(self, height: int) -> list[bytes]:
        raw = self._db.get(_CHANGED + _h(height))
        return [] if raw is None else byte_strings(decode(raw), MAX_U64, "damaged change list")

    def _forget_changes(
        self, batch: plyvel.WriteBatch, height: int, keys: list[bytes] | None = None
    ) -> None:
        """Delete block `height`'s history records."""
        for key in self._changed_keys(height) if keys is None else keys:
            batch.delete(_past_key(key, height))
        batch.delete(_CHANGED + _h(height))

    def revert_to(self, height: int) -> list[SignedTx]:
        """Roll the chain back to block `height`: every later block, its state changes, receipts
        and indexes undone in one synced batch, in time proportional to what they changed (a
        dev chain's snapshot revert). Returns the transactions of the blocks undone, oldest
        first. Raises HistoryUnavailable when `height` is older than `oldest_state`."""
        with self._write_lock:
            self.check_revertible(height)
            head = self._head
            undone: list[SignedTx] = []
            with self._db.write_batch(sync=True) as batch:
                for past in range(head.height, height, -1):
                    undone[:0] = self._undo_block(batch, past)
                batch.put(_META_HEAD, _h(height))
            self._head = self._load_header(height)
            self._chain_params_at = (b"", self.genesis.chain)
        return undone

    def check_revertible(self, height: int) -> None:
        """Raise HistoryUnavailable unless `revert_to(height)` can be done now."""
        if not self._oldest <= height <= self._head.height:
            raise HistoryUnavailable(
                f"cannot revert to block {height}: blocks {self._oldest}..{self._head.height} "
                "can be reverted to"
            )

    def _undo_block(self, batch: plyvel.WriteBatch, height: int) -> list[SignedTx]:
        """Write into `batch` what undoes block `height` (run from the head down)."""
        where = _h(height)
        keys = self._changed_keys(height)
        for key in keys:
            before = self._db.get(_past_key(key, height))
            if before is None or before[:1] == b"\0":
                batch.delete(_STATE + key)
            else:
                batch.put(_STATE + key, before[1:])
        self._forget_changes(batch, height, keys)
        block = self.block(height)
        assert block is not None
        txs = [decode_transaction(raw) for raw in block.transactions]
        receipts = []
        for index, stx in enumerate(txs):
            receipt = self.receipt(stx.hash)
            assert receipt is not None
            receipts.append(receipt)
            for key in (_TX, _RECEIPT, _REPLAY):
                batch.delete(key + stx.hash)
            for party in _parties(stx):
                batch.delete(_HISTORY + party + where + index.to_bytes(4, "big"))
        for key in _log_index_keys(block.height, receipts):
            batch.delete(key)
        batch.delete(_TASK_RUNS + where)
        batch.delete(_BLOCK + where)
        batch.delete(_BLOCK_HEIGHT + block.hash)
        batch.delete(_COMMIT + where)
        return txs

    # Ids by prefix

    def ids_with_prefix(self, kind: IdKind, digits: str, limit: int = 8) -> list[bytes]:
        """Committed ids of `kind` whose hex starts with `digits` (lower-case hex, no 0x), in
        order; at most `limit`."""
        table = {
            IdKind.TRANSACTION: _TX,
            IdKind.BLOCK: _BLOCK_HEIGHT,
            IdKind.CODE: _STATE + CODE,
            IdKind.PROPOSAL: _STATE + PROPOSAL_RECORD,
        }[kind]
        found: list[bytes] = []
        whole = bytes.fromhex(digits[: len(digits) // 2 * 2])
        with self._db.iterator(prefix=table + whole, include_value=False) as keys:
            for key in itertools.islice(keys, MAX_PREFIX_SCAN):
                ident = key[len(table) :]
                if len(ident) == HASH_SIZE and ident.hex().startswith(digits):
                    found.append(ident)
                    if len(found) == limit:
                        break
        return found

    # Logs

    def logs(
        self,
        first: int,
        last: int,
        criteria: LogCriteria = EVERY_LOG,
        *,
        limit: int = 10_000,
        max_scanned: int = 100_000,
    ) -> list[LocatedLog]:
        """The events of blocks `first..last` (inclusive) that `criteria` selects, in chain
        order. Reads the log index, not the blocks, when the criteria name an emitter or a
        topic. Raises TooManyLogs past `limit` matches or `max_scanned` candidates."""
        last = min(last, self._head.height)
        wanted = criteria.topics[:MAX_TOPICS]
        indexed = [_LOG_EMITTER + e for e in sorted(criteria.addresses)]
        if not indexed:
            position = next((i for i, choices in enumerate(wanted) if choices), None)
            if position is not None:
                prefix = _LOG_TOPIC + bytes([position])
                indexed = [prefix + topic for topic in sorted(wanted[position])]
        candidates = (
            self._indexed_logs(indexed, first, last, max_scanned)
            if indexed
            else self._block_logs(first, last, max_scanned)
        )
        found: list[LocatedLog] = []
        for located in candidates:
            if criteria.selects(located.log):
                if len(found) == limit:
                    raise TooManyLogs(f"the query matches more than {limit:,} logs")
                found.append(located)
        return found

    def _indexed_logs(
        self, prefixes: list[bytes], first: int, last: int, max_scanned: int
    ) -> list[LocatedLog]:
        spots: set[tuple[int, int]] = set()
        for prefix in prefixes:
            with self._db.iterator(
                start=prefix + _h(first), stop=prefix + _h(last + 1), include_value=False
            ) as keys:
                for key in keys:
                    spots.add((int.from_bytes(key[-12:-4], "big"), int.from_bytes(key[-4:], "big")))
                    if len(spots) > max_scanned:
                        raise TooManyLogs(f"the query scans more than {max_scanned:,} logs")
        located: list[LocatedLog] = []
        for height in sorted({height for height, _ in spots}):
            located += (
                entry for entry in self._logs_of_block(height) if (height, entry.log_index) in spots
            )
        return located

    def _block_logs(self, first: int, last: int, max_scanned: int) -> Iterator[LocatedLog]:
        scanned = 0
        for height in range(first, last + 1):
            for entry in self._logs_of_block(height):
                scanned += 1
                if scanned > max_scanned:
                    raise TooManyLogs(f"the query scans more than {max_scanned:,} logs")
                yield entry

    def _logs_of_block(self, height: int) -> list[LocatedLog]:
        block = self.block(height)
        if block is None:
            return []
        located: list[LocatedLog] = []
        for tx_index, raw in enumerate(block.transactions):
            tx_hash = hash32(raw)
            receipt = self.receipt(tx_hash)
            assert receipt is not None
            for entry in receipt.logs:
                located.append(
                    LocatedLog(entry, height, block.hash, tx_hash, tx_index, len(located))
                )
        return located

    def next_context(self) -> BlockContext:
        """The rules of the next block as the head knows them (for admission to the mempool)."""
        head = self._head
        return self._context(head.height + 1, head.timestamp, bytes(ADDRESS_SIZE))

    def _context(self, height: int, timestamp: int, proposer: bytes) -> BlockContext:
        rules = self.chain_params()
        return BlockContext(
            self.chain_id,
            height,
            timestamp,
            proposer,
            rules.min_gas_price,
            rules.block_gas_limit,
            partial(self._shadow, height),
        )

    # Shadow replay (ledger/governance/shadow.py): a `gas` proposal tried on recent blocks

    def shadow_replay(
        self, schedule: GasSchedule, blocks: int, gas: int, txs: int
    ) -> ShadowSummary:
        """What a `gas` proposal filed in the next block would record (bench/governance.py)."""
        return self._shadow(self.height + 1, schedule, blocks, gas, txs)

    def _shadow(
        self, height: int, schedule: GasSchedule, blocks: int, gas: int, txs: int
    ) -> ShadowSummary:
        """Replay the blocks before `height`, the newest first while the gas they used and their
        transactions stay within `gas` and `txs`, at most `blocks` of them and only those whose
        parent's state this node keeps (a network node keeps MAX_SHADOW_BLOCKS: every node
        replays the same), each on the state before it with `schedule` in force."""
        chosen: list[Block] = []
        used = count = 0
        for past in range(height - 1, max(0, height - 1 - blocks), -1):
            block = self.block(past)
            assert block is not None
            used += block.header.gas_used
            count += len(block.transactions)
            if past - 1 < self._oldest or used > gas or count > txs:
                break
            chosen.append(block)
        if not chosen:
            return summarize(0, 0, [])
        replayed = [diff for block in reversed(chosen) for diff in self._replay(block, schedule)]
        return summarize(chosen[-1].height, chosen[0].height, replayed)

    def _replay(self, block: Block, schedule: GasSchedule) -> list[ShadowDiff]:
        """`block`'s transactions again, on the state before it, under `schedule`: one entry for
        each, what it did then and what it does now."""
        header = block.header
        _, reader = self.state_at(header.height - 1)
        state = State(reader)
        enact_gas_schedule(state, schedule)
        rules = load_chain_params(state, self.genesis.chain)
        ctx = BlockContext(self.chain_id, header.height, header.timestamp, header.proposer,
                           rules.min_gas_price, rules.block_gas_limit)  # fmt: skip
        txs = [decode_transaction(raw) for raw in block.transactions]
        applied = apply_transactions(state, txs, ctx)
        now = {stx.hash: r for stx, r in zip(applied.included, applied.receipts, strict=True)}
        refused = {stx.hash: reason for stx, reason in applied.left_out}
        diffs = []
        for stx in txs:
            then = self.receipt(stx.hash)
            assert then is not None, "a committed transaction has a receipt"
            after = now.get(stx.hash)
            if after is None:
                why = refused.get(stx.hash, "past the block gas limit now")
                diffs.append(ShadowDiff(header.height, stx.hash, then.ok, False, then.gas_used,
                                        0, f"left out of its block: {why}"))  # fmt: skip
                continue
            diffs.append(ShadowDiff(header.height, stx.hash, then.ok, after.ok, then.gas_used,
                                    after.gas_used, after.error))  # fmt: skip
        return diffs

    def chain_params(self) -> ChainParams:
        """The chain parameters in force for the next block, as the head state holds them (a
        passed `chain` proposal changes them from the block after its enactment)."""
        head_hash, rules = self._chain_params_at
        if head_hash != self._head.hash:
            rules = load_chain_params(State(self), self.genesis.chain)
            self._chain_params_at = (self._head.hash, rules)
        return rules

    def chain_params_at(self, height: int) -> ChainParams:
        """The chain parameters in force for the block after `height`. Raises
        HistoryUnavailable as `state_at` does."""
        _, reader = self.state_at(height)
        return load_chain_params(State(reader), self.genesis.chain)

    def block_gas_limit(self) -> int:
        """The block gas limit in force for the next block (a chain parameter)."""
        return self.chain_params().block_gas_limit

    def _seal(
        self,
        parent: BlockHeader,
        ctx: BlockContext,
        state: State,
        included: list[SignedTx],
        receipts: list[Receipt],
        last_commit: CommitCertificate | None,
        left_out: tuple[tuple[SignedTx, str], ...] = (),
        replays: Replays | None = None,
        events: list[GovernanceEvent] | None = None,
    ) -> PendingBlock:
        changes = state.changes()
        started = time.perf_counter()
        state_root, nodes = self._tree.update(parent.state_root, changes)
        root_seconds = time.perf_counter() - started
        header = BlockHeader(
            chain_id=self.chain_id,
            height=ctx.height,
            parent_hash=parent.hash,
            timestamp=ctx.timestamp,
            proposer=ctx.proposer,
            tx_root=merkle_root([stx.hash for stx in included]),
            state_root=state_root,
            receipts_root=merkle_root([hash_receipt(r) for r in receipts]),
            gas_used=sum(r.gas_used for r in receipts),
            last_commit=last_commit,
        )
        block = Block(header, tuple(stx.raw for stx in included))
        return PendingBlock(
            block,
            tuple(included),
            tuple(receipts),
            changes,
            nodes,
            left_out,
            root_seconds,
            replays or {},
            tuple(events or ()),
        )

    def _commit_genesis(self) -> None:
        genesis = self.genesis
        state = State(self)
        for validator in genesis.validators:
            state.set_validator(validator.pubkey, validator.power)
        for allocation in genesis.allocations:
            state.set_account(allocation.address, Account(0, allocation.balance))
        for entry in genesis.identities:  # before the council: its members must be registered
            identity.apply_register(state, entry.pubkey, entry.registration, 0)
        council.init_council(state, genesis.council, genesis.governance)
        put_chain_params(state, genesis.chain)
        changes = state.changes()
        state_root, nodes = self._tree.update(EMPTY_ROOT, changes)
        header = BlockHeader(
            chain_id=genesis.chain_id,
            height=0,
            parent_hash=bytes(HASH_SIZE),
            timestamp=genesis.timestamp,
            proposer=address_of(genesis.validators[0].pubkey),
            tx_root=merkle_root([]),
            state_root=state_root,
            receipts_root=merkle_root([]),
            gas_used=0,
            last_commit=None,
        )
        with self._db.write_batch(sync=True) as batch:
            for key, value in changes.items():
                assert value is not None
                batch.put(_STATE + key, value)
            for node_hash, node in nodes.items():
                batch.put(_NODE + node_hash, node)
            block = Block(header, ())
            batch.put(_BLOCK + _h(0), block.encode())
            batch.put(_BLOCK_HEIGHT + block.hash, _h(0))
            batch.put(_META_HEAD, _h(0))
            batch.put(_META_GENESIS, genesis.hash)

    # The mempool's journal: admitted transactions survive a restart or a crash

    def journal_pending(self, txs: Iterable[SignedTx]) -> None:
        """Record admitted transactions durably (one synced batch) before admission is answered."""
        with self._db.write_batch(sync=True) as batch:
            for stx in txs:
                batch.put(_PENDING + stx.hash, stx.raw)

    def forget_pending(self, tx_hashes: Iterable[bytes]) -> None:
        with self._db.write_batch() as batch:
            for tx_hash in tx_hashes:
                batch.delete(_PENDING + tx_hash)

    def pending_journal(self) -> list[bytes]:
        return [raw for _, raw in self._db.iterator(prefix=_PENDING)]

    def iter_blocks(self, start: int = 0) -> Iterator[Block]:
        with self._db.iterator(start=_BLOCK + _h(start), stop=_BLOCK + b"\xff" * 9) as it:
            for _, raw in it:
                yield Block.decode(raw)


def _after_prefix(prefix: bytes) -> bytes:
    """The first key after every key that starts with `prefix` (for an iterator's stop)."""
    trimmed = prefix.rstrip(b"\xff")
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _log_index_keys(height: int, receipts: Sequence[Receipt]) -> Iterator[bytes]:
    """The log index's keys for a block's events: one by emitter, one per topic."""
    position = 0
    for receipt in receipts:
        for entry in receipt.logs:
            where = _h(height) + position.to_bytes(4, "big")
            yield _LOG_EMITTER + emitter(entry) + where
            for index, topic in enumerate(log_topics(entry)):
                yield _LOG_TOPIC + bytes([index]) + topic + where
            position += 1


def hash_receipt(receipt: Receipt) -> bytes:
    return hash32(receipt.encode())


def _parties(stx: SignedTx) -> list[bytes]:
    payload = stx.tx.payload
    if isinstance(payload, Transfer) and payload.to != stx.sender:
        return [stx.sender, payload.to]
    if isinstance(payload, Call) and payload.agent != stx.sender:
        return [stx.sender, payload.agent]
    if isinstance(payload, Deploy):
        return [stx.sender, agents.agent_address(stx.sender, stx.tx.nonce)]
    if isinstance(payload, ProposePayload):  # a code proposal shows in its agent's history
        agent = getattr(payload.spec, "agent", None)
        if isinstance(agent, bytes) and agent != stx.sender:
            return [stx.sender, agent]
    return [stx.sender]
