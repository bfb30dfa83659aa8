"""The swarm service: three in-process nodes on one chain state, joined by an in-memory bus.

Nodes 1 and 2 host members, node 3 only relays. The bus runs each subscriber's validator
before its handler, as gossip does; libp2p itself is exercised by the integration tests.
Services publish each envelope at once (`batch_interval=0`, a batch of one) unless a test is
about batching.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.crypto import SigningKey, hash32, to_checksum_address
from core.errors import ExecutionFailed
from core.swarm_keys import EncryptionKey, certify, rotate
from core.swarm_wire import Envelope, decode_batch, encode_batch
from ledger import identity as ident
from ledger.channels.execution import apply_channel, execution_gas
from ledger.channels.payloads import (
    ChannelMode,
    ChannelPayload,
    CreateChannel,
    JoinChannel,
    LeaveChannel,
    RemoveMember,
    channel_id_of,
)
from ledger.channels.records import ChannelContext
from ledger.state import Account, State
from node.swarm.chain import StateChannels, touched_channels
from node.swarm.errors import NotLocal, NotMember, RateLimited, SwarmError
from node.swarm.gossip import RelayVerdict, topic_for
from node.swarm.keys import LocalIdentity
from node.swarm.messages import SwarmMessage
from node.swarm.service import SwarmConfig, SwarmService

CHAIN = 4242
NOW = 1_700_000_000
MARKER = b"plaintext-marker-7f3a"


class Memory:
    def __init__(self) -> None:
        self.entries: dict[bytes, bytes] = {}

    def get_state(self, key: bytes) -> bytes | None:
        return self.entries.get(key)


class Bus:
    """Topics shared by in-process services; a publisher never hears itself, as in gossip."""

    def __init__(self) -> None:
        self.subscribers: dict[str, list[tuple[str, object, object]]] = defaultdict(list)
        self.verdicts: list[tuple[str, RelayVerdict]] = []
        self.published: list[bytes] = []

    def port(self, name: str) -> BusPort:
        return BusPort(self, name)

    async def deliver(self, origin: str, topic: str, data: bytes) -> None:
        for name, handler, validator in list(self.subscribers[topic]):
            if name == origin:
                continue
            verdict = validator(data, origin)  # type: ignore[operator]
            self.verdicts.append((name, verdict))
            if verdict is RelayVerdict.ACCEPT:
                await handler(data, origin)  # type: ignore[operator]


class BusPort:
    def __init__(self, bus: Bus, name: str) -> None:
        self.bus, self.name = bus, name

    async def subscribe(self, topic: str, handler: object, validator: object) -> None:
        self.bus.subscribers[topic].append((self.name, handler, validator))

    async def publish(self, topic: str, data: bytes) -> None:
        self.bus.published.append(data)
        await self.bus.deliver(self.name, topic, data)


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


class World:
    """One chain state, identities with keys, and helpers to post channel transactions."""

    def __init__(self, tmp: Path) -> None:
        self.state = State(Memory())
        self.tmp = tmp
        self.bus = Bus()
        self.clock = Clock()
        self.height = 1
        self.who: dict[str, LocalIdentity] = {}
        for n, name in enumerate(("alice", "bob", "carol", "dave"), start=1):
            key = SigningKey(bytes([n]) * 32)
            box = EncryptionKey.generate()
            self.who[name] = LocalIdentity(key, (box,))
            payload = ident.SetIdentity(f"{name}.avm", certify(key, box, 1))
            self._run(lambda s, k=key, p=payload: ident.apply_register(s, k.pubkey, p, 1))
            self.state.set_account(key.address, Account(0, 10**21))
        self.cid = channel_id_of(CHAIN, "research")

    def source(self) -> StateChannels:
        return StateChannels(CHAIN, self.state.get)

    def service(self, name: str, *identities: str, **config: object) -> SwarmService:
        service = SwarmService(
            self.source(),
            self.bus.port(name),
            self.tmp / name,
            SwarmConfig(**{"batch_interval": 0, **config}),  # type: ignore[arg-type]
            self.clock,
        )
        for who in identities:
            service.add_identity(self.who[who])
        return service

    def _run(self, effect: object) -> tuple:
        self.state.begin()
        try:
            logs = effect(self.state)  # type: ignore[operator]
        except ExecutionFailed:
            self.state.rollback()
            raise
        self.state.commit()
        return logs

    def channel_tx(self, who: str, payload: ChannelPayload) -> tuple:
        self.height += 1
        ctx = ChannelContext(CHAIN, self.height, int(self.clock.now))
        key = self.who[who].key
        return self._run(lambda s: apply_channel(s, key.pubkey, payload, ctx))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield World(tmp_path)


async def _channel(world: World, *nodes: SwarmService) -> None:
    """alice creates `research`; bob joins; alice's node posts the rotation."""
    first = nodes[0]
    alice = world.who["alice"]
    _, rotation = rotate(world.cid, 0, first.member_keys([alice.address]))
    world.channel_tx("alice", CreateChannel("research", ChannelMode.OPEN, rotation))
    world.channel_tx("bob", JoinChannel(world.cid))
    world.channel_tx("alice", first.rotation_for(world.cid, alice.address))
    for node in nodes:
        await node.follow(world.cid)
        node.refresh()


@pytest.mark.asyncio
async def test_members_on_two_nodes_read_each_other_and_relay_sees_ciphertext(
    world: World,
) -> None:
    one, two, relay = (
        world.service("one", "alice"),
        world.service("two", "bob"),
        world.service("relay"),
    )
    await _channel(world, one, two, relay)
    heard: list[SwarmMessage] = []
    two.listen(world.cid, heard.append)

    sent = await one.send(world.who["alice"].address, world.cid, b"hello " + MARKER)
    assert sent.epoch == 1 and sent.sequence == 0
    [got] = two.messages(world.cid)
    assert got.payload == b"hello " + MARKER and got.sender_name == "alice.avm"
    assert got.message_hash == sent.message_hash and heard == [got]
    assert got.to_json()["text"] == "hello " + MARKER.decode()
    reply = await two.send(world.who["bob"].address, world.cid, b"hi alice")
    assert [m.payload for m in one.messages(world.cid)] == [b"hello " + MARKER, b"hi alice"]
    assert [m.index for m in one.messages(world.cid, since=1)] == [2]
    assert reply.sequence == 0

    # The relay passed both envelopes on, keeps their ciphertext, and can read none of them.
    assert len(relay.stored_envelopes(world.cid)) == 2
    with pytest.raises(NotMember):
        relay.messages(world.cid)
    for envelope in relay.stored_envelopes(world.cid):
        assert Envelope.decode(envelope).channel_id == world.cid
    for path in (world.tmp / "relay").rglob("*"):
        assert MARKER not in path.read_bytes()
    # Members' disks hold ciphertext and sequences, never the plaintext either.
    for path in (world.tmp / "one").rglob("*"):
        assert MARKER not in path.read_bytes()


@pytest.mark.asyncio
async def test_replayed_envelope_is_rejected(world: World) -> None:
    one, two = world.service("one", "alice"), world.service("two", "bob")
    await _channel(world, one, two)
    await one.send(world.who["alice"].address, world.cid, b"once")
    envelope = world.bus.published[-1]
    await world.bus.deliver("elsewhere", topic_for(CHAIN, world.cid), envelope)
    assert len(two.messages(world.cid)) == 1
    assert two.stats.rejected == {"replayed": 1}


async def _until(condition: Callable[[], object], what: str) -> None:
    """Let the event loop run until `condition` holds (10 s at most)."""
    deadline = asyncio.get_running_loop().time() + 10
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


@pytest.mark.asyncio
async def test_sends_made_together_share_one_gossip_message_on_the_next_turn(
    world: World,
) -> None:
    one = world.service("one", "alice", batch_interval=3600)  # after the first, no turn comes
    two, relay = world.service("two", "bob"), world.service("relay")
    await _channel(world, one, two, relay)
    alice = world.who["alice"].address
    sent = await asyncio.gather(*(one.send(alice, world.cid, b"m%d" % n) for n in range(3)))
    assert world.bus.published == []  # queued: it leaves on the loop's next turn
    await _until(lambda: world.bus.published, "the first batch")
    [batch] = world.bus.published
    assert [hash32(e) for e in decode_batch(batch)] == [s.message_hash for s in sent]
    assert [m.payload for m in two.messages(world.cid)] == [b"m0", b"m1", b"m2"]
    assert relay.stored_envelopes(world.cid) == decode_batch(batch)
    assert one.stats.batches == 1 and two.stats.relayed == 1 and two.stats.arrived == 3
    # Within the interval, what is sent waits for the next batch (here: for flush()).
    later = await one.send(alice, world.cid, b"later")
    for _ in range(10):
        await asyncio.sleep(0)  # turns of the loop: nothing is due for an hour
    assert len(world.bus.published) == 1
    await one.flush()
    assert [hash32(e) for e in decode_batch(world.bus.published[-1])] == [later.message_hash]
    assert [m.payload for m in two.messages(world.cid)][-1] == b"later"


@pytest.mark.asyncio
async def test_a_full_batch_leaves_at_once_and_the_interval_sends_the_rest(
    world: World,
) -> None:
    one = world.service("one", "alice", batch_interval=0.01, batch_bytes=3_000)
    two = world.service("two", "bob")
    await _channel(world, one, two)
    alice = world.who["alice"].address
    for n in range(4):
        await one.send(alice, world.cid, bytes([n]) * 1_000)
    # Two 1 KB envelopes fill 3,000 bytes: the third left them as a batch at once and
    # started the next one, which leaves when the interval is up.
    assert [len(decode_batch(b)) for b in world.bus.published] == [2]
    await _until(lambda: len(world.bus.published) == 2, "the interval to end")
    assert [len(decode_batch(b)) for b in world.bus.published] == [2, 2]
    assert len(two.messages(world.cid)) == 4


@pytest.mark.asyncio
async def test_relay_validator_verdicts(world: World) -> None:
    one, relay = world.service("one", "alice"), world.service("relay")
    await _channel(world, one, relay)
    entry = relay._followed[world.cid]  # the validator gossip runs
    await one.send(world.who["alice"].address, world.cid, b"x")
    good = world.bus.published[-1]
    [envelope] = decode_batch(good)
    ciphertext = Envelope.decode(envelope).ciphertext
    assert relay.validator(entry, good) is RelayVerdict.ACCEPT
    assert relay.validator(entry, b"\x93garbage") is RelayVerdict.REJECT
    assert relay.validator(entry, envelope) is RelayVerdict.REJECT  # not in a batch
    other = Envelope(bytes(32), 1, ciphertext).encode()
    assert relay.validator(entry, encode_batch([other])) is RelayVerdict.REJECT
    future = Envelope(world.cid, 7, ciphertext).encode()
    assert relay.validator(entry, encode_batch([future])) is RelayVerdict.IGNORE
    # A batch is relayed or dropped whole: one bad envelope condemns it, a stale one drops it.
    assert relay.validator(entry, encode_batch([envelope, other])) is RelayVerdict.REJECT
    assert relay.validator(entry, encode_batch([envelope, future])) is RelayVerdict.IGNORE
    assert relay.validator(entry, encode_batch([envelope, envelope])) is RelayVerdict.ACCEPT


@pytest.mark.asyncio
async def test_removed_member_cannot_read_or_send_after_rotation(world: World) -> None:
    one, two = world.service("one", "alice"), world.service("two", "bob")
    await _channel(world, one, two)
    alice, bob = world.who["alice"].address, world.who["bob"].address
    rotation = one.rotation_for(world.cid, alice).rotation
    # The removal carries the rotation that leaves bob out.
    _, without_bob = rotate(world.cid, rotation.epoch, one.member_keys([alice]))
    world.channel_tx("alice", RemoveMember(world.cid, bob, without_bob))
    one.refresh()
    two.refresh()
    await one.send(alice, world.cid, b"after removal " + MARKER)
    assert two.messages(world.cid) == []
    assert two.stats.rejected == {"no epoch key": 1}
    with pytest.raises(NotMember):
        await two.send(bob, world.cid, b"still here?")


@pytest.mark.asyncio
async def test_new_member_cannot_read_earlier_epoch(world: World) -> None:
    one, three = world.service("one", "alice"), world.service("three", "carol")
    await _channel(world, one)
    await three.follow(world.cid)
    await one.send(world.who["alice"].address, world.cid, b"before carol")
    early = world.bus.published[-1]
    world.channel_tx("carol", JoinChannel(world.cid))
    world.channel_tx("alice", one.rotation_for(world.cid, world.who["alice"].address))
    one.refresh()
    three.refresh()
    await world.bus.deliver("elsewhere", topic_for(CHAIN, world.cid), early)
    assert three.messages(world.cid) == []
    await one.send(world.who["alice"].address, world.cid, b"welcome carol")
    assert [m.payload for m in three.messages(world.cid)] == [b"welcome carol"]


@pytest.mark.asyncio
async def test_two_local_members_on_one_node(world: World) -> None:
    node = world.service("one", "alice", "bob")
    await _channel(world, node)
    await node.send(world.who["alice"].address, world.cid, b"to my neighbour")
    [message] = node.messages(world.cid, reader=world.who["bob"].address)
    assert message.readers == {world.who["alice"].address, world.who["bob"].address}
    with pytest.raises(NotLocal):
        node.messages(world.cid, reader=world.who["carol"].address)


@pytest.mark.asyncio
async def test_send_refusals(world: World) -> None:
    one = world.service("one", "alice", send_rate=0.001, send_burst=2)
    await _channel(world, one)
    alice = world.who["alice"].address
    with pytest.raises(NotLocal):
        await one.send(world.who["bob"].address, world.cid, b"x")
    with pytest.raises(SwarmError, match="at most"):
        await one.send(alice, world.cid, bytes(64 * 1024 + 1))
    await one.send(alice, world.cid, b"1")
    await one.send(alice, world.cid, b"2")
    with pytest.raises(RateLimited, match="slow down"):
        await one.send(alice, world.cid, b"3")


@pytest.mark.asyncio
async def test_pending_leave_blocks_sending_until_rotation(world: World) -> None:
    one, two = world.service("one", "alice"), world.service("two", "bob")
    await _channel(world, one, two)
    world.channel_tx("bob", LeaveChannel(world.cid))
    one.refresh()
    alice = world.who["alice"].address
    with pytest.raises(SwarmError, match="leaving"):
        await one.send(alice, world.cid, b"x")
    world.channel_tx("alice", one.rotation_for(world.cid, alice))
    one.refresh()
    sent = await one.send(alice, world.cid, b"x")
    assert sent.epoch == 2


@pytest.mark.asyncio
async def test_sequences_and_high_water_survive_restart(world: World) -> None:
    one = world.service("one", "alice", sequence_reserve=10)
    two = world.service("two", "bob", persist_every=1)
    await _channel(world, one, two)
    alice = world.who["alice"].address
    for _ in range(3):
        await one.send(alice, world.cid, b"m")
    old = world.bus.published[-1]
    # Restarted: sequences resume above the reserved block, so nothing is reused.
    world.bus.subscribers.clear()
    one_again = world.service("one", "alice", sequence_reserve=10)
    two_again = world.service("two", "bob", persist_every=1)
    await one_again.follow(world.cid)
    await two_again.follow(world.cid)
    sent = await one_again.send(alice, world.cid, b"after restart")
    assert sent.sequence == 10
    assert [m.payload for m in two_again.messages(world.cid)] == [b"after restart"]
    # A replay of a message from before the restart stays refused.
    await world.bus.deliver("elsewhere", topic_for(CHAIN, world.cid), old)
    assert len(two_again.messages(world.cid)) == 1
    assert sum(two_again.stats.rejected.values()) == 1


@pytest.mark.asyncio
async def test_follow_local_and_touched_channels(world: World) -> None:
    one = world.service("one", "alice")
    other = world.service("other", "dave")
    await _channel(world, one)
    ids = touched_channels(CHAIN, [JoinChannel(world.cid)])
    assert ids == {world.cid}
    rotation = one.rotation_for(world.cid, world.who["alice"].address).rotation
    create = CreateChannel("research", ChannelMode.OPEN, rotation)
    assert touched_channels(CHAIN, [create]) == {world.cid}
    await other.follow_local(ids)
    assert other.followed == ()  # dave is not involved
    world.channel_tx("dave", JoinChannel(world.cid))
    await other.follow_local(ids)
    assert other.followed == (world.cid,)


@pytest.mark.asyncio
async def test_rotation_for_checks(world: World) -> None:
    one = world.service("one", "alice")
    await _channel(world, one)
    with pytest.raises(NotLocal):
        one.rotation_for(world.cid, world.who["bob"].address)
    with pytest.raises(SwarmError, match="no channel"):
        one.rotation_for(bytes(32), world.who["alice"].address)
    assert one.channel_id("research") == world.cid


# ---- RPC methods, called as the server calls them -------------------------------------------


class FakeLedger:
    def __init__(self, state: State) -> None:
        self.get_state = state.get


class FakeNode:
    """What the swarm methods use of a node: chain id, head state, its swarm service, metrics."""

    def __init__(self, world: World, swarm: SwarmService | None) -> None:
        from node.metrics import NodeMetrics

        self.chain_id = CHAIN
        self.ledger = FakeLedger(world.state)
        self.swarm = swarm
        self.metrics = NodeMetrics()


async def _call(node: FakeNode, name: str, *args: object) -> object:
    from node.rpc.methods import METHODS

    result = METHODS[name](node, list(args))  # type: ignore[arg-type]
    if hasattr(result, "__await__"):
        result = await result  # type: ignore[misc]
    return result


@pytest.mark.asyncio
async def test_rpc_chain_reads(world: World) -> None:
    from node.rpc import swarm_methods  # noqa: F401  registers the methods
    from node.rpc.errors import RpcError

    one = world.service("one", "alice")
    await _channel(world, one)
    node = FakeNode(world, None)
    alice = world.who["alice"].address
    assert await _call(node, "aither_resolveName", "alice.avm") == to_checksum_address(alice)
    assert await _call(node, "aither_resolveName", "nobody.avm") is None
    found = await _call(node, "aither_getIdentity", "bob.avm")
    assert isinstance(found, dict) and found["name"] == "bob.avm"
    by_address = await _call(node, "aither_getIdentity", to_checksum_address(alice))
    assert isinstance(by_address, dict) and by_address["name"] == "alice.avm"
    view = await _call(node, "aither_getChannel", "research")
    assert isinstance(view, dict) and view["epoch"] == 1 and len(view["members"]) == 2
    same = await _call(node, "aither_getChannel", "0x" + world.cid.hex(), 0)
    assert isinstance(same, dict) and same["requestedEpoch"]["epoch"] == 0  # type: ignore[index]
    assert await _call(node, "aither_getChannel", "nothing-here") is None
    assert await _call(node, "aither_getReward", "0x" + bytes(32).hex()) is None
    with pytest.raises(RpcError) as refused:
        await _call(node, "swarm_send", "research", "hi")
    assert refused.value.code == -32601 and "no swarm service" in refused.value.message
    with pytest.raises(RpcError, match="invalid params"):
        await _call(node, "aither_getChannel", "Not A Name")
    with pytest.raises(RpcError, match="64-bit"):
        await _call(node, "aither_getChannel", "research", 2**70)


@pytest.mark.asyncio
async def test_rpc_send_messages_and_subscription(world: World) -> None:
    from node.rpc import swarm_methods
    from node.rpc.errors import RpcError

    one, two = world.service("one", "alice"), world.service("two", "bob")
    await _channel(world, one, two)
    node_one, node_two = FakeNode(world, one), FakeNode(world, two)
    pushed: list[dict[str, object]] = []
    stop = swarm_methods.swarm_subscription(node_two, ["swarm", "research"], pushed.append)
    sent = await _call(node_one, "swarm_send", "research", "hello bob")
    assert isinstance(sent, dict) and sent["epoch"] == 1
    [message] = await _call(node_two, "swarm_messages", "research", 0)  # type: ignore[misc]
    assert message["text"] == "hello bob" and message["senderName"] == "alice.avm"
    assert pushed == [message]
    assert await _call(node_two, "swarm_message", sent["messageHash"]) == message
    stop()
    await _call(node_one, "swarm_send", "research", "0x00ff", "alice.avm")
    assert len(pushed) == 1  # unsubscribed
    later = await _call(node_two, "swarm_messages", "research", message["index"])
    assert [m["payload"] for m in later] == ["0x00ff"]  # type: ignore[union-attr]
    with pytest.raises(RpcError, match="refused: this node holds no key"):
        await _call(node_one, "swarm_send", "research", "x", "bob.avm")
    relay_node = FakeNode(world, world.service("relay"))
    await _call(relay_node, "swarm_follow", "research")
    with pytest.raises(RpcError, match="refused: no local identity"):
        await _call(relay_node, "swarm_messages", "research")
    with pytest.raises(RpcError, match="refused"):
        swarm_methods.swarm_subscription(relay_node, ["swarm", "research"], pushed.append)
    identities = await _call(node_one, "swarm_identities")
    assert identities == [{"address": to_checksum_address(world.who["alice"].address),
                           "name": "alice.avm"}]  # fmt: skip


# ---- CLI transaction builders ----------------------------------------------------------------


class FakeClient:
    """The RPC answers `build_channel` asks for."""

    def call(self, method: str, *args: object) -> object:
        answers = {
            "aither_chainId": hex(CHAIN),
            "aither_getAccount": {"pendingNonce": "0x5"},
            "eth_gasPrice": hex(10**9),
        }
        return answers[method]


def test_cli_builds_signed_channel_transactions(world: World) -> None:
    from core.encoding import decode
    from ledger.transition import intrinsic_gas
    from ledger.tx import Transaction, TxKind
    from wallet.txbuilder import build_channel, next_members

    key = world.who["alice"].key
    payload = JoinChannel(world.cid)
    raw = build_channel(FakeClient(), key, payload)  # type: ignore[arg-type]
    fields = decode(raw)
    assert isinstance(fields, list)
    assert fields[:2] == [CHAIN, int(TxKind.CHANNEL)] and fields[3] == 5
    assert ChannelPayload.from_value(fields[6]) == payload
    tx = Transaction(CHAIN, TxKind.CHANNEL, key.pubkey, 5, fields[4], 10**9, payload)  # type: ignore[arg-type]
    assert tx.signed(key).encode() == raw
    # Enough gas for the intrinsic cost of these very bytes plus the effect.
    from ledger.tx import SignedTx

    assert fields[4] >= intrinsic_gas(SignedTx(tx, raw)) + execution_gas(payload)  # type: ignore[operator]
    a, b, c = (to_checksum_address(world.who[n].address) for n in ("alice", "bob", "carol"))
    view = {"members": [a, b], "pendingJoins": [c], "pendingLeaves": [b]}
    assert next_members(view) == sorted(world.who[n].address for n in ("alice", "carol"))
    removed = world.who["carol"].address
    assert next_members(view, removed) == [world.who["alice"].address]


def test_cli_formats_messages() -> None:
    from wallet.commands.swarm import _ws_url, format_message

    line = format_message(
        {"timestamp": NOW, "senderName": "alice.avm", "sender": "0x1", "text": "hi",
         "payload": "0x6869", "messageHash": "0x" + "ab" * 32}
    )  # fmt: skip
    assert "alice.avm: hi" in line
    assert _ws_url("http://127.0.0.1:8545") == "ws://127.0.0.1:8545/ws"
    assert _ws_url("https://node.example/") == "wss://node.example/ws"


@pytest.mark.asyncio
async def test_derived_encryption_keys_survive_a_certificate_rotation(world: World) -> None:
    """A node holding only the ed25519 key re-derives the X25519 key of each certificate."""
    erin = SigningKey(bytes([9]) * 32)
    world.state.set_account(erin.address, Account(0, 10**21))

    def register(valid_from: int) -> None:
        cert = ident.derived_certificate(erin, valid_from)
        world._run(lambda s: ident.apply_register(s, erin.pubkey, ident.SetIdentity("", cert), 1))

    register(3)
    world.who["erin"] = LocalIdentity(erin, derive=True)
    one, node = world.service("one", "alice"), world.service("erin-node", "erin")
    await _channel(world, one, node)
    alice = world.who["alice"].address
    world.channel_tx("erin", JoinChannel(world.cid))
    world.channel_tx("alice", one.rotation_for(world.cid, alice))  # epoch 2, sealed to key 3
    node.refresh()
    one.refresh()
    await one.send(alice, world.cid, b"for erin")
    register(4)  # a new certificate: later rotations seal to the key of valid_from 4
    world.channel_tx("alice", one.rotation_for(world.cid, alice))  # epoch 3
    one.refresh()
    node.refresh()
    await one.send(alice, world.cid, b"after erin's new key")
    assert [m.payload for m in node.messages(world.cid)] == [b"for erin", b"after erin's new key"]
    assert ident.derive_encryption_key(erin, 3) != ident.derive_encryption_key(erin, 4)


@pytest.mark.asyncio
async def test_on_block_follows_touched_channels(world: World) -> None:
    from node.swarm.gossip import NullPublisher

    relay = SwarmService(world.source(), NullPublisher(), None, SwarmConfig(), world.clock)
    local_only = SwarmService(
        world.source(), NullPublisher(), None, SwarmConfig(relay_all=False), world.clock
    )
    local_only.add_identity(world.who["carol"])
    one = world.service("one", "alice")
    await _channel(world, one)
    payloads = [JoinChannel(world.cid), "not a channel payload"]
    await relay.on_block(payloads)
    await local_only.on_block(payloads)
    assert relay.followed == (world.cid,) and local_only.followed == ()
    world.channel_tx("carol", JoinChannel(world.cid))
    await local_only.on_block([JoinChannel(world.cid)])
    assert local_only.followed == (world.cid,)


# ---- a real dev node through the CLI (runs once the node, tx.py and the CLI are wired) ------


def _wired() -> bool:
    import node.cli_node
    from ledger.tx import PAYLOADS

    source = Path(node.cli_node.__file__).read_text()
    return ChannelPayload in PAYLOADS.values() and "--swarm-dev-account" in source


@pytest.mark.slow
@pytest.mark.skipif(not _wired(), reason="swarm is not wired into the node and tx.py yet")
def test_dev_node_cli_channel_messages_and_reward(tmp_path: Path) -> None:
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx
    from websockets.sync.client import connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rpc = f"http://127.0.0.1:{port}"
    root = Path(__file__).resolve().parents[2]
    data = tmp_path / "dev"
    log = open(tmp_path / "node.log", "w")  # noqa: SIM115  (lives as long as the node)
    start = [sys.executable, "-m", "aither", "node", "start", "--dev", "--data-dir", str(data)]
    identities = ["--swarm-dev-account", "0", "--swarm-dev-account", "1"]
    node = subprocess.Popen(
        [*start, "--rpc-port", str(port), *identities], cwd=root, stdout=log, stderr=log
    )

    def rpc_call(method: str, *params: object) -> object:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = httpx.post(rpc, json=body, timeout=10).json()
        assert "error" not in answer, answer
        return answer["result"]

    # send, listen and accept call admin methods: the CLI reads the token the node wrote.
    token_file = data / "admin-token"
    env = {**os.environ, "AITHER_ADMIN_TOKEN_FILE": str(token_file)}

    def cli(*args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "aither", "swarm", *args, "--rpc", rpc, "--json"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                rpc_call("aither_chainId")
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "node.log").read_text()
                time.sleep(0.1)
        cli("register", "alice.avm", "--dev-account", "0")
        cli("register", "bob.avm", "--dev-account", "1")
        cli("create", "lab", "--dev-account", "0")
        cli("join", "lab", "--dev-account", "1")
        cli("rotate", "lab", "--dev-account", "1")
        bearer = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        with connect(rpc.replace("http", "ws") + "/ws", additional_headers=bearer) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "aither_subscribe",
                                "params": ["swarm", "lab", "bob.avm"]}))  # fmt: skip
            assert "result" in json.loads(ws.recv())
            request = cli("send", "lab", "question " + MARKER.decode(), "--as", "alice.avm",
                          "--reward", "1", "--dev-account", "0")  # fmt: skip
            pushed = json.loads(ws.recv(timeout=10))["params"]["result"]
            assert pushed["senderName"] == "alice.avm"
            assert pushed["text"] == "question " + MARKER.decode()
        answer = cli("send", "lab", "42", "--as", "bob.avm")
        bob = str(rpc_call("aither_resolveName", "bob.avm"))
        before = int(str(rpc_call("aither_getBalance", bob)), 16)
        cli("accept", answer["sent"]["messageHash"], "--for", request["sent"]["messageHash"],
            "--dev-account", "0")  # fmt: skip
        assert int(str(rpc_call("aither_getBalance", bob)), 16) == before + 10**18
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()
    for path in data.rglob("*"):
        if path.is_file():
            assert MARKER not in path.read_bytes(), path


@pytest.mark.asyncio
async def test_ciphertext_store_is_bounded_on_disk(world: World) -> None:
    one = world.service("one", "alice")
    relay = world.service("relay", disk_bytes=2_000)
    await _channel(world, one, relay)
    for n in range(40):
        await one.send(world.who["alice"].address, world.cid, b"%d" % n)
    kept = relay.stored_envelopes(world.cid)
    assert 0 < len(kept) < 40 and [kept[-1]] == decode_batch(world.bus.published[-1])
    relay.close()
    files = list((world.tmp / "relay").glob("*.env*"))
    assert len(files) == 2 and all(f.stat().st_size <= 2_000 for f in files)
    # In memory, a member keeps at most max_messages.
    small = world.service("two", "bob", max_messages=5)
    await small.follow(world.cid)
    for n in range(8):
        await one.send(world.who["alice"].address, world.cid, b"%d" % n)
    assert [m.payload for m in small.messages(world.cid)] == [b"3", b"4", b"5", b"6", b"7"]


@pytest.mark.asyncio
async def test_old_derived_key_is_remembered_across_restart(world: World) -> None:
    """Between a new certificate and the next rotation, the current epoch is still sealed to
    the old key: a restarted node must remember which valid_from to derive it for."""
    erin = SigningKey(bytes([9]) * 32)

    def register(valid_from: int) -> None:
        cert = ident.derived_certificate(erin, valid_from)
        world._run(lambda s: ident.apply_register(s, erin.pubkey, ident.SetIdentity("", cert), 1))

    register(3)
    world.who["erin"] = LocalIdentity(erin, derive=True)
    one, node = world.service("one", "alice"), world.service("erin-node", "erin")
    await _channel(world, one, node)
    alice = world.who["alice"].address
    world.channel_tx("erin", JoinChannel(world.cid))
    world.channel_tx("alice", one.rotation_for(world.cid, alice))  # sealed to key 3
    node.refresh()
    one.refresh()
    register(4)
    node.close()
    world.bus.subscribers.clear()
    restarted = world.service("erin-node", "erin")
    await restarted.follow(world.cid)
    await one.follow(world.cid)
    await one.send(alice, world.cid, b"still epoch 2")
    assert [m.payload for m in restarted.messages(world.cid)] == [b"still epoch 2"]
