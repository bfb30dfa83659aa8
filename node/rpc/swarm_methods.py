"""JSON-RPC methods for identities, channels and swarm messages.

Chain reads (`aither_resolveName`, `aither_getIdentity`, `aither_getChannel`, `aither_getReward`)
work on every node. The `swarm_*` methods need the node's swarm service (`node.swarm`), which
holds the keys of the local identities unlocked at start: a caller names an identity (address or
name), never sends a key, and plaintext is served only here, on the node's own RPC (bound to
127.0.0.1 unless configured otherwise). They are admin methods (node/rpc/admin.py): sending signs
with a local key and reading returns plaintext, so each call must carry the node's admin token.

Composed into the node's method table by node/rpc/methods.py.
"""

from __future__ import annotations

from collections.abc import Callable

from core.crypto import to_checksum_address
from core.rpc import INVALID_PARAMS, LIMIT_EXCEEDED, METHOD_NOT_FOUND
from core.schema import MAX_U64
from core.swarm_wire import MAX_PAYLOAD
from ledger import identity
from ledger.channels.payloads import channel_id_of, is_channel_name
from ledger.channels.records import channel_json, load_channel, load_epoch, load_escrow
from ledger.names import is_name
from node.node import Node
from node.rpc import params
from node.rpc.errors import RpcError, invalid_params
from node.rpc.method_table import MethodTable
from node.rpc.params import Params, arg, max_args
from node.rpc.prefixes import Kind, full_id
from node.swarm.chain import StateChannels
from node.swarm.errors import NotLocal, NotMember, RateLimited, SwarmError, UnknownChannelError
from node.swarm.messages import SwarmMessage
from node.swarm.service import SwarmService

# Codes clients already know: a node without a swarm service lacks these methods, as geth
# answers for a disabled API namespace; refusals name what is wrong with the request.
SWARM_UNAVAILABLE = METHOD_NOT_FOUND
SWARM_REFUSED = INVALID_PARAMS  # not a member, not local, channel waits for a rotation
SWARM_RATE_LIMITED = LIMIT_EXCEEDED
MAX_MESSAGES = 1_000
TABLE = MethodTable()


def _chain(node: Node) -> StateChannels:
    return StateChannels(node.chain_id, node.ledger.get_state)


def _swarm(node: Node) -> SwarmService:
    service = node.swarm
    if service is None:
        raise RpcError(
            SWARM_UNAVAILABLE,
            "this node runs no swarm service: start it with a swarm identity "
            "(aither node start --swarm-key NAME)",
        )
    return service


def _refused(exc: SwarmError) -> RpcError:
    if isinstance(exc, RateLimited):
        return RpcError(SWARM_RATE_LIMITED, str(exc))
    return RpcError(SWARM_REFUSED, f"refused: {exc}")


def channel_param(node: Node, value: object) -> bytes:
    """A channel by 0x-hex id or by name."""
    if isinstance(value, str) and value.startswith("0x"):
        return params.hash32(value, "channel")
    if isinstance(value, str) and is_channel_name(value):
        return channel_id_of(node.chain_id, value)
    raise invalid_params("channel must be a 0x-hex channel id or a channel name")


def identity_param(node: Node, value: object, name: str = "identity") -> bytes:
    """An address, or a registered name (`x.avm`) resolved on chain."""
    if isinstance(value, str) and is_name(value):
        address = identity.resolve_name(_chain(node), value)
        if address is None:
            raise invalid_params(f"{value} is not a registered name")
        return address
    return params.address(value, name)


def payload_param(value: object) -> bytes:
    """0x-hex bytes, or any other string as UTF-8 text."""
    if not isinstance(value, str):
        raise invalid_params("payload must be 0x-hex bytes or text")
    if value.startswith("0x"):
        return params.data(value, "payload", MAX_PAYLOAD)
    raw = value.encode()
    if len(raw) > MAX_PAYLOAD:
        raise invalid_params(f"payload is larger than {MAX_PAYLOAD} bytes")
    return raw


# ---- chain reads -------------------------------------------------------------------------------


@TABLE.method("aither_resolveName")
def resolve_name(node: Node, args: Params) -> str | None:
    max_args(args, 1)
    name = arg(args, 0, "name")
    if not isinstance(name, str) or not is_name(name):
        raise invalid_params("name must look like masha-trader.avm")
    address = identity.resolve_name(_chain(node), name)
    return None if address is None else to_checksum_address(address)


@TABLE.method("aither_getIdentity")
def get_identity(node: Node, args: Params) -> dict[str, object] | None:
    max_args(args, 1)
    value = arg(args, 0, "name or address")
    if isinstance(value, str) and is_name(value):
        found = identity.lookup(_chain(node), value)
    else:
        found = identity.load_identity(_chain(node), params.address(value, "name or address"))
    return None if found is None else found.to_json()


@TABLE.method("aither_getChannel")
def get_channel(node: Node, args: Params) -> dict[str, object] | None:
    """A channel by id or name; with an epoch number, that epoch's rotation (sealed copies
    included: a member that was offline fetches the copies of the epochs it missed)."""
    max_args(args, 2)
    channel_id = channel_param(node, arg(args, 0, "channel"))
    view = channel_json(_chain(node), channel_id)
    epoch = arg(args, 1, "epoch", None)
    if view is None or epoch is None:
        return view
    number = params.quantity(epoch, "epoch")
    if number > MAX_U64:
        raise invalid_params("epoch must be an unsigned 64-bit integer")
    record = load_epoch(_chain(node), channel_id, number)
    view["requestedEpoch"] = None if record is None else record.to_json()
    return view


@TABLE.method("aither_getReward")
def get_reward(node: Node, args: Params) -> dict[str, object] | None:
    """The escrow held for a message, or null (never offered, paid, or returned)."""
    max_args(args, 1)
    message_hash = full_id(node, Kind.MESSAGE, arg(args, 0, "message hash"), "message hash")
    escrow = load_escrow(_chain(node), message_hash)
    return None if escrow is None else escrow.to_json()


# ---- swarm messages ----------------------------------------------------------------------------


def _sender(node: Node, service: SwarmService, value: object) -> bytes:
    if value is not None:
        return identity_param(node, value, "from")
    local = service.identities
    if len(local) == 1:
        return local[0]
    raise invalid_params(
        f"this node holds {len(local)} swarm identities: say which sends (third parameter)"
    )


@TABLE.admin_method("swarm_send")
async def swarm_send(node: Node, args: Params) -> dict[str, object]:
    """`swarm_send(channel, payload[, from])`: sign, encrypt and publish for a local identity."""
    max_args(args, 3)
    service = _swarm(node)
    channel_id = channel_param(node, arg(args, 0, "channel"))
    payload = payload_param(arg(args, 1, "payload"))
    sender = _sender(node, service, arg(args, 2, "from", None))
    try:
        sent = await service.send(sender, channel_id, payload)
    except SwarmError as exc:
        raise _refused(exc) from None
    node.metrics.swarm_messages.inc()
    return sent.to_json()


@TABLE.admin_method("swarm_messages")
def swarm_messages(node: Node, args: Params) -> list[dict[str, object]]:
    """`swarm_messages(channel[, since[, reader]])`: decrypted messages after index `since`."""
    max_args(args, 3)
    service = _swarm(node)
    channel_id = channel_param(node, arg(args, 0, "channel"))
    since = params.quantity(arg(args, 1, "since", 0), "since")
    reader_arg = arg(args, 2, "reader", None)
    reader = None if reader_arg is None else identity_param(node, reader_arg, "reader")
    try:
        found = service.messages(channel_id, since, reader, MAX_MESSAGES)
    except (NotMember, NotLocal) as exc:
        raise _refused(exc) from None
    return [message.to_json() for message in found]


@TABLE.admin_method("swarm_message")
def swarm_message(node: Node, args: Params) -> dict[str, object] | None:
    """A decrypted message by its hash (what `aither swarm accept` cites on chain)."""
    max_args(args, 1)
    message_hash = full_id(node, Kind.MESSAGE, arg(args, 0, "message hash"), "message hash")
    found = _swarm(node).find(message_hash)
    return None if found is None else found.to_json()


@TABLE.admin_method("swarm_identities")
def swarm_identities(node: Node, args: Params) -> list[dict[str, object]]:
    """The identities whose keys this node holds, with their names and followed channels."""
    max_args(args, 0)
    service = _swarm(node)
    chain = _chain(node)
    found: list[dict[str, object]] = []
    for address in service.identities:
        record = identity.load_identity(chain, address)
        found.append(
            {
                "address": to_checksum_address(address),
                "name": None if record is None or not record.name else record.name,
            }
        )
    return found


@TABLE.admin_method("swarm_stats")
def swarm_stats(node: Node, args: Params) -> dict[str, object]:
    """The swarm service's counters since start: what it relayed, dropped, sent, accepted, and
    rejected by reason."""
    max_args(args, 0)
    return _swarm(node).stats.to_json()


@TABLE.admin_method("swarm_follow")
async def swarm_follow(node: Node, args: Params) -> bool:
    """Relay (and, for local members, read) a channel's topic from now on."""
    max_args(args, 1)
    channel_id = channel_param(node, arg(args, 0, "channel"))
    if load_channel(_chain(node), channel_id) is None:
        raise _refused(UnknownChannelError(f"no channel 0x{channel_id.hex()}"))
    await _swarm(node).follow(channel_id)
    return True


# ---- WebSocket subscriptions -------------------------------------------------------------------


def swarm_subscription(
    node: Node, args: list[object], push: Callable[[dict[str, object]], None]
) -> Callable[[], None]:
    """`aither_subscribe("swarm", channel[, reader])`: push each message a local member accepts
    on `channel` (to `reader` only when given). Returns the function that ends it.

    Raises RpcError when the node runs no swarm service or no local identity is a member.
    """
    if len(args) not in (2, 3):
        raise invalid_params('"swarm" takes a channel (id or name) and optionally a reader')
    service = _swarm(node)
    channel_id = channel_param(node, args[1])
    reader = identity_param(node, args[2], "reader") if len(args) == 3 else None

    def deliver(message: SwarmMessage) -> None:
        if reader is None or reader in message.readers:
            push(message.to_json())

    try:
        handle = service.listen(channel_id, deliver)
    except SwarmError as exc:
        raise _refused(exc) from None
    return lambda: service.unlisten(handle)
