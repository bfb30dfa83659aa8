"""The JSON-RPC methods: `aither_*` for everything, `eth_*` for what web3.py reads.

Each method is a function of the node and its positional params, registered by name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

from core.amounts import MAX_AMOUNT
from core.crypto import to_checksum_address
from core.errors import AitherError, DecodeError, InvalidTransaction, TransactionRejected
from core.rpc import TX_REJECTED
from ledger.block import Block
from ledger.chain import TxLocation
from ledger.transition import execution_gas, intrinsic_gas
from ledger.tx import (
    MAX_TX_SIZE,
    MAX_U64,
    SYMBOL_PATTERN,
    Payload,
    SignedTx,
    TokenCreate,
    Transaction,
    Transfer,
    TxKind,
    decode_transaction,
)
from node import __version__
from node.node import Node
from node.rpc import params, views
from node.rpc.errors import RpcError, invalid_params, not_found
from node.rpc.limits import HISTORY_LIMIT
from node.rpc.workers import run_expensive

Params: TypeAlias = list[object]
Handler: TypeAlias = Callable[[Node, Params], object | Awaitable[object]]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = handler
        return handler

    return register


def _arg(args: Params, index: int, name: str, default: object = ...) -> object:
    if index < len(args) and args[index] is not None:
        return args[index]
    if default is ...:
        raise invalid_params(f"missing {name} (parameter {index + 1})")
    return default


def _max_args(args: Params, count: int) -> None:
    if len(args) > count:
        raise invalid_params(f"takes at most {count} parameters, got {len(args)}")


# Chain


@method("aither_chainId")
@method("eth_chainId")
def chain_id(node: Node, args: Params) -> str:
    _max_args(args, 0)
    return views.hx(node.chain_id)


@method("net_version")
def net_version(node: Node, args: Params) -> str:
    _max_args(args, 0)
    return str(node.chain_id)


@method("web3_clientVersion")
def client_version(node: Node, args: Params) -> str:
    _max_args(args, 0)
    return f"aither/v{__version__}/python"


@method("aither_blockNumber")
@method("eth_blockNumber")
def block_number(node: Node, args: Params) -> str:
    _max_args(args, 0)
    return views.hx(node.ledger.height)


@method("eth_syncing")
def syncing(node: Node, args: Params) -> bool:
    _max_args(args, 0)
    return False


@method("eth_gasPrice")
def gas_price(node: Node, args: Params) -> str:
    _max_args(args, 0)
    return views.hx(node.ledger.genesis.min_gas_price)


# Accounts


@method("aither_getBalance")
def get_balance(node: Node, args: Params) -> str:
    _max_args(args, 2)
    address = params.address(_arg(args, 0, "address"))
    token = _arg(args, 1, "token", "")
    if not isinstance(token, str):
        raise invalid_params("token must be a symbol")
    if not token or token == "AVM":
        return views.hx(node.ledger.account(address).balance)
    if node.ledger.token(token) is None:
        raise not_found(f"token {token}")
    return views.hx(node.ledger.token_balance(address, token))


@method("eth_getBalance")
def eth_get_balance(node: Node, args: Params) -> str:
    _max_args(args, 2)
    address = params.address(_arg(args, 0, "address"))
    params.state_block(_arg(args, 1, "block", None), node.ledger.height)
    return views.hx(node.ledger.account(address).balance)


@method("eth_getTransactionCount")
def eth_get_transaction_count(node: Node, args: Params) -> str:
    _max_args(args, 2)
    address = params.address(_arg(args, 0, "address"))
    block = _arg(args, 1, "block", None)
    if block == "pending":
        return views.hx(node.pending_nonce(address))
    params.state_block(block, node.ledger.height)
    return views.hx(node.ledger.account(address).nonce)


@method("aither_getAccount")
def get_account(node: Node, args: Params) -> dict[str, object]:
    _max_args(args, 1)
    address = params.address(_arg(args, 0, "address"))
    account = node.ledger.account(address)
    tokens = {
        symbol: views.hx(units) for symbol, units in node.ledger.token_balances(address).items()
    }
    return {
        "address": to_checksum_address(address),
        "nonce": views.hx(account.nonce),
        "pendingNonce": views.hx(node.pending_nonce(address)),
        "balance": views.hx(account.balance),
        "tokens": {symbol: amount for symbol, amount in tokens.items() if amount != "0x0"},
        "blockNumber": views.hx(node.ledger.height),
    }


@method("aither_getProof")
def get_proof(node: Node, args: Params) -> dict[str, object]:
    _max_args(args, 1)
    address = params.address(_arg(args, 0, "address"))
    header, value, proof = node.ledger.prove_account(address)
    account = node.ledger.account(address)
    return {
        "address": to_checksum_address(address),
        "blockNumber": views.hx(header.height),
        "blockHash": views.hexbytes(header.hash),
        "stateRoot": views.hexbytes(header.state_root),
        "key": views.hexbytes(b"a" + address),
        "value": None if value is None else views.hexbytes(value),
        "nonce": views.hx(account.nonce),
        "balance": views.hx(account.balance),
        "proof": proof.to_json(),
    }


@method("aither_getTokens")
def get_tokens(node: Node, args: Params) -> list[dict[str, object]]:
    _max_args(args, 0)
    return [
        {
            "symbol": t.symbol,
            "name": t.name,
            "decimals": t.decimals,
            "supply": views.hx(t.supply),
            "creator": to_checksum_address(t.creator),
        }
        for t in node.ledger.tokens()
    ]


# Transactions


SEND_RAW_TRANSACTION = "aither_sendRawTransaction"


def raw_transaction_param(args: Params) -> bytes:
    _max_args(args, 1)
    return params.data(_arg(args, 0, "transaction"), "transaction", MAX_TX_SIZE)


def rejected(error: AitherError) -> RpcError:
    return RpcError(TX_REJECTED, f"transaction rejected: {error}")


@method(SEND_RAW_TRANSACTION)
async def send_raw_transaction(node: Node, args: Params) -> str:
    raw = raw_transaction_param(args)
    try:
        tx_hash = await node.submit(raw)
    except (DecodeError, InvalidTransaction, TransactionRejected) as exc:
        raise rejected(exc) from None
    return views.hexbytes(tx_hash)


@method("aither_getTransaction")
def get_transaction(node: Node, args: Params) -> dict[str, object]:
    _max_args(args, 1)
    tx_hash = params.hash32(_arg(args, 0, "transaction hash"))
    found = node.ledger.transaction(tx_hash)
    if found is not None:
        return views.transaction(*found)
    pending = node.mempool.get(tx_hash)
    if pending is not None:
        return views.transaction(pending, None)
    raise not_found(f"transaction {views.hexbytes(tx_hash)}")


@method("aither_getTransactionReceipt")
def get_transaction_receipt(node: Node, args: Params) -> dict[str, object] | None:
    """The receipt, null while the transaction is pending, not-found if it is unknown."""
    _max_args(args, 1)
    tx_hash = params.hash32(_arg(args, 0, "transaction hash"))
    found = node.ledger.transaction(tx_hash)
    if found is None:
        if tx_hash in node.mempool:
            return None
        raise not_found(f"transaction {views.hexbytes(tx_hash)}")
    stx, where = found
    rc = node.ledger.receipt(tx_hash)
    assert rc is not None
    return views.receipt(rc, stx, where)


@method("aither_getHistory")
async def get_history(node: Node, args: Params) -> list[dict[str, object]]:
    """The transactions that touched an address, newest first (at most HISTORY_LIMIT)."""
    _max_args(args, 2)
    address = params.address(_arg(args, 0, "address"))
    limit = params.quantity(_arg(args, 1, "limit", 100), "limit")
    if not 1 <= limit <= HISTORY_LIMIT:
        raise invalid_params(f"limit must be 1..{HISTORY_LIMIT}")
    return await run_expensive(_history, node, address, limit)


def _history(node: Node, address: bytes, limit: int) -> list[dict[str, object]]:
    entries = []
    for tx_hash in node.ledger.history(address, limit):
        found = node.ledger.transaction(tx_hash)
        rc = node.ledger.receipt(tx_hash)
        assert found is not None and rc is not None
        view = views.transaction(*found)
        view["status"] = views.hx(rc.status)
        view["error"] = rc.error or None
        entries.append(view)
    return entries


@method("aither_estimateGas")
async def estimate_gas(node: Node, args: Params) -> str:
    """Gas for a transaction described as in aither_getTransaction's view.

    Fields: kind ("transfer" default, "token_create", "deploy", "call", "propose", "vote" or
    "cancel"); for a transfer `to`, `value`, optional `token`; for a token `symbol`, `name`,
    `supply`, `decimals`; for a deploy `code`, `storage`, `value`; for a call the fields of
    aither_call, which it runs on the head state (an error if the call would trap); for a
    proposal `spec` (see gov_methods.proposal_spec); for a vote `proposal`, `choice`,
    `explanation`; for a cancel `proposal`.
    """
    _max_args(args, 1)
    spec = _arg(args, 0, "transaction object")
    if not isinstance(spec, dict):
        raise invalid_params("expected a transaction object")
    kind = spec.get("kind", "transfer")
    if kind in ("deploy", "call"):
        # Late import: agent_methods registers its methods through this module.
        from node.rpc.agent_methods import estimate_agent_gas

        return views.hx(await estimate_agent_gas(node, kind, spec))
    if kind == "transfer":
        token = spec.get("token") or ""
        if token and not SYMBOL_PATTERN.match(str(token)):
            raise invalid_params(f"{token!r} is not a token symbol")
        payload: Payload = Transfer(
            params.address(spec.get("to"), "to"),
            params.quantity(spec.get("value", 0), "value"),
            str(token),
        )
    elif kind == "token_create":
        payload = TokenCreate(
            str(spec.get("symbol", "")),
            str(spec.get("name", "")),
            params.quantity(spec.get("supply", 0), "supply"),
            params.quantity(spec.get("decimals", 18), "decimals"),
        )
    elif kind in ("propose", "vote", "cancel"):
        from node.rpc.gov_methods import governance_payload  # late, as agent_methods above

        payload = governance_payload(kind, spec)
    else:
        raise invalid_params(f"cannot estimate {kind!r} transactions")
    # The widest encodings of the other fields, so the estimate is never short.
    widest = Transaction(
        MAX_U64, TxKind[str(kind).upper()], bytes(32), MAX_U64, MAX_U64, MAX_AMOUNT, payload
    )
    stx = SignedTx(widest, widest.encode() + bytes(64))
    return views.hx(intrinsic_gas(stx) + execution_gas(stx))


# Blocks


def _block_view(node: Node, blk: Block, full: bool) -> dict[str, object]:
    txs: list[object] = []
    for index, raw in enumerate(blk.transactions):
        stx = decode_transaction(raw)
        where = TxLocation(blk.height, index, blk.hash)
        txs.append(views.transaction(stx, where) if full else views.hexbytes(stx.hash))
    return views.block(blk, txs, len(blk.encode()))


def _block_args(node: Node, args: Params, by_hash: bool) -> tuple[Block | None, bool, str]:
    _max_args(args, 2)
    if by_hash:
        block_hash = params.hash32(_arg(args, 0, "block hash"))
        found, label = node.ledger.block_by_hash(block_hash), views.hexbytes(block_hash)
    else:
        number = params.block_number(_arg(args, 0, "block number", "latest"), node.ledger.height)
        found, label = node.ledger.block(number), str(number)
    full = params.flag(_arg(args, 1, "full transactions", False), "full transactions")
    return found, full, label


@method("aither_getBlockByNumber")
def get_block_by_number(node: Node, args: Params) -> dict[str, object]:
    found, full, label = _block_args(node, args, by_hash=False)
    if found is None:
        raise not_found(f"block {label}")
    return _block_view(node, found, full)


@method("aither_getBlockByHash")
def get_block_by_hash(node: Node, args: Params) -> dict[str, object]:
    found, full, label = _block_args(node, args, by_hash=True)
    if found is None:
        raise not_found(f"block {label}")
    return _block_view(node, found, full)


@method("eth_getBlockByNumber")
def eth_get_block_by_number(node: Node, args: Params) -> dict[str, object] | None:
    """As aither_getBlockByNumber, but null for an unknown block, as Ethereum nodes answer."""
    found, full, _ = _block_args(node, args, by_hash=False)
    return None if found is None else _block_view(node, found, full)


@method("eth_getBlockByHash")
def eth_get_block_by_hash(node: Node, args: Params) -> dict[str, object] | None:
    found, full, _ = _block_args(node, args, by_hash=True)
    return None if found is None else _block_view(node, found, full)
