"""A dev chain's controls over JSON-RPC (node/dev.py): `aither_*`, and the `evm_*` and
`anvil_*` names tools already know (hardhat, foundry, web3.py scripts written for anvil).

Only a `--dev` node answers them; a network's node answers "method not found" with the reason.
Blocks are made before the answer: after `aither_mine` returns, the block is the head.
"""

from __future__ import annotations

from core.amounts import MAX_AMOUNT
from core.crypto import SIGNATURE_SIZE
from core.errors import AitherError
from core.rpc import INVALID_PARAMS, METHOD_NOT_FOUND
from core.schema import MAX_U64
from ledger.chain import HistoryUnavailable
from ledger.tx import Transaction, Transfer, TxKind, decode_transaction
from node.dev import DevChain, DevError
from node.node import Node
from node.rpc import params
from node.rpc.errors import RpcError, invalid_params
from node.rpc.method_table import MethodTable
from node.rpc.params import Params, arg, max_args
from node.rpc.views import hx

TABLE = MethodTable()
MAX_MINED = 10_000  # blocks one call makes
MAX_TIME_STEP = 100 * 365 * 24 * 3600  # seconds one call moves the clock
MAX_STATE_BYTES = 4 * 1024 * 1024  # of one key or value in a loaded dump


def _dev(node: Node, method: str) -> DevChain:
    if node.dev is None:
        raise RpcError(
            METHOD_NOT_FOUND,
            f"method not found: {method} is a dev chain control, and this node runs a network "
            "(start a dev chain with `aither node start --dev`)",
        )
    return node.dev


def _refused(exc: AitherError) -> RpcError:
    return RpcError(INVALID_PARAMS, f"invalid params: {exc}")


# Blocks and time


@TABLE.method("aither_mine")
@TABLE.method("anvil_mine")
@TABLE.method("hardhat_mine")
async def mine(node: Node, args: Params) -> str | None:
    """Make blocks now: `[blocks=1, interval=0]` (seconds between their timestamps). Answers
    the last block's number (anvil's names answer null, as anvil does)."""
    dev = _dev(node, "aither_mine")
    max_args(args, 2)
    blocks = params.quantity(arg(args, 0, "blocks", 1), "blocks", MAX_MINED)
    interval = params.quantity(arg(args, 1, "interval", 0), "interval", MAX_TIME_STEP)
    if blocks < 1:
        raise invalid_params("blocks must be at least 1")
    height = await dev.mine(blocks, interval)
    return hx(height)


@TABLE.method("evm_mine")
async def evm_mine(node: Node, args: Params) -> str:
    """Make one block now, at `[timestamp]` if given (ganache's and anvil's evm_mine)."""
    dev = _dev(node, "evm_mine")
    max_args(args, 1)
    if args and args[0] is not None:
        try:
            dev.set_next_timestamp(params.quantity(args[0], "timestamp", MAX_U64))
        except DevError as exc:
            raise _refused(exc) from None
    await dev.mine()
    return "0x0"


@TABLE.method("aither_increaseTime")
@TABLE.method("evm_increaseTime")
def increase_time(node: Node, args: Params) -> int:
    """Move the next blocks' clock forward by `[seconds]`; the total offset, in seconds."""
    dev = _dev(node, "evm_increaseTime")
    max_args(args, 1)
    return dev.increase_time(params.quantity(arg(args, 0, "seconds"), "seconds", MAX_TIME_STEP))


@TABLE.method("aither_setNextBlockTimestamp")
@TABLE.method("evm_setNextBlockTimestamp")
def set_next_block_timestamp(node: Node, args: Params) -> None:
    dev = _dev(node, "evm_setNextBlockTimestamp")
    max_args(args, 1)
    try:
        dev.set_next_timestamp(params.quantity(arg(args, 0, "timestamp"), "timestamp", MAX_U64))
    except DevError as exc:
        raise _refused(exc) from None


@TABLE.method("aither_setAutomine")
@TABLE.method("evm_setAutomine")
def set_automine(node: Node, args: Params) -> None:
    """`[true]`: a block as soon as transactions wait (the default); `[false]`: only when mined
    (or every interval)."""
    max_args(args, 1)
    _dev(node, "evm_setAutomine").set_automine(params.flag(arg(args, 0, "enabled"), "enabled"))


@TABLE.method("aither_setIntervalMining")
@TABLE.method("evm_setIntervalMining")
def set_interval_mining(node: Node, args: Params) -> None:
    """`[seconds]`: also make a block this often without transactions (0: off)."""
    dev = _dev(node, "evm_setIntervalMining")
    max_args(args, 1)
    dev.set_interval(params.quantity(arg(args, 0, "seconds"), "seconds", MAX_TIME_STEP))


# Snapshots


@TABLE.method("aither_snapshot")
@TABLE.method("evm_snapshot")
def snapshot(node: Node, args: Params) -> str:
    """Remember the chain as it is; an id for evm_revert."""
    max_args(args, 0)
    return hx(_dev(node, "evm_snapshot").snapshot())


@TABLE.method("aither_revert")
@TABLE.method("evm_revert")
async def revert(node: Node, args: Params) -> bool:
    """Roll the chain back to snapshot `[id]`: blocks, state, receipts, logs and indexes as they
    were, the mempool emptied. The snapshot and later ones are used up; false for an unknown id."""
    dev = _dev(node, "evm_revert")
    max_args(args, 1)
    try:
        return await dev.revert(params.quantity(arg(args, 0, "snapshot id"), "snapshot id"))
    except HistoryUnavailable as exc:
        raise _refused(exc) from None


# State set by hand


@TABLE.method("aither_setBalance")
@TABLE.method("anvil_setBalance")
@TABLE.method("hardhat_setBalance")
async def set_balance(node: Node, args: Params) -> None:
    """`[address, amount]` in base units; written by a block made now."""
    dev = _dev(node, "anvil_setBalance")
    max_args(args, 2)
    address = params.address(arg(args, 0, "address"))
    amount = params.quantity(arg(args, 1, "amount"), "amount", MAX_AMOUNT)
    await dev.set_account(address, balance=amount)


@TABLE.method("aither_setNonce")
@TABLE.method("anvil_setNonce")
@TABLE.method("hardhat_setNonce")
async def set_nonce(node: Node, args: Params) -> None:
    """`[address, nonce]`; written by a block made now."""
    dev = _dev(node, "anvil_setNonce")
    max_args(args, 2)
    address = params.address(arg(args, 0, "address"))
    nonce = params.quantity(arg(args, 1, "nonce"), "nonce", MAX_U64)
    await dev.set_account(address, nonce=nonce)


@TABLE.method("aither_dumpState")
@TABLE.method("anvil_dumpState")
def dump_state(node: Node, args: Params) -> dict[str, object]:
    """The whole state at the head: `{chainId, height, stateRoot, entries: [[key, value]]}`."""
    max_args(args, 0)
    return _dev(node, "anvil_dumpState").dump()


@TABLE.method("aither_loadState")
@TABLE.method("anvil_loadState")
async def load_state(node: Node, args: Params) -> bool:
    """Replace the whole state with a dump of this chain (aither_dumpState's answer)."""
    dev = _dev(node, "anvil_loadState")
    max_args(args, 1)
    dump = arg(args, 0, "state dump")
    if not isinstance(dump, dict) or not isinstance(dump.get("entries"), list):
        raise invalid_params("expected a state dump: an object with an entries list")
    if dump.get("chainId") != node.chain_id:
        raise invalid_params(f"the dump is of chain {dump.get('chainId')}, this is {node.chain_id}")
    entries = []
    for entry in dump["entries"]:
        if not (isinstance(entry, list) and len(entry) == 2):
            raise invalid_params("each entry must be [key, value]")
        entries.append(
            (
                params.data(entry[0], "key", MAX_STATE_BYTES),
                params.data(entry[1], "value", MAX_STATE_BYTES),
            )
        )
    try:
        await dev.load(entries)
    except DevError as exc:
        raise _refused(exc) from None
    return True


# Sending as an account without its key


@TABLE.method("aither_impersonateAccount")
@TABLE.method("anvil_impersonateAccount")
@TABLE.method("hardhat_impersonateAccount")
def impersonate(node: Node, args: Params) -> None:
    """Let eth_sendTransaction send as `[address]` unsigned. Senders are public keys here, so
    the chain must have seen the address's key: it has sent a transaction."""
    dev = _dev(node, "anvil_impersonateAccount")
    max_args(args, 1)
    address = params.address(arg(args, 0, "address"))
    for tx_hash in node.ledger.history(address, 1000):
        found = node.ledger.transaction(tx_hash)
        if found is not None and found[0].sender == address:
            dev.impersonate(address, found[0].tx.sender_pubkey)
            return
    raise invalid_params(
        f"the chain has not seen the public key of 0x{address.hex()}: senders are keys, so "
        "only an account that has sent a transaction can be impersonated"
    )


@TABLE.method("aither_stopImpersonatingAccount")
@TABLE.method("anvil_stopImpersonatingAccount")
@TABLE.method("hardhat_stopImpersonatingAccount")
def stop_impersonating(node: Node, args: Params) -> None:
    max_args(args, 1)
    dev = _dev(node, "anvil_stopImpersonatingAccount")
    dev.stop_impersonating(params.address(arg(args, 0, "address")))


@TABLE.method("eth_sendTransaction")
async def send_transaction(node: Node, args: Params) -> str:
    """A transfer `{from, to, value[, gas, gasPrice, nonce]}` sent as an impersonated account,
    unsigned (a dev chain's blocks are not checked by anyone else). Its hash."""
    dev = _dev(node, "eth_sendTransaction")
    max_args(args, 1)
    spec = arg(args, 0, "transaction object")
    if not isinstance(spec, dict):
        raise invalid_params("expected a transaction object")
    sender = params.address(spec.get("from"), "from")
    pubkey = dev.impersonated.get(sender)
    if pubkey is None:
        raise invalid_params(
            f"0x{sender.hex()} is not impersonated (anvil_impersonateAccount first): this node "
            "holds no keys; sign with `aither wallet` and use aither_sendRawTransaction"
        )
    if spec.get("data") not in (None, "0x", ""):
        raise invalid_params("eth_sendTransaction sends transfers only (no data)")
    nonce = spec.get("nonce")
    to = params.address(spec.get("to"), "to")
    tx = Transaction(
        node.chain_id,
        TxKind.TRANSFER,
        pubkey,
        node.pending_nonce(sender) if nonce is None else params.quantity(nonce, "nonce", MAX_U64),
        params.quantity(spec.get("gas", 100_000), "gas", MAX_U64),
        params.quantity(spec.get("gasPrice", node.ledger.chain_params().min_gas_price), "gasPrice"),
        Transfer(to, params.quantity(spec.get("value", 0), "value")),
        bytes(SIGNATURE_SIZE),  # unsigned: admitted as verified below
    )
    stx = decode_transaction(tx.encode())
    (outcome,) = await node.submit_many([stx.raw], verified={stx.hash})
    if isinstance(outcome, AitherError):
        raise _refused(outcome)
    return "0x" + outcome.hex()
