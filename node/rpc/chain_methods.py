"""The JSON-RPC chain methods: `aither_*` for everything, `eth_*` for what web3.py reads.

Each method is a function of the node and its positional params, registered by name in TABLE.
"""

from __future__ import annotations

from avm.gas import schedule_to_json
from core.amounts import MAX_AMOUNT
from core.crypto import address_of, to_checksum_address
from core.errors import AitherError, DecodeError, InvalidTransaction, TransactionRejected
from core.rpc import TX_REJECTED
from core.schema import MAX_U64
from ledger.block import MAX_VALIDATORS, Block
from ledger.chain import TxLocation
from ledger.chain_params import MAX_TX_SIZE, avm_version, gas_schedule, load_chain_params
from ledger.evidence import JAILED, load_jail_record
from ledger.state import Account, State
from ledger.transition import execution_gas, intrinsic_gas
from ledger.tx import (
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
from node.rpc.agent_methods import estimate_agent_gas
from node.rpc.errors import RpcError, invalid_params, not_found
from node.rpc.gov_methods import governance_payload
from node.rpc.limits import HISTORY_LIMIT
from node.rpc.method_table import MethodTable
from node.rpc.params import Params, arg, max_args
from node.rpc.prefixes import Kind, full_id
from node.rpc.workers import run_expensive

TABLE = MethodTable()


# Chain


@TABLE.method("aither_chainId")
@TABLE.method("eth_chainId")
def chain_id(node: Node, args: Params) -> str:
    max_args(args, 0)
    return views.hx(node.chain_id)


@TABLE.method("net_version")
def net_version(node: Node, args: Params) -> str:
    max_args(args, 0)
    return str(node.chain_id)


@TABLE.method("web3_clientVersion")
def client_version(node: Node, args: Params) -> str:
    max_args(args, 0)
    return f"aither/v{__version__}/python"


@TABLE.method("aither_blockNumber")
@TABLE.method("eth_blockNumber")
def block_number(node: Node, args: Params) -> str:
    max_args(args, 0)
    return views.hx(node.ledger.height)


@TABLE.method("eth_syncing")
def syncing(node: Node, args: Params) -> bool:
    max_args(args, 0)
    return False


@TABLE.method("eth_gasPrice")
def gas_price(node: Node, args: Params) -> str:
    max_args(args, 0)
    return views.hx(node.ledger.chain_params().min_gas_price)


@TABLE.method("aither_getChainParams")
def get_chain_params(node: Node, args: Params) -> dict[str, object]:
    """`[block?]`: the chain parameters in force for the block after `block` (default latest),
    in the genesis form (snake_case), with `height`, the block they were read at,
    `gas_schedule_version`, the version of the gas schedule in force, and `avm_version`, the
    newest AVM version code may be deployed for."""
    max_args(args, 1)
    height = params.block_height(arg(args, 0, "block", "latest"), node.ledger)
    _, reader = params.state_at(node.ledger, height)
    state = State(reader)
    rules = load_chain_params(state, node.ledger.genesis.chain)
    version = gas_schedule(state).version
    return {
        "height": height,
        **rules.to_json(),
        "gas_schedule_version": version,
        "avm_version": avm_version(state),
    }


@TABLE.method("aither_getValidators")
def get_validators(node: Node, args: Params) -> dict[str, object]:
    """`[block?]`: the validators of the block after `block` (default latest): {height,
    totalPower, validators: [{pubkey, address, power}], jailed: [{pubkey, address, height,
    slashed, evidence}]} by public key (jailed: for equivocation, until a proposal restores
    them)."""
    max_args(args, 1)
    height = params.block_height(arg(args, 0, "block", "latest"), node.ledger)
    _, reader = params.state_at(node.ledger, height)  # STATE_UNAVAILABLE: the state is gone
    powers = node.ledger.validators_at(height)
    jailed = [
        {"pubkey": views.hexbytes(key[len(JAILED) :]),
         "address": to_checksum_address(address_of(key[len(JAILED) :])),
         **load_jail_record(raw).to_json()}
        for key, raw in reader.state_range(JAILED, bytes([JAILED[0] + 1]), MAX_VALIDATORS)
    ]  # fmt: skip
    listed = [
        {"pubkey": views.hexbytes(key), "address": to_checksum_address(address_of(key)),
         "power": power}
        for key, power in sorted(powers.items())
    ]  # fmt: skip
    total = sum(powers.values())
    return {"height": height, "totalPower": total, "validators": listed, "jailed": jailed}


@TABLE.method("aither_getGasSchedule")
def get_gas_schedule(node: Node, args: Params) -> dict[str, object]:
    """`[block?]`: the gas schedule in force for the block after `block` (default latest):
    {height, version, costs: {name: milligas | [num, den] (a fraction of a milligas)}}."""
    max_args(args, 1)
    height = params.block_height(arg(args, 0, "block", "latest"), node.ledger)
    _, reader = params.state_at(node.ledger, height)
    return {"height": height, **schedule_to_json(gas_schedule(State(reader)))}


# Accounts


@TABLE.method("aither_getBalance")
def get_balance(node: Node, args: Params) -> str:
    """`[address, token?, block?]`: the balance of AVM (or of a token) at a block (default
    latest)."""
    max_args(args, 3)
    address = params.address(arg(args, 0, "address"))
    token = arg(args, 1, "token", "")
    if not isinstance(token, str):
        raise invalid_params("token must be a symbol")
    state = _state_at(node, arg(args, 2, "block", "latest"))
    if not token or token == "AVM":
        return views.hx(state.account(address).balance)
    if state.token(token) is None:
        raise not_found(f"token {token}")
    return views.hx(state.token_balance(address, token))


def _state_at(node: Node, block: object) -> State:
    height = params.block_height(block, node.ledger)
    _, reader = params.state_at(node.ledger, height)
    return State(reader)


def _account_at(node: Node, address: bytes, block: object) -> Account:
    return _state_at(node, block).account(address)


@TABLE.method("eth_getBalance")
def eth_get_balance(node: Node, args: Params) -> str:
    """The native balance at a block: a tag, a number or an EIP-1898 object (default latest)."""
    max_args(args, 2)
    address = params.address(arg(args, 0, "address"))
    return views.hx(_account_at(node, address, arg(args, 1, "block", "latest")).balance)


@TABLE.method("eth_getTransactionCount")
def eth_get_transaction_count(node: Node, args: Params) -> str:
    """The account's nonce at a block; with "pending", counting its transactions in the mempool."""
    max_args(args, 2)
    address = params.address(arg(args, 0, "address"))
    block = arg(args, 1, "block", "latest")
    if block == "pending":
        return views.hx(node.pending_nonce(address))
    return views.hx(_account_at(node, address, block).nonce)


@TABLE.method("aither_getAccount")
def get_account(node: Node, args: Params) -> dict[str, object]:
    """`[address, block?]`: nonce, balance and token balances at a block (default latest)."""
    max_args(args, 2)
    address = params.address(arg(args, 0, "address"))
    height = params.block_height(arg(args, 1, "block", "latest"), node.ledger)
    _, reader = params.state_at(node.ledger, height)
    state = State(reader)
    account = state.account(address)
    # The symbols the address has ever held (a past block's are among them), read at the block.
    tokens = {
        symbol: views.hx(state.token_balance(address, symbol))
        for symbol in node.ledger.token_balances(address)
    }
    return {
        "address": to_checksum_address(address),
        "nonce": views.hx(account.nonce),
        "pendingNonce": views.hx(node.pending_nonce(address)),
        "balance": views.hx(account.balance),
        "tokens": {symbol: amount for symbol, amount in tokens.items() if amount != "0x0"},
        "blockNumber": views.hx(height),
    }


@TABLE.method("aither_getProof")
def get_proof(node: Node, args: Params) -> dict[str, object]:
    max_args(args, 1)
    address = params.address(arg(args, 0, "address"))
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


@TABLE.method("aither_getTokens")
def get_tokens(node: Node, args: Params) -> list[dict[str, object]]:
    max_args(args, 0)
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
    max_args(args, 1)
    return params.data(arg(args, 0, "transaction"), "transaction", MAX_TX_SIZE)


def rejected(error: AitherError) -> RpcError:
    return RpcError(TX_REJECTED, f"transaction rejected: {error}")


@TABLE.method(SEND_RAW_TRANSACTION)
async def send_raw_transaction(node: Node, args: Params) -> str:
    raw = raw_transaction_param(args)
    try:
        tx_hash = await node.submit(raw)
    except (DecodeError, InvalidTransaction, TransactionRejected) as exc:
        raise rejected(exc) from None
    return views.hexbytes(tx_hash)


@TABLE.method("aither_getTransaction")
def get_transaction(node: Node, args: Params) -> dict[str, object]:
    max_args(args, 1)
    tx_hash = full_id(node, Kind.TRANSACTION, arg(args, 0, "transaction hash"), "hash")
    found = node.ledger.transaction(tx_hash)
    if found is not None:
        return views.transaction(*found)
    pending = node.mempool.get(tx_hash)
    if pending is not None:
        return views.transaction(pending, None)
    raise not_found(f"transaction {views.hexbytes(tx_hash)}")


@TABLE.method("aither_getTransactionReceipt")
def get_transaction_receipt(node: Node, args: Params) -> dict[str, object] | None:
    """The receipt, null while the transaction is pending, not-found if it is unknown."""
    max_args(args, 1)
    tx_hash = full_id(node, Kind.TRANSACTION, arg(args, 0, "transaction hash"), "hash")
    found = node.ledger.transaction(tx_hash)
    if found is None:
        if tx_hash in node.mempool:
            return None
        raise not_found(f"transaction {views.hexbytes(tx_hash)}")
    stx, where = found
    rc = node.ledger.receipt(tx_hash)
    assert rc is not None
    return views.receipt(rc, stx, where)


@TABLE.method("aither_getHistory")
async def get_history(node: Node, args: Params) -> list[dict[str, object]]:
    """The transactions that touched an address, newest first (at most HISTORY_LIMIT)."""
    max_args(args, 2)
    address = params.address(arg(args, 0, "address"))
    limit = params.quantity(arg(args, 1, "limit", 100), "limit")
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


@TABLE.method("aither_estimateGas")
async def estimate_gas(node: Node, args: Params) -> str:
    """Gas for a transaction described as in aither_getTransaction's view.

    Fields: kind ("transfer" default, "token_create", "deploy", "call", "propose", "vote" or
    "cancel"); for a transfer `to`, `value`, optional `token`; for a token `symbol`, `name`,
    `supply`, `decimals`; for a deploy `code`, `storage`, `value`; for a call the fields of
    aither_call, which it runs on the head state (an error if the call would trap); for a
    proposal `spec` (see gov_methods.proposal_spec); for a vote `proposal`, `choice`,
    `explanation`; for a cancel `proposal`.
    """
    max_args(args, 1)
    spec = arg(args, 0, "transaction object")
    if not isinstance(spec, dict):
        raise invalid_params("expected a transaction object")
    kind = spec.get("kind", "transfer")
    if kind in ("deploy", "call"):
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
        payload = governance_payload(kind, spec, gas_schedule(State(node.ledger)))
    else:
        raise invalid_params(f"cannot estimate {kind!r} transactions")
    return views.hx(static_gas(TxKind[str(kind).upper()], payload))


def static_gas(kind: TxKind, payload: Payload) -> int:
    """The gas of a transaction whose payload alone fixes its cost, at the widest encodings of
    the other fields so that the estimate is never short."""
    widest = Transaction(MAX_U64, kind, bytes(32), MAX_U64, MAX_U64, MAX_AMOUNT, payload)
    stx = SignedTx(widest, widest.encode() + bytes(64))
    return intrinsic_gas(stx) + execution_gas(stx)


def transfer_gas(to: bytes, value: int) -> int:
    """The gas of a native transfer (eth_estimateGas without data)."""
    return static_gas(TxKind.TRANSFER, Transfer(to, value))


# Blocks


def _block_view(node: Node, blk: Block, full: bool) -> dict[str, object]:
    txs: list[object] = []
    for index, raw in enumerate(blk.transactions):
        stx = decode_transaction(raw)
        where = TxLocation(blk.height, index, blk.hash)
        txs.append(views.transaction(stx, where) if full else views.hexbytes(stx.hash))
    return views.block(blk, txs, len(blk.encode()))


def _block_args(
    node: Node, args: Params, by_hash: bool, *, prefix: bool = False
) -> tuple[Block | None, bool, str]:
    """The block asked for (by hash: whole, or with `prefix` a unique prefix), whether with
    full transactions, and how to name it."""
    max_args(args, 2)
    if by_hash:
        given = arg(args, 0, "block hash")
        block_hash = full_id(node, Kind.BLOCK, given, "hash") if prefix else params.hash32(given)
        found, label = node.ledger.block_by_hash(block_hash), views.hexbytes(block_hash)
    else:
        number = params.block_number(arg(args, 0, "block number", "latest"), node.ledger.height)
        found, label = node.ledger.block(number), str(number)
    full = params.flag(arg(args, 1, "full transactions", False), "full transactions")
    return found, full, label


def _known_block(node: Node, args: Params, by_hash: bool) -> dict[str, object]:
    found, full, label = _block_args(node, args, by_hash, prefix=True)
    if found is None:
        raise not_found(f"block {label}")
    return _block_view(node, found, full)


@TABLE.method("aither_getBlockByNumber")
def get_block_by_number(node: Node, args: Params) -> dict[str, object]:
    return _known_block(node, args, by_hash=False)


@TABLE.method("aither_getBlockByHash")
def get_block_by_hash(node: Node, args: Params) -> dict[str, object]:
    return _known_block(node, args, by_hash=True)


@TABLE.method("eth_getBlockByNumber")
def eth_get_block_by_number(node: Node, args: Params) -> dict[str, object] | None:
    """As aither_getBlockByNumber, but null for an unknown block, as Ethereum nodes answer."""
    found, full, _ = _block_args(node, args, by_hash=False)
    return None if found is None else _block_view(node, found, full)


@TABLE.method("eth_getBlockByHash")
def eth_get_block_by_hash(node: Node, args: Params) -> dict[str, object] | None:
    found, full, _ = _block_args(node, args, by_hash=True)
    return None if found is None else _block_view(node, found, full)
