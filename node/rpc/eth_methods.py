"""The `eth_*` reads Ethereum tools make (web3.py, ethers, geth's and anvil's conventions):
transactions and receipts, logs and filters, accounts, code, fee history, calls and estimates.

Agent calls map onto Ethereum's call object: `to` is the agent, `data` (or `input`) is
0x + the canonical encoding of `[entry, args]` (views.call_data: the Call payload's entry and its
args as an AVM list in wire form), `from` and `value` are optional; eth_call answers 0x + the
canonical encoding of the return value (what a receipt's `output` holds).
"""

from __future__ import annotations

from collections import OrderedDict

from avm.errors import AvmError
from avm.values import from_wire
from core.crypto import ADDRESS_SIZE, hash32, to_checksum_address
from core.encoding import decode
from core.errors import DecodeError
from core.rpc import EXECUTION_REVERTED, LIMIT_EXCEEDED
from core.schema import MAX_U64
from ledger import agents
from ledger.block import Block
from ledger.chain import Ledger, TooManyLogs, TxLocation
from ledger.chain_params import MAX_TX_SIZE
from ledger.receipt import LogCriteria
from ledger.state import State
from ledger.tx import Call, Deploy, decode_transaction
from node.node import Node
from node.rpc import filters, params, views
from node.rpc.agent_methods import (
    checked_call,
    checked_deploy,
    deploy_gas,
    dry_run,
    dry_run_gas,
)
from node.rpc.chain_methods import transfer_gas
from node.rpc.errors import RpcError, invalid_params
from node.rpc.limits import (
    DRY_RUN_GAS,
    MAX_FEE_HISTORY_BLOCKS,
    MAX_FEE_HISTORY_TXS,
    MAX_LOG_BLOCK_RANGE,
    MAX_LOGS,
    MAX_LOGS_SCANNED,
    MAX_REWARD_PERCENTILES,
    RPC_GAS_CAP,
)
from node.rpc.method_table import MethodTable
from node.rpc.params import BLOCK_TAGS, Params, arg, max_args
from node.rpc.workers import run_expensive

TABLE = MethodTable()


# Accounts and code


@TABLE.method("eth_accounts")
def accounts(node: Node, args: Params) -> list[str]:
    """A dev chain's funded accounts (their keys are public: `aither node start --dev` prints
    them); none on a network."""
    max_args(args, 0)
    return [to_checksum_address(address) for address in node.dev_accounts]


@TABLE.method("eth_getCode")
def get_code(node: Node, args: Params) -> str:
    """An agent's code (its code object's bytes) at a block, "0x" for an account."""
    max_args(args, 2)
    address = params.address(arg(args, 0, "address"))
    height = params.block_height(arg(args, 1, "block", "latest"), node.ledger)
    _, reader = params.state_at(node.ledger, height)
    state = State(reader)
    record = agents.load_agent(state, address)
    code = None if record is None else agents.load_code(state, record.code_id)
    return "0x" if code is None else views.hexbytes(code.to_bytes())


# Transactions and receipts


@TABLE.method("eth_getTransactionByHash")
def get_transaction(node: Node, args: Params) -> dict[str, object] | None:
    """A committed or pending transaction (views.eth_transaction); null when unknown."""
    max_args(args, 1)
    tx_hash = params.hash32(arg(args, 0, "transaction hash"))
    found = node.ledger.transaction(tx_hash)
    if found is not None:
        return views.eth_transaction(*found)
    pending = node.mempool.get(tx_hash)
    return None if pending is None else views.eth_transaction(pending, None)


@TABLE.method("eth_getTransactionReceipt")
async def get_transaction_receipt(node: Node, args: Params) -> dict[str, object] | None:
    """The receipt in Ethereum's shape (views.eth_receipt); null while the transaction is
    pending or when it is unknown."""
    max_args(args, 1)
    tx_hash = params.hash32(arg(args, 0, "transaction hash"))
    found = node.ledger.transaction(tx_hash)
    receipt = node.ledger.receipt(tx_hash)
    if found is None or receipt is None:
        return None
    stx, where = found
    position = await _position(node.ledger, where)
    if position is None:
        return None  # its block was rolled back a moment ago (a dev chain's revert)
    return views.eth_receipt(receipt, stx, where, *position)


# Per block: the gas its transactions used up to each, and the block-wide index of each one's
# first log. Made once per block (a receipt is polled often), for the blocks read last.
_Positions = tuple[tuple[int, ...], tuple[int, ...]]
_positions: OrderedDict[bytes, _Positions] = OrderedDict()
_POSITIONS_KEPT = 64
_INLINE_RECEIPTS = 256  # a block with more transactions is read on the expensive-reads pool


async def _position(ledger: Ledger, where: TxLocation) -> tuple[int, int] | None:
    """The gas used in the block up to and including the transaction at `where`, and the
    block-wide index of its first log; None if that block is no longer the chain's."""
    found = _positions.get(where.block_hash)
    if found is None:
        block = ledger.block(where.height)
        if block is None or block.hash != where.block_hash:
            return None
        if len(block.transactions) > _INLINE_RECEIPTS:
            found = await run_expensive(_block_positions, ledger, block)
        else:
            found = _block_positions(ledger, block)
        _positions[where.block_hash] = found
        if len(_positions) > _POSITIONS_KEPT:
            _positions.popitem(last=False)
    cumulative, first_logs = found
    return cumulative[where.index], first_logs[where.index]


def _block_positions(ledger: Ledger, block: Block) -> _Positions:
    gas = logs = 0
    cumulative: list[int] = []
    first_logs: list[int] = []
    for raw in block.transactions:
        receipt = ledger.receipt(hash32(raw))
        assert receipt is not None
        first_logs.append(logs)
        gas += receipt.gas_used
        logs += len(receipt.logs)
        cumulative.append(gas)
    return tuple(cumulative), tuple(first_logs)


# Logs


def _filter_object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise invalid_params("expected a filter object")
    return value


def _bound(spec: dict[str, object], key: str) -> int | None:
    """A filter's fromBlock or toBlock: a number, 0 for "earliest", None for the head's tags
    (for a filter: whichever block is the head when it is read)."""
    value = spec.get(key)
    if value is None or (value in BLOCK_TAGS and value != "earliest"):
        return None
    return 0 if value == "earliest" else params.quantity(value, key, MAX_U64)


def _bounds(spec: dict[str, object]) -> tuple[int | None, int | None]:
    first, last = _bound(spec, "fromBlock"), _bound(spec, "toBlock")
    if first is not None and last is not None and first > last:
        raise invalid_params(f"fromBlock {first} is after toBlock {last}")
    return first, last


def _block_range(ledger: Ledger, first: int | None, last: int | None) -> tuple[int, int]:
    """The blocks a log query reads, the open ends at the head; refused past
    MAX_LOG_BLOCK_RANGE before anything is read."""
    head = ledger.height
    first = head if first is None else first
    last = head if last is None else min(last, head)
    if last - first + 1 > MAX_LOG_BLOCK_RANGE:
        raise RpcError(
            LIMIT_EXCEEDED,
            f"the query spans {last - first + 1:,} blocks ({first}..{last}), more than "
            f"{MAX_LOG_BLOCK_RANGE:,}: ask for at most {MAX_LOG_BLOCK_RANGE:,} blocks at a time "
            "(fromBlock/toBlock)",
        )
    return first, last


def _query_logs(
    ledger: Ledger, criteria: LogCriteria, first: int, last: int
) -> list[dict[str, object]]:
    try:
        found = ledger.logs(first, last, criteria, limit=MAX_LOGS, max_scanned=MAX_LOGS_SCANNED)
    except TooManyLogs as exc:
        raise RpcError(
            LIMIT_EXCEEDED,
            f"{exc}: narrow it with a shorter block range, an address or topics",
        ) from None
    return [views.eth_log(entry) for entry in found]


@TABLE.method("eth_getLogs")
async def get_logs(node: Node, args: Params) -> list[dict[str, object]]:
    """The logs of blocks fromBlock..toBlock (default: the head), or of one block (blockHash),
    that match `address` (one or a list) and `topics` (see filters.log_criteria), in chain order.

    Refused with LIMIT_EXCEEDED past MAX_LOG_BLOCK_RANGE blocks, MAX_LOGS results or
    MAX_LOGS_SCANNED candidate logs; the message says how to narrow the query.
    """
    max_args(args, 1)
    spec = _filter_object(arg(args, 0, "filter object"))
    criteria = filters.log_criteria(spec)
    if spec.get("blockHash") is not None:
        if spec.get("fromBlock") is not None or spec.get("toBlock") is not None:
            raise invalid_params("a filter names blockHash or fromBlock/toBlock, not both")
        height = params.block_height({"blockHash": spec["blockHash"]}, node.ledger)
        first, last = height, height
    else:
        first, last = _block_range(node.ledger, *_bounds(spec))
    return await run_expensive(_query_logs, node.ledger, criteria, first, last)


# Filters (node/rpc/filters.py)


@TABLE.method("eth_newFilter")
def new_filter(node: Node, args: Params) -> str:
    """A log filter: `address`, `topics`, and fromBlock/toBlock bounding which new blocks it
    collects from (and what eth_getFilterLogs reads); an id to poll."""
    max_args(args, 1)
    spec = _filter_object(arg(args, 0, "filter object"))
    if spec.get("blockHash") is not None:
        raise invalid_params(
            "a filter follows new blocks: name fromBlock/toBlock (eth_getLogs reads one block "
            "by blockHash)"
        )
    criteria = filters.log_criteria(spec)
    return filters.of(node).new_log_filter(criteria, *_bounds(spec))


@TABLE.method("eth_newBlockFilter")
def new_block_filter(node: Node, args: Params) -> str:
    """A filter that collects the hash of every block committed after it."""
    max_args(args, 0)
    return filters.of(node).new_block_filter()


@TABLE.method("eth_getFilterChanges")
def get_filter_changes(node: Node, args: Params) -> list[object]:
    """What a filter collected since its last poll: block hashes, or logs. Not-found for an
    unknown or expired filter (5 minutes without a poll)."""
    max_args(args, 1)
    return filters.of(node).changes(arg(args, 0, "filter id"))


@TABLE.method("eth_getFilterLogs")
async def get_filter_logs(node: Node, args: Params) -> list[dict[str, object]]:
    """Every log a log filter selects over its block range, as eth_getLogs reads them."""
    max_args(args, 1)
    filter_id = arg(args, 0, "filter id")
    found = filters.of(node).get(filter_id)
    if found.criteria is None:
        raise invalid_params(f"filter {filter_id} is a block filter: poll eth_getFilterChanges")
    first, last = _block_range(node.ledger, found.first, found.last)
    return await run_expensive(_query_logs, node.ledger, found.criteria, first, last)


@TABLE.method("eth_uninstallFilter")
def uninstall_filter(node: Node, args: Params) -> bool:
    max_args(args, 1)
    return filters.of(node).uninstall(arg(args, 0, "filter id"))


# Fees


def _percentiles(value: object) -> list[float] | None:
    """The reward percentiles; None when there are none (then, as geth, no `reward`)."""
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise invalid_params("rewardPercentiles must be a list of numbers from 0 to 100")
    if len(value) > MAX_REWARD_PERCENTILES:
        raise invalid_params(f"at most {MAX_REWARD_PERCENTILES} reward percentiles")
    found: list[float] = []
    for p in value:
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 100:
            raise invalid_params(f"reward percentile {str(p)[:20]} is not a number from 0 to 100")
        if found and p < found[-1]:
            raise invalid_params("reward percentiles must be in increasing order")
        found.append(float(p))
    return found


def _rewards(block: Block, gas_used: list[int], percentiles: list[float]) -> list[str]:
    """The gas price paid at each percentile of the block's gas, as Ethereum weighs them."""
    if not block.transactions:
        return ["0x0"] * len(percentiles)
    paid = sorted(
        zip(
            (decode_transaction(raw).tx.gas_price for raw in block.transactions),
            gas_used,
            strict=True,
        )
    )
    total = sum(gas_used)
    rewards: list[str] = []
    index, reached = 0, paid[0][1]
    for p in percentiles:
        while reached < total * p / 100 and index < len(paid) - 1:
            index += 1
            reached += paid[index][1]
        rewards.append(views.hx(paid[index][0]))
    return rewards


def _fee_history(
    node: Node, count: int, newest: int, percentiles: list[float] | None
) -> dict[str, object]:
    ledger = node.ledger
    first = newest - count + 1
    gas_limit = ledger.block_gas_limit()
    ratios: list[float] = []
    rewards: list[list[str]] = []
    read = 0
    for height in range(first, newest + 1):
        block = ledger.block(height)
        assert block is not None
        ratios.append(block.header.gas_used / gas_limit if gas_limit else 0.0)
        if percentiles is None:
            continue
        read += len(block.transactions)
        if read > MAX_FEE_HISTORY_TXS:
            raise RpcError(
                LIMIT_EXCEEDED,
                f"the reward percentiles of these blocks read more than {MAX_FEE_HISTORY_TXS:,} "
                "transactions: ask for fewer blocks",
            )
        gas_used: list[int] = []
        for raw in block.transactions:
            receipt = ledger.receipt(hash32(raw))
            assert receipt is not None
            gas_used.append(receipt.gas_used)
        rewards.append(_rewards(block, gas_used, percentiles))
    base_fee = views.hx(ledger.chain_params().min_gas_price)  # the price in force now
    view: dict[str, object] = {
        "oldestBlock": views.hx(first),
        "baseFeePerGas": [base_fee] * (count + 1),
        "gasUsedRatio": ratios,
    }
    if percentiles is not None:
        view["reward"] = rewards
    return view


@TABLE.method("eth_feeHistory")
async def fee_history(node: Node, args: Params) -> dict[str, object]:
    """`[blockCount, newestBlock, rewardPercentiles]`: for blocks newestBlock-blockCount+1..
    newestBlock (at most MAX_FEE_HISTORY_BLOCKS, fewer near genesis), `baseFeePerGas` (the
    chain's minimum gas price: blockCount+1 entries, the last for the next block),
    `gasUsedRatio` (gas used over the block gas limit in force now) and, given percentiles,
    `reward` (per block, the gas price paid at each percentile of its gas; 0 for an empty
    block)."""
    max_args(args, 3)
    count = params.quantity(arg(args, 0, "blockCount"), "blockCount", MAX_U64)
    newest = params.block_height(arg(args, 1, "newestBlock"), node.ledger)
    percentiles = _percentiles(arg(args, 2, "rewardPercentiles", None))
    if newest > node.ledger.height:
        raise invalid_params(f"newestBlock {newest} is past the head {node.ledger.height}")
    count = min(count, MAX_FEE_HISTORY_BLOCKS, newest + 1)
    if count == 0:
        return {"oldestBlock": views.hx(newest + 1), "baseFeePerGas": [], "gasUsedRatio": []}
    return await run_expensive(_fee_history, node, count, newest, percentiles)


# Calls and estimates


def _call_object(value: object) -> tuple[bytes | None, bytes, bytes, int]:
    """A call object's `to` (None when absent), `data` or `input` (empty when absent), `from`
    (the zero address when absent) and `value`."""
    if not isinstance(value, dict):
        raise invalid_params("expected a call object")
    to = None if value.get("to") is None else params.address(value["to"], "to")
    data, given = b"", [value.get(k) for k in ("input", "data") if value.get(k) is not None]
    if given:
        data = params.data(given[0], "data", MAX_TX_SIZE)
        if len(given) == 2 and params.data(given[1], "data", MAX_TX_SIZE) != data:
            raise invalid_params("input and data differ: send one of them")
    sender = (
        bytes(ADDRESS_SIZE) if value.get("from") is None else params.address(value["from"], "from")
    )
    return to, data, sender, params.quantity(value.get("value", 0), "value")


def _agent_call(agent: bytes, data: bytes, amount: int) -> Call:
    """The Call an Ethereum call object describes (see the module docstring)."""
    try:
        decoded = decode(data)
    except DecodeError as exc:
        raise invalid_params(f"data is not a canonical encoding: {exc}") from None
    if not (isinstance(decoded, list) and len(decoded) == 2):
        raise invalid_params("data must be the canonical encoding of [entry, args]")
    entry, wire_args = decoded
    if not isinstance(entry, str):
        raise invalid_params("data must be the canonical encoding of [entry, args]")
    try:
        args = from_wire(wire_args)
    except (AvmError, DecodeError) as exc:
        raise invalid_params(f"args: {exc}") from None
    if type(args) is not tuple:
        raise invalid_params("args must be an AVM list")
    return checked_call(Call(agent, entry, args, amount))


async def _dry_run(
    node: Node, payload: Call, sender: bytes, gas: int, at: int
) -> dict[str, object]:
    """A dry run at block `at`; a trap is EXECUTION_REVERTED (code 3, as geth answers a
    revert, so web3.py raises ContractLogicError)."""
    result = await run_expensive(dry_run, node, payload, sender, gas, False, at)
    if not result["ok"]:
        raise RpcError(EXECUTION_REVERTED, f"execution reverted: {result['trap']}")
    return result


@TABLE.method("eth_call")
async def call(node: Node, args: Params) -> str:
    """Run an agent call at a block (default latest) and commit nothing: `[call object,
    block]`. `to` is the agent, `data` 0x + the canonical encoding of `[entry, args]`, `from`
    and `value` optional, `gas` at most the block gas limit and the RPC gas cap (default
    50,000,000). Answers 0x + the canonical encoding of the return value; "0x" for an account
    without data. A trap answers code 3, "execution reverted: <reason>"."""
    max_args(args, 2)
    spec = arg(args, 0, "call object")
    to, data, sender, amount = _call_object(spec)
    assert isinstance(spec, dict)
    at = params.block_height(arg(args, 1, "block", "latest"), node.ledger)
    if to is None:
        raise invalid_params("eth_call needs `to`: the agent to call")
    if not data:
        _, reader = params.state_at(node.ledger, at)
        if agents.load_agent(State(reader), to) is None:
            return "0x"  # as calling an Ethereum account without code answers
        raise invalid_params("calling an agent needs data: the encoding of [entry, args]")
    payload = _agent_call(to, data, amount)
    gas = dry_run_gas(node, spec.get("gas", DRY_RUN_GAS))
    result = await _dry_run(node, payload, sender, gas, at)
    return str(result["output"] or "0x")


@TABLE.method("eth_estimateGas")
async def estimate_gas(node: Node, args: Params) -> str:
    """Gas for `[call object, block]`: without data a native transfer to `to`; with data and
    `to` an agent call (a dry run at the block, within the RPC gas cap; a trap answers code 3);
    with data and no `to` a deploy of the code `data` (no initial storage)."""
    max_args(args, 2)
    to, data, sender, amount = _call_object(arg(args, 0, "call object"))
    at = params.block_height(arg(args, 1, "block", "latest"), node.ledger)
    if not data:
        if to is None:
            raise invalid_params("a transfer needs `to` (or send data: a call or a deploy)")
        return views.hx(transfer_gas(to, amount))
    if to is None:
        return views.hx(deploy_gas(checked_deploy(Deploy(data, (), amount))))
    payload = _agent_call(to, data, amount)
    result = await _dry_run(node, payload, sender, dry_run_gas(node, RPC_GAS_CAP), at)
    return str(result["gasUsed"])
