"""What channel transactions do to state: ledger/transition.py calls `apply_channel` for each
one and `end_block` at each block's end.

A rotation's copies must cover exactly the members of the new epoch: the current members plus
pending joins minus pending leaves (minus the removed member for REMOVE). The chain cannot open
the sealed copies; members check them against the rotation's commitment when they unseal.
Joins and leaves wait for the next rotation because a joiner cannot seal the key to itself.

Rewards: REWARD moves `amount` from the requester into the escrow account `REWARD_ESCROW`.
ACCEPT rebuilds `core.swarm_wire.signed_statement` from the answer's fields and checks the
signature with the answer sender's key and its membership at that epoch: the chain pays without
ever seeing the plaintext. `end_block` returns what is still held when the timeout height ends.
"""

from __future__ import annotations

from dataclasses import replace

from core.crypto import (
    ADDRESS_SIZE,
    PUBKEY_SIZE,
    address_of,
    hash32,
    to_checksum_address,
    verify,
)
from core.encoding import decode, encode
from core.errors import ExecutionFailed
from core.schema import byte_strings
from core.swarm_keys import MAX_MEMBERS, Rotation
from ledger import gas
from ledger.channels.payloads import (
    MAX_REWARD_TIMEOUT,
    AcceptAnswer,
    AnyChannelPayload,
    ChannelMode,
    CreateChannel,
    JoinChannel,
    LeaveChannel,
    OfferReward,
    RemoveMember,
    channel_id_of,
)
from ledger.channels.records import (
    CHANNEL,
    ESCROW,
    KEEP_EPOCHS,
    TIMEOUTS,
    BadRotation,
    Channel,
    ChannelContext,
    ChannelError,
    ChannelExists,
    EpochRecord,
    Escrow,
    NoCertificate,
    NotAdmin,
    NotAMember,
    RewardError,
    UnknownChannel,
    current_members,
    epoch_key,
    expected_members,
    load_channel,
    load_epoch,
    load_escrow,
)
from ledger.identity import load_identity
from ledger.receipt import Log
from ledger.state import Store, move

# Rewards wait in this account (nobody holds its key), so balances still add up to the supply.
REWARD_ESCROW = hash32(b"aither/swarm/reward-escrow")[-ADDRESS_SIZE:]
MAX_TIMEOUTS_PER_HEIGHT = 1024  # bounds the work of one end_block

# ---- the transition ----------------------------------------------------------------------------


def execution_gas(payload: AnyChannelPayload) -> int:
    rotation = getattr(payload, "rotation", None)
    copies = 0 if rotation is None else len(rotation.copies)
    extra = gas.CHANNEL_ACCEPT if isinstance(payload, AcceptAnswer) else 0
    return gas.CHANNEL_OP + gas.CHANNEL_ROTATION_MEMBER * copies + extra


def apply_channel(
    store: Store, sender_pubkey: bytes, payload: AnyChannelPayload, ctx: ChannelContext
) -> tuple[Log, ...]:
    """Apply a channel transaction from `sender_pubkey`.

    Raises a ChannelError (an ExecutionFailed: the caller rolls the effect back, the fee is
    paid) if it cannot apply; checks come before writes.
    """
    if len(sender_pubkey) != PUBKEY_SIZE:
        raise ChannelError("the sender's key is not an ed25519 public key")
    sender = address_of(sender_pubkey)
    if isinstance(payload, CreateChannel):
        return _create(store, sender, payload, ctx)
    if isinstance(payload, OfferReward):
        return _offer(store, sender, payload, ctx)
    if isinstance(payload, AcceptAnswer):
        return _accept(store, sender, payload)
    channel = load_channel(store, payload.channel_id)
    if channel is None:
        raise UnknownChannel(f"no channel 0x{payload.channel_id.hex()}")
    if isinstance(payload, JoinChannel):
        return _join(store, sender, channel, payload)
    if isinstance(payload, LeaveChannel):
        return _leave(store, sender, channel)
    if isinstance(payload, RemoveMember):
        return _remove(store, sender, channel, payload, ctx)
    return _rotate(store, sender, channel, payload.rotation, ctx)


def _require_certificate(store: Store, address: bytes) -> None:
    identity = load_identity(store, address)
    if identity is None or identity.certificate is None:
        raise NoCertificate(
            f"{to_checksum_address(address)} has no certified encryption key: register one "
            "first (aither wallet register)"
        )


def _create(
    store: Store, sender: bytes, payload: CreateChannel, ctx: ChannelContext
) -> tuple[Log, ...]:
    channel_id = channel_id_of(ctx.chain_id, payload.name)
    if store.get(CHANNEL + channel_id) is not None:
        raise ChannelExists(f"channel {payload.name} exists")
    rotation = payload.rotation
    if rotation.channel_id != channel_id:
        raise BadRotation(f"the rotation is for another channel than {payload.name}")
    if rotation.epoch != 0:
        raise BadRotation(f"a new channel starts at epoch 0, not {rotation.epoch}")
    if rotation.members != (sender,):
        raise BadRotation("the first rotation covers exactly the admin")
    _require_certificate(store, sender)
    channel = Channel(channel_id, payload.name, payload.mode, sender, 0, created=ctx.height)
    _put_channel(store, channel)
    store.put(epoch_key(channel_id, 0), encode(EpochRecord(rotation, ctx.timestamp).to_value()))
    return (Log("ChannelCreated", (channel_id, payload.name, sender, int(payload.mode))),)


def _join(store: Store, sender: bytes, channel: Channel, payload: JoinChannel) -> tuple[Log, ...]:
    member = sender if payload.member is None else payload.member
    if payload.member is not None and sender != channel.admin:
        raise NotAdmin(f"only the admin adds members to {channel.name}")
    if payload.member is None and channel.mode is ChannelMode.INVITE:
        raise NotAdmin(f"{channel.name} is invite-only: its admin adds members")
    _require_certificate(store, member)
    members = current_members(store, channel)
    if member in channel.leaving:
        # Changed its mind before the rotation: it simply stays.
        _put_channel(store, replace(channel, leaving=_without(channel.leaving, member)))
        return (Log("ChannelJoin", (channel.channel_id, member)),)
    if member in members:
        raise ChannelError(f"{to_checksum_address(member)} is already a member")
    if member in channel.pending:
        raise ChannelError(f"{to_checksum_address(member)} already waits for the next rotation")
    if len(set(members) | set(channel.pending)) >= MAX_MEMBERS:
        raise ChannelError(f"a channel has at most {MAX_MEMBERS} members")
    _put_channel(store, replace(channel, pending=tuple(sorted((*channel.pending, member)))))
    return (Log("ChannelJoin", (channel.channel_id, member)),)


def _leave(store: Store, sender: bytes, channel: Channel) -> tuple[Log, ...]:
    if sender in channel.pending:
        # Never got a key: it leaves at once.
        _put_channel(store, replace(channel, pending=_without(channel.pending, sender)))
        return (Log("ChannelLeave", (channel.channel_id, sender)),)
    if sender not in current_members(store, channel):
        raise NotAMember(f"the sender is not a member of {channel.name}")
    if sender == channel.admin:
        raise ChannelError(f"the admin cannot leave {channel.name}")
    if sender in channel.leaving:
        raise ChannelError("the sender already leaves at the next rotation")
    _put_channel(store, replace(channel, leaving=tuple(sorted((*channel.leaving, sender)))))
    return (Log("ChannelLeave", (channel.channel_id, sender)),)


def _remove(
    store: Store, sender: bytes, channel: Channel, payload: RemoveMember, ctx: ChannelContext
) -> tuple[Log, ...]:
    if sender != channel.admin:
        raise NotAdmin(f"only the admin removes members of {channel.name}")
    if payload.member == channel.admin:
        raise ChannelError("the admin cannot remove itself")
    members = current_members(store, channel)
    if payload.member not in members and payload.member not in channel.pending:
        raise NotAMember(f"{to_checksum_address(payload.member)} is not a member")
    expected = tuple(m for m in expected_members(channel, members) if m != payload.member)
    logs = _apply_rotation(store, sender, channel, payload.rotation, expected, ctx)
    return (Log("ChannelRemove", (channel.channel_id, payload.member)), *logs)


def _rotate(
    store: Store, sender: bytes, channel: Channel, rotation: Rotation, ctx: ChannelContext
) -> tuple[Log, ...]:
    expected = expected_members(channel, current_members(store, channel))
    return _apply_rotation(store, sender, channel, rotation, expected, ctx)


def _apply_rotation(
    store: Store,
    sender: bytes,
    channel: Channel,
    rotation: Rotation,
    expected: tuple[bytes, ...],
    ctx: ChannelContext,
) -> tuple[Log, ...]:
    if rotation.channel_id != channel.channel_id:
        raise BadRotation("the rotation is for another channel")
    if rotation.epoch != channel.epoch + 1:
        # Two member nodes may post a rotation for the same change: the first one wins.
        raise BadRotation(
            f"the rotation is for epoch {rotation.epoch}; the next epoch is {channel.epoch + 1}"
        )
    if sender not in expected:
        raise NotAMember("the rotation's poster must be a member of the new epoch")
    if rotation.members != expected:
        missing = sorted(set(expected) - set(rotation.members))
        extra = sorted(set(rotation.members) - set(expected))
        raise BadRotation(
            "the copies must cover exactly the new epoch's members; missing "
            f"{[to_checksum_address(m) for m in missing]}, "
            f"not members {[to_checksum_address(m) for m in extra]}"
        )
    for member in expected:
        _require_certificate(store, member)
    previous = load_epoch(store, channel.channel_id, channel.epoch)
    assert previous is not None
    closed = replace(previous, superseded_at=ctx.timestamp)
    store.put(epoch_key(channel.channel_id, channel.epoch), encode(closed.to_value()))
    opened = EpochRecord(rotation, ctx.timestamp)
    store.put(epoch_key(channel.channel_id, rotation.epoch), encode(opened.to_value()))
    if rotation.epoch >= KEEP_EPOCHS:
        store.put(epoch_key(channel.channel_id, rotation.epoch - KEEP_EPOCHS), None)
    _put_channel(store, replace(channel, epoch=rotation.epoch, pending=(), leaving=()))
    return (Log("ChannelRotated", (channel.channel_id, rotation.epoch, rotation.commitment)),)


def _offer(
    store: Store, sender: bytes, payload: OfferReward, ctx: ChannelContext
) -> tuple[Log, ...]:
    channel = load_channel(store, payload.channel_id)
    if channel is None:
        raise UnknownChannel(f"no channel 0x{payload.channel_id.hex()}")
    if sender not in current_members(store, channel):
        raise NotAMember(f"only members of {channel.name} offer rewards in it")
    if not ctx.height < payload.timeout <= ctx.height + MAX_REWARD_TIMEOUT:
        raise RewardError(
            f"timeout must be a height in {ctx.height + 1}..{ctx.height + MAX_REWARD_TIMEOUT}"
        )
    if store.get(ESCROW + payload.message_hash) is not None:
        raise RewardError(f"a reward is already held for message 0x{payload.message_hash.hex()}")
    timeouts = _timeouts(store, payload.timeout)
    if len(timeouts) >= MAX_TIMEOUTS_PER_HEIGHT:
        raise RewardError(f"too many rewards time out at height {payload.timeout}: pick another")
    _move(store, sender, REWARD_ESCROW, payload.amount)
    escrow = Escrow(
        payload.message_hash, payload.channel_id, sender, payload.amount, payload.timeout
    )
    store.put(ESCROW + payload.message_hash, encode(escrow.to_value()))
    store.put(_timeouts_key(payload.timeout), encode([*timeouts, payload.message_hash]))
    return (
        Log(
            "RewardOffered",
            (payload.channel_id, payload.message_hash, sender, payload.amount, payload.timeout),
        ),
    )


def _accept(store: Store, sender: bytes, payload: AcceptAnswer) -> tuple[Log, ...]:
    escrow = load_escrow(store, payload.reward)
    if escrow is None:
        raise RewardError(f"no reward is held for message 0x{payload.reward.hex()}")
    if escrow.requester != sender:
        raise RewardError("only the requester accepts an answer to its message")
    if escrow.channel_id != payload.channel_id:
        raise RewardError("the answer was sent in another channel than the request")
    if payload.sender == sender:
        raise RewardError("a requester cannot reward its own message")
    record = load_epoch(store, payload.channel_id, payload.epoch)
    if record is None:
        raise RewardError(f"epoch {payload.epoch} of the channel is not kept on chain")
    if payload.sender not in record.members:
        raise NotAMember(
            f"{to_checksum_address(payload.sender)} was not a member at epoch {payload.epoch}"
        )
    responder = load_identity(store, payload.sender)
    assert responder is not None, "members have identities"
    if not verify(responder.pubkey, payload.statement(), payload.signature):
        raise RewardError("the answer's signature is not its sender's")
    _move(store, REWARD_ESCROW, payload.sender, escrow.amount)
    store.put(ESCROW + payload.reward, None)
    answer = hash32(payload.statement())
    return (Log("RewardPaid", (payload.reward, payload.sender, escrow.amount, answer)),)


def end_block(store: Store, height: int) -> None:
    """Return to their requesters the rewards still held when `height` (their timeout) ends.

    Call after the block's transactions, so an ACCEPT in the timeout block itself still pays.
    """
    key = _timeouts_key(height)
    hashes = _timeouts(store, height)
    if not hashes:
        return
    for message_hash in hashes:
        escrow = load_escrow(store, message_hash)
        if escrow is None:
            continue  # paid already
        _move(store, REWARD_ESCROW, escrow.requester, escrow.amount)
        store.put(ESCROW + message_hash, None)
    store.put(key, None)


def _timeouts_key(height: int) -> bytes:
    return TIMEOUTS + height.to_bytes(8, "big")


def _timeouts(store: Store, height: int) -> list[bytes]:
    raw = store.get(_timeouts_key(height))
    if raw is None:
        return []
    return byte_strings(decode(raw), MAX_TIMEOUTS_PER_HEIGHT, "damaged reward timeouts")


def _put_channel(store: Store, channel: Channel) -> None:
    store.put(CHANNEL + channel.channel_id, encode(channel.to_value()))


def _without(addresses: tuple[bytes, ...], address: bytes) -> tuple[bytes, ...]:
    return tuple(a for a in addresses if a != address)


def _move(store: Store, source: bytes, target: bytes, amount: int) -> None:
    try:
        move(store, source, target, amount)
    except ExecutionFailed as exc:
        raise RewardError(str(exc)) from None
