"""The node on the network: three gossip topics (transactions, blocks, consensus) and sync.

Everything that arrives is screened on the p2p thread before it is relayed (size, chain id,
signatures and validator membership for consensus, structure for blocks and transactions) and
then handed to the node on its asyncio loop. Transactions are gossiped in batches; a proposal's
body travels as a compact block (header and transaction hashes), rebuilt from the mempool with
the few missing transactions fetched from peers; consensus messages travel in an envelope with a
sequence number so that a re-sent vote is not mistaken by gossip for one already seen; blocks
the node missed are fetched with their certificates by sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable

from core.crypto import address_of, hash32
from core.encoding import decode, encode
from core.errors import AitherError, DecodeError
from core.schema import byte_strings, fields, is_uint
from ledger.block import Block, CommitCertificate, CompactBlock
from ledger.chain_params import MAX_TX_SIZE
from ledger.tx import SignedTx
from node.consensus.admission import Verdict as Admit
from node.consensus.admission import admit
from node.driver import ConsensusDriver
from node.node import Node
from p2p.errors import P2PError
from p2p.gossip import Gossip, Handler, TopicKind, Verdict, remember, topic_name
from p2p.host import P2PHost
from p2p.ratelimit import TokenBucket
from p2p.reqresp import SyncProtocol

log = logging.getLogger("aither.network")

TX_BATCH = 256  # transactions per gossip message
# Signature checks a peer's transaction batches may cost us, per second (about a fifth of a
# core), with a burst of a few full batches; past it its batches are dropped unread.
SIG_CHECKS_PER_PEER = 4_000.0
SIG_CHECKS_BURST = 8 * TX_BATCH
SCREENED_CAPACITY = 65_536
MAX_TRACKED_PEERS = 1_024
TX_FLUSH_SECONDS = 0.02
SYNC_INTERVAL = 1.0
SYNC_BATCH = 64
_VERDICTS = {
    Admit.ACCEPT: Verdict.ACCEPT,
    Admit.REJECT: Verdict.REJECT,
    Admit.IGNORE: Verdict.IGNORE,
}


class NodeNetwork:
    def __init__(self, host: P2PHost, node: Node, driver: ConsensusDriver) -> None:
        self.host = host
        self.node = node
        self.driver = driver
        self.chain_id = node.chain_id
        self.gossip = Gossip(host)
        self.sync = SyncProtocol(host, self._status, self._blocks, txs_handler=self._txs)
        self._topics = {kind: topic_name(self.chain_id, kind) for kind in TopicKind}
        # Start the sequence from the clock so a restarted node's envelopes are new to gossip.
        self._sequence = itertools.count(time.time_ns())
        self._outgoing_txs: list[bytes] = []
        # Hashes of the transactions the tx topic's validator verified (p2p thread), so that
        # admission on the asyncio side does not verify them again.
        self._screened: OrderedDict[bytes, None] = OrderedDict()
        self._sig_budgets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._addresses_of: tuple[object, frozenset[bytes]] = (None, frozenset())
        self._tasks: list[asyncio.Task[None]] = []
        driver.network = self
        node.on_admitted(self._queue_txs)
        node.peer_count = lambda: len(host.peers())

    async def start(self) -> None:
        handlers = {
            TopicKind.CONSENSUS: (self._on_consensus, self._check_consensus),
            TopicKind.BLOCKS: (self._on_block, self._check_block),
            TopicKind.TXS: (self._on_txs, self._check_txs),
        }
        for kind, (handler, check) in handlers.items():
            await self.gossip.subscribe(self._topics[kind], self._counted(kind, handler), check)
        await self.host.start()
        self._tasks = [
            asyncio.create_task(self._flush_txs_forever(), name="tx-gossip"),
            asyncio.create_task(self._sync_forever(), name="sync"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.host.stop()

    # Broadcaster (what the driver sends)

    async def publish_message(self, data: bytes) -> None:
        await self._publish(TopicKind.CONSENSUS, encode([next(self._sequence), data]))

    async def publish_block(self, block: Block) -> None:
        await self._publish(TopicKind.BLOCKS, CompactBlock.of(block).encode())

    async def _publish(self, kind: TopicKind, data: bytes) -> None:
        try:
            await self.gossip.publish(self._topics[kind], data)
        except P2PError as exc:
            log.warning("could not gossip on %s: %s", kind.value, exc)
            return
        self.node.metrics.gossip_sent.labels(kind.value).inc(len(data))

    def _counted(self, kind: TopicKind, handler: Handler) -> Handler:
        """`handler`, counting the bytes each delivered message brings (/metrics)."""
        received = self.node.metrics.gossip_received.labels(kind.value)

        def deliver(data: bytes, peer: str) -> Awaitable[None] | None:
            received.inc(len(data))
            return handler(data, peer)

        return deliver

    # Consensus messages

    def _check_consensus(self, data: bytes, peer: str) -> Verdict:
        try:
            _, message = _envelope(data)
        except DecodeError:
            return Verdict.REJECT
        verdict = admit(message, self.chain_id, self.driver.validators, self.driver.height)
        return _VERDICTS[verdict.verdict]

    def _on_consensus(self, data: bytes, peer: str) -> None:
        _, message = _envelope(data)
        verdict = admit(message, self.chain_id, self.driver.validators, self.driver.height)
        if verdict.verdict is Admit.ACCEPT and verdict.message is not None:
            self.driver.on_message(verdict.message)

    # Block bodies of proposals, as compact blocks

    def _check_block(self, data: bytes, peer: str) -> Verdict:
        """A proposal's body for the height being decided: it must extend our head and name a
        current validator as its proposer (headers are unsigned; the proposal that names the
        block is, and only a proposed block is ever executed). Anything else for this height is
        junk, and strikes the peer."""
        try:
            block = CompactBlock.decode(data)
        except DecodeError:
            return Verdict.REJECT
        header = block.header
        if header.chain_id != self.chain_id:
            return Verdict.REJECT
        if block.height != self.driver.height:
            return Verdict.IGNORE
        if header.parent_hash != self.node.ledger.head.hash:
            return Verdict.IGNORE  # we may be behind: sync will tell
        if header.proposer not in self._validator_addresses():
            return Verdict.REJECT
        if len(set(block.tx_hashes)) != len(block.tx_hashes):
            return Verdict.REJECT
        return Verdict.ACCEPT

    def _validator_addresses(self) -> frozenset[bytes]:
        validators = self.driver.validators
        if self._addresses_of[0] is not validators:
            self._addresses_of = (validators, frozenset(map(address_of, validators.powers)))
        return self._addresses_of[1]

    async def _on_block(self, data: bytes, peer: str) -> None:
        compact = CompactBlock.decode(data)
        mempool = self.node.mempool
        raws = {h: stx.raw for h in compact.tx_hashes if (stx := mempool.get(h)) is not None}
        missing = [h for h in compact.tx_hashes if h not in raws]
        if missing:
            raws |= await self._fetch_txs(missing, first=peer)
            log.info(
                "block %d %s: %d of %d transactions fetched from peers, %d found nowhere",
                compact.height,
                compact.header.hash.hex()[:16],
                len(missing) - len(set(compact.tx_hashes) - raws.keys()),
                len(compact.tx_hashes),
                len(set(compact.tx_hashes) - raws.keys()),
            )
        try:
            block = compact.assemble(raws)
        except KeyError:
            return  # its proposal times out; if decided anyway, sync fetches the block
        self.driver.on_block_body(block)

    async def _fetch_txs(self, hashes: list[bytes], first: str) -> dict[bytes, bytes]:
        """Transactions by hash from the peer that relayed the block, then from the others."""
        found: dict[bytes, bytes] = {}
        for peer in [first, *(p for p in self.host.peers() if p != first)]:
            wanted = [h for h in hashes if h not in found][: self.sync.config.max_tx_hashes]
            if not wanted:
                break
            try:
                answer = await self.sync.request_txs(peer, wanted)
            except (P2PError, ValueError) as exc:
                log.info("fetching transactions from %s failed: %s", peer[-8:], exc)
                continue
            asked = set(wanted)
            found |= {h: raw for raw in answer if (h := hash32(raw)) in asked}
        return found

    def _txs(self, hashes: list[bytes]) -> list[bytes]:
        """Serve transactions by hash: those in the mempool (a proposal's, until committed)."""
        mempool = self.node.mempool
        return [stx.raw for h in hashes if (stx := mempool.get(h)) is not None]

    # Transactions: batched both ways; admission checks every signature

    def _queue_txs(self, txs: list[SignedTx]) -> None:
        self._outgoing_txs.extend(stx.raw for stx in txs)

    async def _flush_txs_forever(self) -> None:
        while True:
            await asyncio.sleep(TX_FLUSH_SECONDS)
            while self._outgoing_txs:
                batch = self._outgoing_txs[:TX_BATCH]
                del self._outgoing_txs[:TX_BATCH]
                await self._publish(TopicKind.TXS, encode(batch))
            self.driver.rebroadcast_if_stalled()

    def _check_txs(self, data: bytes, peer: str) -> Verdict:
        """Admission before relaying, as for RPC submissions: every transaction decodes, is for
        this chain, could enter a block (gas price, intrinsic gas, block gas limit), has a
        valid signature and a sender that can pay its fee. A forged or malformed one strikes
        the peer; one whose sender cannot pay at our head is dropped without blame (the peer
        may be a block behind or ahead). Signatures are checked within a per-peer budget, and
        only for transactions this node does not know yet."""
        try:
            raws = byte_strings(decode(data), TX_BATCH, "a batch of transactions")
        except DecodeError:
            return Verdict.REJECT
        if not raws or any(len(t) > MAX_TX_SIZE for t in raws):
            return Verdict.REJECT
        fresh: list[tuple[bytes, bytes]] = []
        for raw in raws:
            tx_hash = hash32(raw)
            if tx_hash not in self._screened and tx_hash not in self.node.mempool:
                fresh.append((tx_hash, raw))
        if not self._signature_budget(peer).take(time.monotonic(), len(fresh)):
            return Verdict.IGNORE  # over its budget of signature checks: not relayed, no work
        screened: list[bytes] = []
        for tx_hash, raw in fresh:
            try:
                stx = self.node.precheck(raw)
            except AitherError:
                return Verdict.REJECT
            if not stx.tx.has_valid_signature():
                return Verdict.REJECT
            if self.node.ledger.account(stx.sender).balance < stx.tx.max_fee:
                return Verdict.IGNORE
            screened.append(tx_hash)
        for tx_hash in screened:
            remember(self._screened, tx_hash, None, SCREENED_CAPACITY)
        return Verdict.ACCEPT

    def _signature_budget(self, peer: str) -> TokenBucket:
        bucket = self._sig_budgets.get(peer)
        if bucket is None:
            if len(self._sig_budgets) >= MAX_TRACKED_PEERS:
                self._sig_budgets.popitem(last=False)
            bucket = self._sig_budgets[peer] = TokenBucket(SIG_CHECKS_PER_PEER, SIG_CHECKS_BURST)
        return bucket

    async def _on_txs(self, data: bytes, peer: str) -> None:
        raws = byte_strings(decode(data), TX_BATCH, "a batch of transactions")  # validated
        verified = {h for raw in raws if (h := hash32(raw)) in self._screened}
        await self.node.submit_many(raws, gossip=False, verified=verified)

    # Sync: serve our blocks with their certificates; fetch what we miss

    def _status(self) -> bytes:
        head = self.node.ledger.head
        return encode([head.height, head.hash])

    def _blocks(self, start: int, count: int) -> list[bytes]:
        ledger = self.node.ledger
        found = []
        for height in range(start, min(start + count, ledger.height + 1)):
            block, certificate = ledger.block(height), ledger.commit_certificate(height)
            if block is None or certificate is None:
                break
            found.append(encode([block.encode(), certificate.to_value()]))
        return found

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(SYNC_INTERVAL)
            for peer in self.host.peers():
                try:
                    await self._sync_from(peer)
                except (P2PError, AitherError, ValueError) as exc:
                    log.info("sync from %s failed: %s", peer[-8:], exc)

    async def _sync_from(self, peer: str) -> None:
        height, _ = fields(decode(await self.sync.request_status(peer)), 2, "a sync status")
        while is_uint(height) and height >= self.driver.height:
            items = await self.sync.request_blocks(peer, self.driver.height, SYNC_BATCH)
            if not items:
                return
            for item in items:
                raw_block, raw_certificate = fields(decode(item), 2, "a synced block")
                if not isinstance(raw_block, bytes):
                    raise DecodeError("a synced block is [encoded block, certificate]")
                block = Block.decode(raw_block)
                certificate = CommitCertificate.from_value(raw_certificate)
                if not await self.driver.apply_synced(block, certificate):
                    return


def _envelope(data: bytes) -> tuple[int, bytes]:
    value = decode(data, 2048)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], int)
        or not isinstance(value[1], bytes)
    ):
        raise DecodeError("a consensus envelope is [sequence, message]")
    return value[0], value[1]
