"""Shadow replay of a `gas` proposal (ledger/governance/shadow.py) on a chain of mixed blocks,
against a validator re-executing the same blocks, and its summary on two nodes.

Builds a chain in a temporary directory: one block deploying the agents, then --blocks blocks of
--txs transactions each (transfers, cheap and looping agent calls, calls whose gas limit leaves
no room for a dearer schedule, reverting calls, an occasional deploy). Times
`Ledger.shadow_replay` of those blocks under a proposed schedule that makes the common opcodes
dearer (best and median of --repeats). In the same run a second ledger of the same genesis
re-executes the same blocks as a validator does (`execute_block`, the signatures checked
beforehand as the node's verifier threads do, then `commit` with the original certificates),
and its shadow summary must equal the first node's (the chain is an archive node's, the replica
keeps the state history a network node keeps). Last, the bound the default governance
parameters set (`shadow_blocks`, `shadow_gas`, `shadow_txs`): a chain of blocks holding one kind of
transaction each gives the replay's cost per transaction, and so how long a replay within that
budget takes when the blocks are full of that kind. Below about 170,000 transactions of a kind
that is an extrapolation, and the cost per transaction grows with the chain: --bound-txs 170000
measures at the budget itself (minutes).

    .venv/bin/python bench/governance.py [--blocks 100] [--txs 50] [--repeats 3] [--bound-txs 6000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import counting_progress

from avm.assembler import assemble
from avm.gas import V1, schedule_with
from avm.values import from_wire
from core.crypto import SigningKey, hash32
from core.encoding import decode, encode
from genesis.dev import dev_genesis, dev_key, dev_validator_key
from ledger.chain import Ledger, PendingBlock
from ledger.chain_params import ChainParams
from ledger.genesis import Genesis
from ledger.governance.params import GovernanceParams
from ledger.governance.shadow import MAX_SHADOW_BLOCKS, ShadowSummary
from ledger.solo import SoloValidator
from ledger.transition import intrinsic_gas
from ledger.tx import Call, Deploy, SignedTx, Transaction, Transfer, TxKind, decode_transaction

AGENT_IR = """
:spin
  SET n = ARGS[0]
  SET acc = 0
:loop
  ADD acc, n -> acc
  SUB n, 1 -> n
  JUMP_IF n, loop
  KV_STORE "last", acc
  RETURN acc
:bump
  KV_FETCH "count" -> count
  IF count == NULL THEN
    SET count = 0
  ENDIF
  ADD count, 1 -> count
  KV_STORE "count", count
  LOG "bumped", count
  RETURN count
:ping
  RETURN ARGS[0]
:guard
  IF ARGS[0] > 5 THEN
    REVERT "too large"
  ENDIF
  RETURN ARGS[0]
"""
CODE = assemble(AGENT_IR).code
# Dearer common opcodes: what a `gas` proposal raising the price of plain execution looks like.
PROPOSED = schedule_with(V1, 2, {"simple": 300, "call": 400, "ret": 200, "log_base": 2_000,
                                 "kv_store_per_byte": 20, "kv_fetch_per_byte": 10})  # fmt: skip
BUDGET = 10**15  # shadow gas: more than every block of the bench uses
SENDERS = 20
AGENTS = 3  # deployed in the first block
SPINS = (10, 100, 1_000)  # loop iterations of `spin` calls
CALL_GAS = 2_000_000
TIGHT_MARGIN = 1_000  # gas a tight call has beyond what it used before: less than a dearer loop
BOUND_SPIN = 20_000  # iterations of each call in the bound's loop blocks
console = Console()


@dataclass(frozen=True, slots=True)
class ReplayTimes:
    """Seconds of each repeat of one shadow replay, and the summary (the same every time)."""

    seconds: tuple[float, ...]
    summary: ShadowSummary

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class Chain:
    """A ledger in a directory, its blocks committed by a solo validator, and the nonces of the
    dev accounts sending to it."""

    def __init__(self, path: Path, genesis: Genesis) -> None:
        self.genesis = genesis
        self.ledger = Ledger(path, genesis, history_blocks=None)
        self.validator = SoloValidator(
            dev_validator_key(), genesis.chain_id, self.ledger.validators()
        )
        self.nonces: dict[bytes, int] = {}

    def sign(self, key: SigningKey, payload: Transfer | Call | Deploy, gas_limit: int) -> SignedTx:
        kind = {Transfer: TxKind.TRANSFER, Call: TxKind.CALL, Deploy: TxKind.DEPLOY}[type(payload)]
        nonce = self.nonces.get(key.address, 0)
        tx = Transaction(self.genesis.chain_id, kind, key.pubkey, nonce, gas_limit,
                         self.genesis.min_gas_price, payload)  # fmt: skip
        return decode_transaction(tx.signed(key).encode())

    def send(self, key: SigningKey, payload: Transfer | Call | Deploy, gas_limit: int) -> SignedTx:
        stx = self.sign(key, payload, gas_limit)
        self.nonces[key.address] = stx.tx.nonce + 1
        return stx

    def produce(self, txs: Sequence[SignedTx]) -> PendingBlock:
        ledger = self.ledger
        last = ledger.commit_certificate(ledger.height)
        timestamp = self.genesis.timestamp + 10 * (ledger.height + 1)
        pending = ledger.build_block(txs, timestamp, self.validator.proposer, last)
        if pending.left_out or len(pending.transactions) != len(txs):
            raise SystemExit(f"block {pending.block.height} left transactions out")
        ledger.commit(pending, self.validator.certify(pending))
        return pending

    def deployed(self, stx: SignedTx) -> bytes:
        receipt = self.ledger.receipt(stx.hash)
        if receipt is None or not receipt.ok:
            raise SystemExit(f"a deploy failed: {receipt}")
        address = from_wire(decode(receipt.output))
        assert isinstance(address, bytes)
        return address


class MixedBlocks:
    """Blocks of mixed transactions from the dev accounts, reproducible from the seed."""

    def __init__(self, chain: Chain, txs_per_block: int, seed: int) -> None:
        self.chain = chain
        self.txs = txs_per_block
        self.rng = random.Random(seed)
        self.senders = [dev_key(i) for i in range(SENDERS)]
        self.agents: list[bytes] = []
        # Gas a call used beyond its intrinsic gas, by (agent, entry, args): a tight call's limit.
        self.used: dict[tuple[bytes, str, tuple[int, ...]], int] = {}
        self.fresh = 0

    def deploy_agents(self) -> None:
        deploys = [self.chain.send(self.senders[i], Deploy(CODE.to_bytes(), (), 0), CALL_GAS)
                   for i in range(AGENTS)]  # fmt: skip
        self.chain.produce(deploys)
        self.agents = [self.chain.deployed(stx) for stx in deploys]

    def next_block(self, index: int) -> None:
        txs = [self._transaction() for _ in range(self.txs)]
        deploy = None
        if index % 10 == 5:  # an occasional deploy, its agent called from the next block on
            deploy = self.chain.send(self.rng.choice(self.senders), Deploy(CODE.to_bytes()), 10**7)
            txs.append(deploy)
        pending = self.chain.produce(txs)
        for stx, receipt in zip(pending.transactions, pending.receipts, strict=True):
            payload = stx.tx.payload
            if isinstance(payload, Call) and receipt.ok and stx.tx.gas_limit == CALL_GAS:
                key = (payload.agent, payload.entry, payload.args)
                self.used[key] = receipt.gas_used - intrinsic_gas(stx)
        if deploy is not None:
            self.agents.append(self.chain.deployed(deploy))

    def _transaction(self) -> SignedTx:
        rng, send = self.rng, self.chain.send
        key = rng.choice(self.senders)
        agent = rng.choice(self.agents)
        roll = rng.random()
        if roll < 0.35:
            self.fresh += 1
            to = hash32(b"governance bench %d" % self.fresh)[:20]
            if rng.random() < 0.5:
                to = rng.choice(self.senders).address
            return send(key, Transfer(to, rng.randrange(1, 1000)), 30_000)
        if roll < 0.55:
            return send(key, Call(agent, "bump", ()), CALL_GAS)
        if roll < 0.75:
            return send(key, Call(agent, "spin", (rng.choice(SPINS),)), CALL_GAS)
        if roll < 0.85:
            return self._tight(key, agent)
        if roll < 0.92:
            return send(key, Call(agent, "guard", (rng.randrange(10),)), CALL_GAS)
        return send(key, Call(agent, "ping", (rng.randrange(1000),)), CALL_GAS)

    def _tight(self, key: SigningKey, agent: bytes) -> SignedTx:
        """A `spin` call with just the gas it used before: out of gas under a dearer schedule."""
        payload = Call(agent, "spin", (self.rng.choice(SPINS),))
        used = self.used.get((payload.agent, payload.entry, payload.args))
        if used is None:
            return self.chain.send(key, payload, CALL_GAS)
        probe = self.chain.sign(key, payload, used + TIGHT_MARGIN + 30_000)
        return self.chain.send(key, payload, used + intrinsic_gas(probe) + TIGHT_MARGIN)


def time_replays(
    ledger: Ledger, blocks: int, repeats: int, advance: Callable[[], object]
) -> ReplayTimes:
    """`repeats` shadow replays of the last `blocks` blocks under PROPOSED, timed."""
    seconds = []
    summaries = set()
    for _ in range(repeats):
        started = time.perf_counter()
        summary = ledger.shadow_replay(PROPOSED, blocks, BUDGET, BUDGET)
        seconds.append(time.perf_counter() - started)
        summaries.add(encode(summary.to_value()))
        advance()
    if len(summaries) != 1:
        raise SystemExit("the shadow summary differs between repeats on one node")
    return ReplayTimes(tuple(seconds), summary)


def reexecute(chain: Chain, path: Path, first: int) -> tuple[Ledger, float, float]:
    """A replica of `chain` built by re-executing its blocks as a validator does; seconds of
    `execute_block` and of `commit` for blocks `first` onward (the earlier ones untimed)."""
    replica = Ledger(path, chain.genesis)  # a network node's history (MAX_SHADOW_BLOCKS)
    executing = committing = 0.0
    with counting_progress(console) as progress:
        task = progress.add_task("re-executing on a replica", total=chain.ledger.height)
        for height in range(1, chain.ledger.height + 1):
            block = chain.ledger.block(height)
            certificate = chain.ledger.commit_certificate(height)
            assert block is not None and certificate is not None
            txs = [decode_transaction(raw) for raw in block.transactions]
            if not all(stx.tx.has_valid_signature() for stx in txs):
                raise SystemExit(f"block {height} holds a transaction with a bad signature")
            started = time.perf_counter()
            pending = replica.execute_block(block, verified=txs)
            executed = time.perf_counter()
            replica.commit(pending, certificate)
            if height >= first:
                executing += executed - started
                committing += time.perf_counter() - executed
            progress.advance(task)
    if replica.head.hash != chain.ledger.head.hash:
        raise SystemExit("the replica's head differs from the chain's")
    return replica, executing, committing


@dataclass(frozen=True, slots=True)
class KindCost:
    """A shadow replay of blocks holding one kind of transaction, and what the governance
    budget lets such blocks hold."""

    kind: str
    transactions: int
    seconds: float
    gas: int  # committed gas of the replayed blocks
    tx_bytes: int  # of one signed transaction

    def in_budget(self, params: GovernanceParams, rules: ChainParams) -> int:
        """Transactions of this kind the most the shadow budget replays: within `shadow_gas`
        and `shadow_txs`, and within `shadow_blocks` blocks each full (block gas limit, block
        bytes)."""
        per_tx = self.gas / self.transactions
        per_block = min(rules.block_gas_limit / per_tx, rules.max_block_bytes // self.tx_bytes)
        within = min(params.shadow_gas / per_tx, params.shadow_blocks * per_block)
        return int(min(within, params.shadow_txs))


def kind_costs(path: Path, txs: int, repeats: int) -> list[KindCost]:
    """Blocks of transfers only, of cheap calls only and of long loops only, each replayed on
    its own (the best of `repeats`)."""
    chain = Chain(path, dev_genesis(SENDERS))
    senders = [dev_key(i) for i in range(SENDERS)]
    deploy = chain.send(senders[0], Deploy(CODE.to_bytes(), (), 0), CALL_GAS)
    chain.produce([deploy])
    agent = chain.deployed(deploy)
    loop_gas = 3 * (3 * V1.simple * BOUND_SPIN) + 100_000  # room for the dearer schedule
    loops = max(4, min(txs // 10, 80))
    makers: list[tuple[str, int, Callable[[int, SigningKey], SignedTx]]] = [
        ("transfers", txs,
         lambda n, k: chain.send(k, Transfer(hash32(b"bound %d" % n)[:20], 1), 30_000)),
        ("`ping` calls", txs,
         lambda n, k: chain.send(k, Call(agent, "ping", (n,)), CALL_GAS)),
        (f"{BOUND_SPIN // 1000}k-step loops", loops,
         lambda n, k: chain.send(k, Call(agent, "spin", (BOUND_SPIN,)), loop_gas)),
    ]  # fmt: skip
    costs = []
    with counting_progress(console) as progress:
        building = progress.add_task("blocks of one kind", total=sum(m[1] for m in makers))
        replaying = progress.add_task("replaying each kind", total=len(makers) * repeats)
        for kind, count, make in makers:
            block_size = min(-(-count // 4), 1_500)  # at least four blocks, none over-full
            made = gas = blocks = 0
            while made < count:
                batch = [make(made + i, senders[(made + i) % SENDERS])
                         for i in range(min(block_size, count - made))]  # fmt: skip
                gas += chain.produce(batch).block.header.gas_used
                blocks += 1
                made += len(batch)
                progress.advance(building, len(batch))
            times = time_replays(chain.ledger, blocks, repeats, lambda: progress.advance(replaying))
            costs.append(KindCost(kind, count, times.best, gas, len(batch[-1].raw)))
    chain.ledger.close()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=100, help="blocks of mixed transactions")
    parser.add_argument("--txs", type=int, default=50, help="transactions in each block")
    parser.add_argument("--repeats", type=int, default=3, help="shadow replays timed")
    parser.add_argument("--seed", type=int, default=15, help="of the transaction mix")
    parser.add_argument(
        "--bound-txs", type=int, default=6_000, help="transactions of each kind timed for the "
        "budget's bound (0: skip)"
    )  # fmt: skip
    options = parser.parse_args()
    if not 1 <= options.blocks <= MAX_SHADOW_BLOCKS:
        parser.error(f"--blocks must be in 1..{MAX_SHADOW_BLOCKS} (the state a network node keeps)")
    genesis = dev_genesis(SENDERS)
    with tempfile.TemporaryDirectory() as tmp:
        chain = Chain(Path(tmp) / "chain", genesis)
        mixed = MixedBlocks(chain, options.txs, options.seed)
        with counting_progress(console) as progress:
            task = progress.add_task("building the chain", total=options.blocks + 1)
            mixed.deploy_agents()
            progress.advance(task)
            for index in range(options.blocks):
                mixed.next_block(index)
                progress.advance(task)
        first = chain.ledger.height - options.blocks + 1
        with counting_progress(console) as progress:
            task = progress.add_task("shadow replays", total=options.repeats)
            shadow = time_replays(
                chain.ledger, options.blocks, options.repeats, lambda: progress.advance(task)
            )
        replica, executing, committing = reexecute(chain, Path(tmp) / "replica", first)
        again = time_replays(replica, options.blocks, 1, lambda: None)
        replica.close()
        chain.ledger.close()
        costs = []
        if options.bound_txs:
            costs = kind_costs(Path(tmp) / "bound", options.bound_txs, options.repeats)

    summary = shadow.summary
    if again.summary != summary:
        console.print(summary.to_json(), again.summary.to_json())
        raise SystemExit("the replica's shadow summary differs from the chain's: NOT deterministic")
    if (summary.first, summary.last) != (first, first + options.blocks - 1):
        raise SystemExit(f"replayed blocks {summary.first}..{summary.last}, not all of them")
    print_figures(options.blocks, shadow, executing, committing, summary)
    if costs:
        print_bound(costs)


def print_figures(
    blocks: int, shadow: ReplayTimes, executing: float, committing: float, summary: ShadowSummary
) -> None:
    txs = summary.transactions
    table = Table(title=f"shadow replay of {blocks} mixed blocks under a dearer gas schedule")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_row(f"transactions replayed (blocks {summary.first}..{summary.last})", f"{txs:,}")
    table.add_row(
        f"shadow_replay, best / median of {len(shadow.seconds)}",
        f"{shadow.best:.3f} s / {shadow.median:.3f} s",
    )
    table.add_row("  per transaction (best)", f"{shadow.best / txs * 1e6:,.0f} µs")
    table.add_row("re-execution of the blocks (execute_block)", f"{executing:.3f} s")
    table.add_row("  and committing them", f"{committing:.3f} s")
    table.add_row("shadow replay / re-execution", f"{shadow.best / executing:.2f}x")
    table.add_row("outcome changes", f"{summary.outcome_changes:,}")
    table.add_row("gas changes (same outcome)", f"{summary.gas_changes:,}")
    table.add_row("unchanged", f"{txs - summary.outcome_changes - summary.gas_changes:,}")
    table.add_row("gas before -> after", f"{summary.gas_before:,} -> {summary.gas_after:,}")
    table.add_row("summary on the replica", "identical")
    table.add_row("summary digest", hash32(encode(summary.to_value())).hex()[:16])
    console.print(table)


def print_bound(costs: list[KindCost]) -> None:
    params, rules = GovernanceParams(), ChainParams()
    table = Table(
        title=f"the bound: shadow_blocks {params.shadow_blocks}, "
        f"shadow_gas {params.shadow_gas:,}, shadow_txs {params.shadow_txs:,} (the defaults)"
    )
    table.add_column("blocks of")
    table.add_column("µs/tx", justify="right")
    table.add_column("gas/tx", justify="right")
    table.add_column("txs in budget", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("at the budget", justify="right")
    worst = 0.0
    for cost in costs:
        fits = cost.in_budget(params, rules)
        at_budget = cost.seconds / cost.transactions * fits
        worst = max(worst, at_budget)
        table.add_row(
            cost.kind,
            f"{cost.seconds / cost.transactions * 1e6:,.0f}",
            f"{cost.gas // cost.transactions:,}",
            f"{fits:,}",
            f"{cost.transactions:,}",
            f"{at_budget:.1f} s",
        )
    console.print(table)
    extrapolated = any(cost.transactions < cost.in_budget(params, rules) for cost in costs)
    console.print(
        f"a shadow replay within the budget: up to ~{worst:.1f} s per `gas` proposal on this "
        f"machine (blocks limited to {rules.block_gas_limit:,} gas and "
        f"{rules.max_block_bytes:,} bytes)"
        + (", extrapolated: more on a bigger chain" if extrapolated else "")
    )


if __name__ == "__main__":
    main()
