"""Swarm channels on a real `State`: create, join, leave, remove, rotate, rewards and views."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.crypto import SigningKey, hash32
from core.encoding import decode, encode
from core.errors import DecodeError, ExecutionFailed, InvalidTransaction
from core.swarm_keys import EncryptionKey, MemberKeys, certify, rotate, unseal
from ledger import identity as ident
from ledger.channels.execution import REWARD_ESCROW, apply_channel, end_block, execution_gas
from ledger.channels.payloads import (
    AcceptAnswer,
    ChannelMode,
    ChannelPayload,
    CreateChannel,
    JoinChannel,
    LeaveChannel,
    OfferReward,
    RemoveMember,
    RotateKey,
    channel_id_of,
)
from ledger.channels.records import (
    KEEP_EPOCHS,
    BadRotation,
    ChannelContext,
    ChannelError,
    ChannelExists,
    NoCertificate,
    NotAdmin,
    NotAMember,
    RewardError,
    channel_json,
    current_members,
    load_channel,
    load_epoch,
    load_escrow,
    member_keys,
    open_epochs,
)
from ledger.state import Account, State
from p2p.swarm import ChannelReader, ChannelView, ChannelWriter, Epoch, Received

CHAIN = 1337
NOW = 1_700_000_000


class Memory:
    def __init__(self) -> None:
        self.entries: dict[bytes, bytes] = {}

    def get_state(self, key: bytes) -> bytes | None:
        return self.entries.get(key)


class Agent:
    """An identity with its keys, registered with a certificate."""

    def __init__(self, n: int) -> None:
        self.key = SigningKey(bytes([n]) * 32)
        self.box = EncryptionKey.generate()
        self.address = self.key.address

    @property
    def member(self) -> MemberKeys:
        return MemberKeys(self.address, self.key.pubkey, self.box.public)


@pytest.fixture
def state() -> State:
    return State(Memory())


@pytest.fixture
def agents(state: State) -> list[Agent]:
    found = [Agent(n) for n in range(1, 6)]
    for agent in found:
        cert = certify(agent.key, agent.box, 1)
        state.begin()
        ident.apply_register(state, agent.key.pubkey, ident.SetIdentity("", cert), 1)
        state.commit()
        state.set_account(agent.address, Account(0, 10**21))
    return found


def _apply(state: State, agent: Agent, payload: ChannelPayload, height: int = 2, t: int = NOW):
    parsed = ChannelPayload.from_value(decode(encode(payload.to_value())))
    assert parsed == payload
    state.begin()
    try:
        logs = apply_channel(state, agent.key.pubkey, parsed, ChannelContext(CHAIN, height, t))
    except ExecutionFailed:
        state.rollback()
        raise
    state.commit()
    return logs


CID = channel_id_of(CHAIN, "alpha")


def _rotation(epoch: int, members: list[Agent], cid: bytes = CID):
    return rotate(cid, epoch, [m.member for m in members])


def _create(state: State, admin: Agent, mode: ChannelMode = ChannelMode.OPEN) -> bytes:
    key, rotation = _rotation(0, [admin])
    _apply(state, admin, CreateChannel("alpha", mode, rotation))
    return key


def _members(state: State) -> tuple[bytes, ...]:
    channel = load_channel(state, CID)
    assert channel is not None
    return current_members(state, channel)


def test_create_and_view(state: State, agents: list[Agent]) -> None:
    admin = agents[0]
    _create(state, admin, ChannelMode.INVITE)
    view = channel_json(state, CID)
    assert view is not None
    assert view["name"] == "alpha" and view["mode"] == "invite" and view["epoch"] == 0
    assert view["id"] == "0x" + CID.hex()
    assert view["currentEpoch"]["startedAt"] == NOW  # type: ignore[index]
    with pytest.raises(ChannelExists):
        _create(state, admin)
    assert channel_id_of(CHAIN, "alpha") != channel_id_of(CHAIN + 1, "alpha")


def test_create_checks(state: State, agents: list[Agent]) -> None:
    admin, other = agents[0], agents[1]
    _, wrong_channel = _rotation(0, [admin], channel_id_of(CHAIN, "beta"))
    with pytest.raises(BadRotation, match="another channel"):
        _apply(state, admin, CreateChannel("alpha", ChannelMode.OPEN, wrong_channel))
    _, epoch1 = _rotation(1, [admin])
    with pytest.raises(BadRotation, match="epoch 0"):
        _apply(state, admin, CreateChannel("alpha", ChannelMode.OPEN, epoch1))
    _, two = _rotation(0, [admin, other])
    with pytest.raises(BadRotation, match="exactly the admin"):
        _apply(state, admin, CreateChannel("alpha", ChannelMode.OPEN, two))
    stranger = Agent(9)
    _, alone = _rotation(0, [stranger])
    with pytest.raises(NoCertificate, match="register"):
        _apply(state, stranger, CreateChannel("alpha", ChannelMode.OPEN, alone))
    assert load_channel(state, CID) is None


def test_join_rotate_leave_open_channel(state: State, agents: list[Agent]) -> None:
    admin, b, c = agents[0], agents[1], agents[2]
    _create(state, admin)
    _apply(state, b, JoinChannel(CID))
    _apply(state, c, JoinChannel(CID))
    with pytest.raises(ChannelError, match="already waits"):
        _apply(state, c, JoinChannel(CID))
    assert _members(state) == (admin.address,)  # pending until the rotation
    # A rotation that forgets a pending joiner is refused, naming it.
    _, short = _rotation(1, [admin, b])
    with pytest.raises(BadRotation, match="missing"):
        _apply(state, b, RotateKey(CID, short))
    _, wrong_epoch = _rotation(2, [admin, b, c])
    with pytest.raises(BadRotation, match="next epoch is 1"):
        _apply(state, b, RotateKey(CID, wrong_epoch))
    key, good = _rotation(1, [admin, b, c])
    outsider = agents[3]
    with pytest.raises(NotAMember, match="new epoch"):
        _apply(state, outsider, RotateKey(CID, good))
    _apply(state, b, RotateKey(CID, good), t=NOW + 10)  # a joiner may post it
    assert set(_members(state)) == {admin.address, b.address, c.address}
    # Every member unseals the same key; the old epoch is marked superseded.
    record = load_epoch(state, CID, 1)
    assert record is not None and unseal(record.rotation, c.address, c.box) == key
    old = load_epoch(state, CID, 0)
    assert old is not None and old.superseded_at == NOW + 10
    channel = load_channel(state, CID)
    assert channel is not None and channel.pending == () and channel.epoch == 1
    assert open_epochs(channel, old, NOW + 70, 60) == {0, 1}
    assert open_epochs(channel, old, NOW + 71, 60) == {1}
    # A stale second rotation for the same epoch loses.
    _, late = _rotation(1, [admin, b, c])
    with pytest.raises(BadRotation):
        _apply(state, c, RotateKey(CID, late))
    # Leave waits for the next rotation, which must drop the leaver.
    _apply(state, c, LeaveChannel(CID))
    with pytest.raises(ChannelError, match="already leaves"):
        _apply(state, c, LeaveChannel(CID))
    _, keeps = _rotation(2, [admin, b, c])
    with pytest.raises(BadRotation, match="not members"):
        _apply(state, admin, RotateKey(CID, keeps))
    _, dropped = _rotation(2, [admin, b])
    _apply(state, admin, RotateKey(CID, dropped))
    assert set(_members(state)) == {admin.address, b.address}
    with pytest.raises(ChannelError, match="admin cannot leave"):
        _apply(state, admin, LeaveChannel(CID))
    with pytest.raises(NotAMember):
        _apply(state, c, LeaveChannel(CID))


def test_join_then_leave_before_rotation_and_change_of_mind(
    state: State, agents: list[Agent]
) -> None:
    admin, b = agents[0], agents[1]
    _create(state, admin)
    _apply(state, b, JoinChannel(CID))
    _apply(state, b, LeaveChannel(CID))  # never got a key: gone at once
    channel = load_channel(state, CID)
    assert channel is not None and channel.pending == ()
    _apply(state, b, JoinChannel(CID))
    _, rotation = _rotation(1, [admin, b])
    _apply(state, admin, RotateKey(CID, rotation))
    _apply(state, b, LeaveChannel(CID))
    _apply(state, b, JoinChannel(CID))  # stays after all
    channel = load_channel(state, CID)
    assert channel is not None and channel.leaving == ()
    with pytest.raises(ChannelError, match="already a member"):
        _apply(state, b, JoinChannel(CID))


def test_invite_only(state: State, agents: list[Agent]) -> None:
    admin, b, c = agents[0], agents[1], agents[2]
    _create(state, admin, ChannelMode.INVITE)
    with pytest.raises(NotAdmin, match="invite-only"):
        _apply(state, b, JoinChannel(CID))
    with pytest.raises(NotAdmin, match="only the admin"):
        _apply(state, b, JoinChannel(CID, c.address))
    with pytest.raises(NoCertificate):
        _apply(state, admin, JoinChannel(CID, Agent(9).address))
    _apply(state, admin, JoinChannel(CID, b.address))
    channel = load_channel(state, CID)
    assert channel is not None and channel.pending == (b.address,)


def test_remove_rotates_in_the_same_transaction(state: State, agents: list[Agent]) -> None:
    admin, b, c, d = agents[0], agents[1], agents[2], agents[3]
    _create(state, admin)
    for agent in (b, c):
        _apply(state, agent, JoinChannel(CID))
    _, r1 = _rotation(1, [admin, b, c])
    _apply(state, admin, RotateKey(CID, r1))
    _apply(state, d, JoinChannel(CID))  # pending: the removal's rotation takes it in
    _, without_d = _rotation(2, [admin, b])
    with pytest.raises(BadRotation):
        _apply(state, admin, RemoveMember(CID, c.address, without_d))
    _, r2 = _rotation(2, [admin, b, d])
    with pytest.raises(NotAdmin):
        _apply(state, b, RemoveMember(CID, c.address, r2))
    with pytest.raises(ChannelError, match="cannot remove itself"):
        _apply(state, admin, RemoveMember(CID, admin.address, r2))
    logs = _apply(state, admin, RemoveMember(CID, c.address, r2))
    assert [log.name for log in logs] == ["ChannelRemove", "ChannelRotated"]
    assert set(_members(state)) == {admin.address, b.address, d.address}
    with pytest.raises(NotAMember):
        _, r3 = _rotation(3, [admin, b, d])
        _apply(state, admin, RemoveMember(CID, c.address, r3))


def test_removed_member_cannot_read_later_messages(state: State, agents: list[Agent]) -> None:
    """The chain's records drive the crypto core: after `remove`, the old member has no key."""
    admin, b = agents[0], agents[1]
    _create(state, admin)
    _apply(state, b, JoinChannel(CID))
    _, r1 = _rotation(1, [admin, b])
    _apply(state, admin, RotateKey(CID, r1))
    _, r2 = _rotation(2, [admin])
    _apply(state, admin, RemoveMember(CID, b.address, r2))
    record = load_epoch(state, CID, 2)
    assert record is not None
    members = member_keys(state, record.members)
    admin_key = unseal(record.rotation, admin.address, admin.box)
    writer = ChannelWriter(admin.key, CID)
    envelope = writer.encrypt(b"secret", Epoch(2, members, admin_key), NOW)
    # b knows epoch 2 from the chain but holds no copy of its key.
    view_b = ChannelView(CID, (Epoch(2, members, None),))
    assert not isinstance(ChannelReader(view_b).receive(envelope, NOW), Received)
    view_admin = ChannelView(CID, (Epoch(2, members, admin_key),))
    assert isinstance(ChannelReader(view_admin).receive(envelope, NOW), Received)


def test_old_epochs_are_pruned(state: State, agents: list[Agent]) -> None:
    admin = agents[0]
    _create(state, admin)
    for epoch in range(1, KEEP_EPOCHS + 2):
        _, rotation = _rotation(epoch, [admin])
        _apply(state, admin, RotateKey(CID, rotation))
    assert load_epoch(state, CID, 0) is None and load_epoch(state, CID, 1) is None
    assert load_epoch(state, CID, 2) is not None


def _answer(agent: Agent, epoch: int, key: bytes, members: tuple[MemberKeys, ...], text: bytes):
    """An answer sent by `agent`, received by a member: what an accept transaction cites."""
    envelope = ChannelWriter(agent.key, CID).encrypt(text, Epoch(epoch, members, key), NOW)
    received = ChannelReader(ChannelView(CID, (Epoch(epoch, members, key),))).receive(envelope, NOW)
    assert isinstance(received, Received)
    return received


def _accept(reward: bytes, r: Received) -> AcceptAnswer:
    return AcceptAnswer(
        reward, r.channel_id, r.epoch, r.sender, r.sequence, r.timestamp, hash32(r.payload),
        r.signature,
    )  # fmt: skip


def test_reward_escrow_accept_pays_responder(state: State, agents: list[Agent]) -> None:
    admin, b, c = agents[0], agents[1], agents[2]
    _create(state, admin)
    _apply(state, b, JoinChannel(CID))
    key, r1 = _rotation(1, [admin, b])
    _apply(state, admin, RotateKey(CID, r1))
    request = hash32(b"the request's envelope")
    start = state.account(admin.address).balance
    with pytest.raises(NotAMember):
        _apply(state, c, OfferReward(CID, request, 5, 10))
    with pytest.raises(RewardError, match="timeout"):
        _apply(state, admin, OfferReward(CID, request, 5, 2), height=2)
    with pytest.raises(RewardError, match="insufficient"):
        _apply(state, admin, OfferReward(CID, request, 10**30, 10))
    _apply(state, admin, OfferReward(CID, request, 500, 10))
    assert state.account(admin.address).balance == start - 500
    assert state.account(REWARD_ESCROW).balance == 500
    with pytest.raises(RewardError, match="already held"):
        _apply(state, admin, OfferReward(CID, request, 5, 10))

    members = member_keys(state, r1.members)
    answer = _answer(b, 1, key, members, b"42")
    accept = _accept(request, answer)
    with pytest.raises(RewardError, match="only the requester"):
        _apply(state, b, accept)
    forged = replace(accept, payload_hash=hash32(b"43"))
    with pytest.raises(RewardError, match="signature"):
        _apply(state, admin, forged)
    own = _answer(admin, 1, key, members, b"me")
    with pytest.raises(RewardError, match="own message"):
        _apply(state, admin, _accept(request, own))
    before = state.account(b.address).balance
    logs = _apply(state, admin, accept)
    assert logs[0].name == "RewardPaid"
    assert state.account(b.address).balance == before + 500
    assert state.account(REWARD_ESCROW).balance == 0
    with pytest.raises(RewardError, match="no reward"):
        _apply(state, admin, accept)
    end_block(state, 10)  # paid: nothing to return
    assert state.account(b.address).balance == before + 500
    assert state.account(REWARD_ESCROW).balance == 0


def test_accept_requires_membership_at_that_epoch(state: State, agents: list[Agent]) -> None:
    admin, b = agents[0], agents[1]
    key0 = _create(state, admin)
    request = hash32(b"q")
    _apply(state, admin, OfferReward(CID, request, 7, 10))
    # b was never a member: an answer it signed for epoch 0 does not pay.
    members = (admin.member, b.member)
    envelope = ChannelWriter(b.key, CID).encrypt(b"x", Epoch(0, members, key0), NOW)
    answer = ChannelReader(ChannelView(CID, (Epoch(0, members, key0),))).receive(envelope, NOW)
    assert isinstance(answer, Received)
    with pytest.raises(NotAMember, match="epoch 0"):
        _apply(state, admin, _accept(request, answer))
    with pytest.raises(RewardError, match="not kept"):
        _apply(state, admin, replace(_accept(request, answer), epoch=9))


def test_unclaimed_reward_returns_after_timeout(state: State, agents: list[Agent]) -> None:
    admin = agents[0]
    _create(state, admin)
    start = state.account(admin.address).balance
    _apply(state, admin, OfferReward(CID, hash32(b"a"), 300, 5))
    _apply(state, admin, OfferReward(CID, hash32(b"b"), 200, 5))
    end_block(state, 4)
    assert load_escrow(state, hash32(b"a")) is not None  # not due yet
    assert state.account(admin.address).balance == start - 500
    end_block(state, 5)
    assert state.account(admin.address).balance == start
    assert load_escrow(state, hash32(b"a")) is None and load_escrow(state, hash32(b"b")) is None
    assert state.account(REWARD_ESCROW).balance == 0
    end_block(state, 5)  # again: nothing is left to move
    assert state.account(admin.address).balance == start


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ([], DecodeError),
        ([7], InvalidTransaction),
        ([0, "Bad Name", 0, []], InvalidTransaction),
        ([0, "ok", 2, []], InvalidTransaction),
        ([0, "ok", 0, [b"x"]], InvalidTransaction),
        ([1, b"short", None], InvalidTransaction),
        ([1, bytes(32), b"short"], InvalidTransaction),
        ([2, bytes(32), None], DecodeError),
        ([5, bytes(32), bytes(32), 0, 10], InvalidTransaction),
        ([5, bytes(32), bytes(32), True, 10], InvalidTransaction),
        ([6, bytes(32), bytes(32), 0, bytes(20), 0, 0, bytes(32), b"sig"], InvalidTransaction),
    ],
)
def test_payload_schema(value: list, error: type[Exception]) -> None:
    with pytest.raises(error):
        ChannelPayload.from_value(value)


def test_gas_grows_with_rotation_size(agents: list[Agent]) -> None:
    _, small = _rotation(1, agents[:1])
    _, large = _rotation(1, agents)
    assert execution_gas(RotateKey(CID, large)) > execution_gas(RotateKey(CID, small))


# ---- on a real ledger, through transactions (runs once tx.py and transition.py are wired) ----

WIRED = ChannelPayload in __import__("ledger.tx", fromlist=["PAYLOADS"]).PAYLOADS.values()


@pytest.mark.skipif(not WIRED, reason="CHANNEL and REGISTER kinds are not wired into ledger/tx.py")
def test_identities_channels_and_rewards_through_blocks(tmp_path) -> None:
    from genesis.dev import dev_genesis, dev_key, dev_validator_key
    from ledger.chain import Ledger
    from ledger.solo import SoloValidator
    from ledger.transition import execution_gas, intrinsic_gas
    from ledger.tx import Transaction, TxKind, decode_transaction
    from node.swarm.chain import StateChannels

    genesis = dev_genesis(3)
    ledger = Ledger(tmp_path / "chain", genesis)
    solo = SoloValidator(dev_validator_key(), genesis.chain_id, ledger.validators())
    nonces: dict[bytes, int] = {}
    price = genesis.min_gas_price

    def send(key: SigningKey, kind: TxKind, payload: object):
        nonce = nonces.get(key.address, 0)
        nonces[key.address] = nonce + 1
        draft = Transaction(genesis.chain_id, kind, key.pubkey, nonce, 10**7, price, payload)
        stx = decode_transaction(draft.signed(key).encode())
        last = ledger.commit_certificate(ledger.height)
        pending = ledger.build_block([stx], genesis.timestamp + 10 * (ledger.height + 1),
                                     solo.proposer, last)  # fmt: skip
        assert not pending.left_out, pending.left_out
        ledger.commit(pending, solo.certify(pending))
        receipt = ledger.receipt(stx.hash)
        assert receipt is not None
        assert receipt.gas_used == intrinsic_gas(stx) + execution_gas(stx)
        return receipt

    try:
        alice, bob = dev_key(0), dev_key(1)
        boxes = {k.address: EncryptionKey.generate() for k in (alice, bob)}
        for key, name in ((alice, "alice.avm"), (bob, "bob.avm")):
            cert = certify(key, boxes[key.address], 1)
            receipt = send(key, TxKind.REGISTER, ident.SetIdentity(name, cert, ("agent",)))
            assert receipt.ok, receipt.error
        source = StateChannels(ledger.chain_id, ledger.get_state)
        assert ident.resolve_name(source, "bob.avm") == bob.address
        taken = send(bob, TxKind.REGISTER, ident.SetIdentity("alice.avm"))
        assert not taken.ok and "belongs to" in taken.error

        cid = channel_id_of(ledger.chain_id, "lab")
        members = member_keys(source, [alice.address])
        _, r0 = rotate(cid, 0, members)
        assert send(alice, TxKind.CHANNEL, CreateChannel("lab", ChannelMode.OPEN, r0)).ok
        assert send(bob, TxKind.CHANNEL, JoinChannel(cid)).ok
        key1, r1 = rotate(cid, 1, member_keys(source, sorted([alice.address, bob.address])))
        assert send(bob, TxKind.CHANNEL, RotateKey(cid, r1)).ok
        stale = send(alice, TxKind.CHANNEL, RotateKey(cid, r1))
        assert not stale.ok and "next epoch is 2" in stale.error

        request = hash32(b"alice's question")
        offered = send(alice, TxKind.CHANNEL, OfferReward(cid, request, 10**18, ledger.height + 3))
        assert offered.ok, offered.error
        assert ledger.account(REWARD_ESCROW).balance == 10**18
        epoch = load_epoch(source, cid, 1)
        assert epoch is not None and unseal(epoch.rotation, bob.address, boxes[bob.address]) == key1
        view = Epoch(1, member_keys(source, epoch.members), key1)
        envelope = ChannelWriter(bob, cid).encrypt(b"42", view, NOW)
        answer = ChannelReader(ChannelView(cid, (view,))).receive(envelope, NOW)
        assert isinstance(answer, Received)
        before = ledger.account(bob.address).balance
        paid = send(alice, TxKind.CHANNEL, _accept(request, answer))
        assert paid.ok, paid.error
        assert [log.name for log in paid.logs] == ["RewardPaid"]
        assert ledger.account(bob.address).balance == before + 10**18

        unclaimed = hash32(b"nobody answers")
        # Offered in block h+1; returned when block h+3 ends.
        send(alice, TxKind.CHANNEL, OfferReward(cid, unclaimed, 5, ledger.height + 3))
        held = ledger.account(alice.address).balance
        send(bob, TxKind.REGISTER, ident.SetIdentity("bob.avm", roles=("x",)))
        assert load_escrow(source, unclaimed) is not None
        send(bob, TxKind.REGISTER, ident.SetIdentity("bob.avm", roles=("y",)))
        assert load_escrow(source, unclaimed) is None
        assert ledger.account(alice.address).balance == held + 5
    finally:
        ledger.close()
