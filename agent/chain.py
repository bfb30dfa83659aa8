"""The chain plugin: CHAIN_OP and WEB3_OP as read calls to an Ethereum JSON-RPC endpoint.

web3.py does the talking, so any Ethereum-compatible node works (the Aither node's eth_* subset
does too). Only reads are served: an agent that wants to move value on another chain signs that
itself, outside the AVM, so a write action fails with a PluginFailure naming the reads there are.
The chain named "aither" is the run's own node, served by the local host (`agent.onchain`).
"""

from __future__ import annotations

from collections.abc import Callable

from web3 import Web3
from web3.exceptions import Web3Exception

from avm.host import PluginFailure
from avm.values import AvmMap, Value

BLOCK_FIELDS = ("number", "hash", "parentHash", "timestamp", "miner", "gasUsed")


def _address(args: Value) -> str:
    if type(args) is AvmMap and args.has("address"):
        args = args.get("address")
    elif type(args) is tuple and args:
        args = args[0]
    if type(args) is bytes:
        return Web3.to_checksum_address(args)
    if type(args) is str and Web3.is_address(args):
        return Web3.to_checksum_address(args)
    raise PluginFailure(f"an address is 20 bytes or 0x-hex, not {args!r}")


def _block_id(args: Value) -> int | str:
    if type(args) is AvmMap and args.has("block"):
        args = args.get("block")
    elif type(args) is tuple and args:
        args = args[0]
    if args is None:
        return "latest"
    if type(args) is int or args in ("latest", "earliest", "pending"):
        return args
    raise PluginFailure(f"a block is a number or 'latest', not {args!r}")


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


class ChainPlugin:
    opcodes = frozenset({"CHAIN_OP", "WEB3_OP"})

    def __init__(self, url: str, timeout_sec: float = 10.0) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout_sec}))
        self.actions: dict[str, Callable[[Value], object]] = {
            "blocknumber": lambda _: self.w3.eth.block_number,
            "chainid": lambda _: self.w3.eth.chain_id,
            "gasprice": lambda _: self.w3.eth.gas_price,
            "getbalance": lambda a: self.w3.eth.get_balance(_address(a)),
            "gettransactioncount": lambda a: self.w3.eth.get_transaction_count(_address(a)),
            "getblock": self._block,
        }

    def _block(self, args: Value) -> object:
        block = self.w3.eth.get_block(_block_id(args))
        return {name: _plain(block[name]) for name in BLOCK_FIELDS if name in block}

    def call(self, opcode: str, args: tuple[Value, ...]) -> object:
        chain, action, action_args = args
        key = action.replace("_", "").lower() if type(action) is str else ""
        handler = self.actions.get(key)
        if handler is None:
            reads = ", ".join(sorted(self.actions))
            served = f"only reads are served ({reads})"
            raise PluginFailure(f"{opcode} {action!r} on {chain!r}: {served}")
        try:
            return handler(action_args)
        except PluginFailure:
            raise
        except (Web3Exception, OSError, ValueError) as exc:
            reason = f"{opcode} {key} at {self.url}: {type(exc).__name__}: {exc}"
            raise PluginFailure(reason) from None
