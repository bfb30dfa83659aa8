"""Ids given by a unique prefix, as git takes hashes: `0x5bff3a` for a transaction, block, code
id, proposal or swarm message, wherever an `aither_*` method takes one. An unknown or ambiguous
prefix is refused naming the candidates; Ethereum's `eth_*` methods take whole hashes only."""

from __future__ import annotations

import re
from enum import Enum

from core.crypto import HASH_SIZE
from ledger.chain import IdKind
from node.node import Node
from node.rpc import params
from node.rpc.errors import RpcError, invalid_params, not_found
from node.rpc.method_table import MethodTable
from node.rpc.params import Params, arg, max_args

TABLE = MethodTable()
MIN_DIGITS = 4  # hex digits of the shortest prefix taken
CANDIDATES = 8  # shown when a prefix is ambiguous
_PREFIX = re.compile(f"0x[0-9a-fA-F]{{{MIN_DIGITS},{2 * HASH_SIZE - 1}}}")


class Kind(Enum):
    """The ledger's kinds of ids, and the swarm's messages (held by the node, not the chain)."""

    TRANSACTION = "transaction"
    BLOCK = "block"
    CODE = "code"
    PROPOSAL = "proposal"
    MESSAGE = "message"


def full_id(node: Node, kind: Kind, value: object, name: str) -> bytes:
    """The 32-byte id `value` names: whole 0x-hex, or a unique prefix of at least MIN_DIGITS."""
    if not (isinstance(value, str) and _PREFIX.fullmatch(value)):
        try:
            return params.hash32(value, name)
        except RpcError as exc:
            hint = f" (or a unique prefix of at least {MIN_DIGITS} hex digits)"
            raise RpcError(exc.code, exc.message + hint) from None
    digits = value[2:].lower()
    found = candidates(node, kind, digits, CANDIDATES + 1)
    if not found:
        raise not_found(f"{kind.value} with prefix {value}")
    if len(found) > 1:
        shown = ", ".join("0x" + ident.hex()[: len(digits) + 4] for ident in found[:CANDIDATES])
        more = ", ..." if len(found) > CANDIDATES else ""
        raise invalid_params(f"{name} prefix {value} is ambiguous: {shown}{more}")
    return found[0]


def candidates(node: Node, kind: Kind, digits: str, limit: int) -> list[bytes]:
    if kind is Kind.MESSAGE:
        return [] if node.swarm is None else node.swarm.hashes_with_prefix(digits, limit)
    found = node.ledger.ids_with_prefix(IdKind(kind.value), digits, limit)
    if kind is Kind.TRANSACTION and len(found) < limit:  # and those waiting in the mempool
        pending = sorted(h for h in node.mempool.hashes() if h.hex().startswith(digits))
        found = sorted(set(found) | set(pending))[:limit]
    return found


@TABLE.method("aither_resolveId")
def resolve_id(node: Node, args: Params) -> str:
    """`[kind, prefix]`: the whole id a unique prefix names (kind: transaction, block, code,
    proposal or message)."""
    max_args(args, 2)
    kind_name = arg(args, 0, "kind")
    try:
        kind = Kind(kind_name)
    except ValueError:
        kinds = ", ".join(k.value for k in Kind)
        raise invalid_params(f"kind must be one of {kinds}, not {kind_name!r}") from None
    return "0x" + full_id(node, kind, arg(args, 1, "id"), f"{kind.value} id").hex()
