"""What the node measures, for Prometheus: `GET /metrics` on the JSON-RPC port.

Names follow CometBFT's where it has the measure (`consensus_height`, `consensus_rounds`,
`consensus_validators`, `consensus_missing_validators`, `consensus_byzantine_validators`,
`consensus_block_interval_seconds`, `consensus_num_txs`, `consensus_total_txs`,
`consensus_block_size_bytes`, `mempool_size`, `mempool_failed_txs`, `p2p_peers`,
`p2p_message_send_bytes_total{message_type}`, `p2p_message_receive_bytes_total{message_type}`,
the message type being the gossip topic), under the namespace `aither`
as CometBFT's are under `cometbft`, so its dashboards read them with the namespace changed. The
project's own: admission and commit latencies (histograms), AVM gas per block, swarm messages,
JSON-RPC requests by method and code.

Each node has its own registry (tests run several nodes in one process). Labels take only
values from fixed sets (a method name the node does not serve counts as `unknown`): a stranger
cannot grow the number of series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no `_created` series beside each counter: a scrape is what it says

NAMESPACE = "aither"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
INTERVAL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
UNKNOWN_METHOD = "unknown"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NodeMetrics:
    """The node's instruments; `expose()` is the text Prometheus scrapes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r, ns = self.registry, NAMESPACE
        # Consensus (CometBFT's names)
        self.height = Gauge("consensus_height", "Height of the chain.", namespace=ns, registry=r)
        self.rounds = Gauge(
            "consensus_rounds", "Round in which the last block was decided.", namespace=ns,
            registry=r,
        )  # fmt: skip
        self.validators = Gauge(
            "consensus_validators", "Number of validators.", namespace=ns, registry=r
        )
        self.validators_power = Gauge(
            "consensus_validators_power", "Total voting power of the validators.", namespace=ns,
            registry=r,
        )  # fmt: skip
        self.missing_validators = Gauge(
            "consensus_missing_validators",
            "Validators whose precommit is not in the last block's commit certificate.",
            namespace=ns,
            registry=r,
        )
        self.byzantine_validators = Gauge(
            "consensus_byzantine_validators",
            "Validators the last block's evidence jailed for equivocation.",
            namespace=ns,
            registry=r,
        )
        self.jailed_validators = Gauge(
            "consensus_jailed_validators", "Validators jailed now.", namespace=ns, registry=r
        )
        self.block_interval = Histogram(
            "consensus_block_interval_seconds",
            "Time between this node's last two commits.",
            namespace=ns,
            registry=r,
            buckets=INTERVAL_BUCKETS,
        )
        self.num_txs = Gauge(
            "consensus_num_txs", "Transactions in the last block.", namespace=ns, registry=r
        )
        self.total_txs = Gauge(
            "consensus_total_txs", "Transactions committed since this node started.",
            namespace=ns, registry=r,
        )  # fmt: skip
        self.block_size = Gauge(
            "consensus_block_size_bytes", "Size of the last block.", namespace=ns, registry=r
        )
        # Mempool and peers (CometBFT's names)
        self.mempool_size = Gauge(
            "mempool_size", "Transactions waiting in the mempool.", namespace=ns, registry=r
        )
        # A gauge that only goes up, as CometBFT exposes it (a Counter would add `_total`).
        self.mempool_failed = Gauge(
            "mempool_failed_txs", "Transactions refused at admission.", namespace=ns, registry=r
        )
        self.peers = Gauge("p2p_peers", "Connected peers.", namespace=ns, registry=r)
        self.gossip_sent = Counter(
            "p2p_message_send_bytes", "Gossip bytes published, by topic.", ["message_type"],
            namespace=ns, registry=r,
        )  # fmt: skip
        self.gossip_received = Counter(
            "p2p_message_receive_bytes", "Valid gossip bytes delivered, by topic.",
            ["message_type"], namespace=ns, registry=r,
        )  # fmt: skip
        # The project's own
        self.admission_seconds = Histogram(
            "admission_seconds",
            "Time to admit a batch of transactions (decode, signatures, funds, journal).",
            namespace=ns,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.commit_seconds = Histogram(
            "commit_seconds",
            "Time from the start of a height to its block's commit (blocks decided here).",
            namespace=ns,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.block_gas = Gauge(
            "avm_block_gas", "Gas the last block's transactions used.", namespace=ns, registry=r
        )
        self.gas_total = Counter(
            "avm_gas", "Gas used by committed transactions.", namespace=ns, registry=r
        )
        self.swarm_messages = Counter(
            "swarm_messages", "Swarm messages this node's identities sent.", namespace=ns,
            registry=r,
        )  # fmt: skip
        self.rpc_requests = Counter(
            "rpc_requests", "JSON-RPC calls by method and code (0: answered).",
            ["method", "code"], namespace=ns, registry=r,
        )  # fmt: skip
        self._last_commit: float | None = None
        self._jailed: int | None = None

    def watch(self, mempool_size: Callable[[], int], peers: Callable[[], int]) -> None:
        """Read these gauges when scraped, not when they change."""
        self.mempool_size.set_function(lambda: float(mempool_size()))
        self.peers.set_function(lambda: float(peers()))

    def start(self, height: int, validators: dict[bytes, int]) -> None:
        """Where the chain is when the node starts, before its first block."""
        self.height.set(height)
        self.validators.set(len(validators))
        self.validators_power.set(sum(validators.values()))

    def block(
        self,
        height: int,
        round_: int,
        txs: int,
        size: int,
        gas: int,
        seconds: float | None,
        validators: dict[bytes, int],
        signers: Iterable[bytes],
        jailed: int,
    ) -> None:
        """A block committed: `validators` is the set that signed its commit certificate
        (`signers`), so the ones missing are those who did not. `seconds` is None for a block
        synced from a peer: its timings say nothing of consensus."""
        now = time.monotonic()
        if seconds is not None:
            if self._last_commit is not None:
                self.block_interval.observe(now - self._last_commit)
            self.commit_seconds.observe(seconds)
            self._last_commit = now
        else:
            self._last_commit = None  # the next interval starts at the next block decided here
        self.height.set(height)
        self.rounds.set(round_)
        self.num_txs.set(txs)
        self.total_txs.inc(txs)
        self.block_size.set(size)
        self.block_gas.set(gas)
        self.gas_total.inc(gas)
        if validators:  # the first block carries no certificate
            self.validators.set(len(validators))
            self.validators_power.set(sum(validators.values()))
            self.missing_validators.set(len(set(validators) - set(signers)))
        before = self._jailed
        self.byzantine_validators.set(max(0, jailed - before) if before is not None else 0)
        self.jailed_validators.set(jailed)
        self._jailed = jailed

    def rpc(self, method: str, known: Callable[[str], bool], code: int) -> None:
        self.rpc_requests.labels(method if known(method) else UNKNOWN_METHOD, str(code)).inc()

    def expose(self) -> bytes:
        return generate_latest(self.registry)
