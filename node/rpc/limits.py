"""Every limit on JSON-RPC work, in one place (README, Security, lists them with their effect).

A request past one gets -32005 (LIMIT_EXCEEDED) or -32602 with a message naming the limit, an
HTTP status (413, 503) or a WebSocket close code (1008, 1009, 1013).
"""

from __future__ import annotations

from dataclasses import dataclass

# HTTP
MAX_BODY_BYTES = 8 * 1024 * 1024  # a full batch of 5,000 transfers is ~3.3 MiB of hex
MAX_BATCH = 5_000  # calls in one batch
HTTP_MAX_CONCURRENCY = 1_024  # connections and requests in progress; past it uvicorn answers 503
MAX_JSON_DEPTH = 64  # a JSON-RPC request needs a handful of levels; AVM arguments a few more


@dataclass(frozen=True, slots=True)
class RpcLimits:
    """What the HTTP endpoint accepts (tests and embedders may pass others)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_batch: int = MAX_BATCH


# Expensive reads: dry runs, traces, history pages
RPC_GAS_CAP = 500_000_000  # gas of a dry run or an estimate (as geth's --rpc.gascap): ~0.4 s here
DRY_RUN_GAS = 50_000_000  # gas of a dry run unless the caller says
MAX_TRACE_ENTRIES = 100_000  # instructions in one trace (~15 MB of JSON)
HISTORY_LIMIT = 1_000  # entries in one aither_getHistory page

# Log queries, filters, fee history (eth_getLogs, eth_newFilter, eth_feeHistory)
MAX_LOG_BLOCK_RANGE = 10_000  # blocks one eth_getLogs (or eth_getFilterLogs) reads
MAX_LOGS = 10_000  # logs one answer holds
MAX_LOGS_SCANNED = 100_000  # candidate logs one query reads before it is refused
MAX_FILTER_ADDRESSES = 1_000  # addresses in one filter (as geth)
MAX_TOPIC_CHOICES = 1_000  # alternatives at one topic position (as geth)
MAX_FILTERS = 1_024  # installed filters (all clients together); more are refused
FILTER_TIMEOUT = 300.0  # seconds a filter lives without a poll (as geth)
MAX_FILTER_CHANGES = 10_000  # collected between two polls; past it the filter is dropped
MAX_FEE_HISTORY_BLOCKS = 1_024  # blocks one eth_feeHistory reads (as geth, more are cut)
MAX_REWARD_PERCENTILES = 100
MAX_FEE_HISTORY_TXS = 100_000  # transactions read for the reward percentiles of one call


@dataclass(frozen=True, slots=True)
class WorkerLimits:
    threads: int = 1  # of the two cores, one stays with admission and block production
    max_waiting: int = 8  # queued or running; more are refused at once
    timeout: float = 10.0  # seconds a caller waits for its answer


# WebSocket
WS_MAX_MESSAGE = 1024 * 1024  # one frame or message, also given to uvicorn (ws_max_size)
WS_MAX_CONNECTIONS = 256  # all clients together
WS_MAX_SUBSCRIPTIONS = 32  # per connection
# All connections together: each is a notification per block to encode and send on the loop.
WS_MAX_TOTAL_SUBSCRIPTIONS = 2_048
WS_QUEUE_SIZE = 256  # notifications waiting per connection; a client this far behind is cut off
WS_SEND_TIMEOUT = 10.0  # seconds one notification may wait on a client that does not read
WS_CLOSE_TIMEOUT = 2.0
