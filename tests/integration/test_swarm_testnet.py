"""Swarm channels on a 4-validator testnet: real processes, libp2p on 127.0.0.1, real LevelDB.

alice.avm, bob.avm and carol.avm are members held by node0, node1 and node2; node3 holds no
identity and only relays. A libp2p peer in this process (the tap) connects to node3 alone, so
whatever it captures, node3 relayed: it sees what any gossip participant sees, and it replays.
One test walks the whole story in order (each step needs the chain state of the one before):
members read each other, node3 keeps no plaintext anywhere, a replay is rejected, a reward is
escrowed and paid, and after a removal the removed member reads nothing new.

tcpdump/tshark are not installed here, and the wire is Noise-encrypted anyway; the tap's capture
is the stronger check: the bytes gossip hands a peer after Noise.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import plyvel
import pytest
from testnet_fixture import Testnet, Validator, wait_until
from websockets.sync.client import connect

from core.crypto import SigningKey, hash32, parse_address, to_checksum_address
from core.rpc import ADMIN_TOKEN_FILE
from core.swarm_keys import rotate
from core.swarm_wire import Envelope, decode_batch, encode_batch
from genesis.dev import dev_key
from genesis.keyfile import read_key_file
from ledger.channels.payloads import (
    AcceptAnswer,
    ChannelMode,
    CreateChannel,
    JoinChannel,
    OfferReward,
    RemoveMember,
    RotateKey,
    channel_id_of,
)
from ledger.identity import SetIdentity, derived_certificate
from node.config import NodeConfig
from node.swarm.gossip import topic_for
from p2p.gossip import Gossip
from p2p.host import HostConfig, P2PHost, peer_id_from_seed
from wallet.client import RpcClient, RpcClientError
from wallet.txbuilder import build_channel, build_register, member_keys

pytestmark = pytest.mark.slow

CHANNEL = "lab"
MEMBERS = {"alice.avm": 1, "bob.avm": 2, "carol.avm": 3}  # name -> dev account, on node i-1
REWARD = 10**18
WAIT = 30.0


class Tap:
    """A libp2p peer in this process, subscribed to one topic, connected to one node only.

    It runs on an asyncio loop of its own thread (the host adds its trio thread), so the test
    stays synchronous. `captured` holds every gossip message delivered to it, with the peer
    that forwarded it.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.captured: list[tuple[bytes, str]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.host = P2PHost(HostConfig(os.urandom(32), bootstrap=(bootstrap,)))
        self.gossip = Gossip(self.host)
        self.authors: list[bytes] = []  # the libp2p `from` of every message on the topic
        self._run(
            self.gossip.subscribe(
                topic, lambda data, peer: self.captured.append((data, peer)), anonymous=True
            )
        )
        self._run(self.host.start())
        pubsub = self.gossip._pubsub
        assert pubsub is not None
        notify = pubsub.notify_subscriptions
        pubsub.notify_subscriptions = lambda msg: (self.authors.append(msg.from_id), notify(msg))[1]

    def _run(self, coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(WAIT)  # type: ignore[arg-type]

    def publish(self, data: bytes) -> None:
        self._run(self.gossip.publish(self.topic, data))

    def in_mesh(self) -> bool:
        return bool(self.gossip.mesh_peers(self.topic))

    def close(self) -> None:
        try:
            self._run(self.host.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(WAIT)
            self._loop.close()


def p2p_address(validator: Validator) -> str:
    config = NodeConfig.load(validator.config)
    return f"{config.p2p_listen[0]}/p2p/{peer_id_from_seed(read_key_file(config.node_key).seed)}"


def admin(validator: Validator) -> RpcClient:
    """A client of `validator` carrying its admin token (the swarm_* methods need it)."""
    return RpcClient(
        validator.url, token=(validator.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
    )


def submit(validator: Validator, raws: list[bytes]) -> list[dict[str, object]]:
    with RpcClient(validator.url) as client:
        hashes = [str(client.call("aither_sendRawTransaction", "0x" + raw.hex())) for raw in raws]
        receipts = [client.wait_for_receipt(h, WAIT) for h in hashes]
    for receipt in receipts:
        assert receipt["status"] == "0x1", receipt
    return receipts


def channel_view(validator: Validator, channel_id: bytes) -> dict[str, object] | None:
    with RpcClient(validator.url) as client:
        found = client.call("aither_getChannel", "0x" + channel_id.hex())
    return found if isinstance(found, dict) else None


def wait_for_epoch(net: Testnet, channel_id: bytes, epoch: int) -> None:
    def everywhere() -> bool:
        views = [channel_view(v, channel_id) for v in net.validators]
        return all(view is not None and view["epoch"] == epoch for view in views)

    wait_until(everywhere, WAIT, f"epoch {epoch} of {CHANNEL} on every node\n{net.tails()}")


def messages(validator: Validator, reader: str, since: int = 0) -> list[dict[str, object]]:
    with admin(validator) as client:
        found = client.call("swarm_messages", CHANNEL, since, reader)
    assert isinstance(found, list)
    return found


def texts(validator: Validator, reader: str) -> list[str]:
    return [str(m["text"]) for m in messages(validator, reader)]


def stats(validator: Validator) -> dict[str, object]:
    with admin(validator) as client:
        found = client.call("swarm_stats")
    assert isinstance(found, dict)
    return found


def send(validator: Validator, sender: str, text: str) -> dict[str, object]:
    with admin(validator) as client:
        sent = client.call("swarm_send", CHANNEL, text, sender)
    assert isinstance(sent, dict)
    return sent


class Subscriber:
    """A WebSocket client of a node's `/ws`: calls, and the notifications that arrive between."""

    def __init__(self, validator: Validator) -> None:
        token = (validator.data_dir / ADMIN_TOKEN_FILE).read_text().strip()
        self.socket = connect(
            validator.url.replace("http://", "ws://") + "/ws",
            additional_headers={"Authorization": f"Bearer {token}"},
        )
        self.notifications: list[str] = []
        self._ids = 0

    def call(self, method: str, *params: object) -> dict[str, object]:
        self._ids += 1
        self.socket.send(json.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method,
                                     "params": list(params)}))  # fmt: skip
        while True:
            text = str(self.socket.recv(timeout=WAIT))
            answer = json.loads(text)
            if answer.get("id") == self._ids:
                return answer
            self.notifications.append(text)

    def read_until_head(self, heads: str, height: int) -> None:
        """Collect notifications up to the head of `height` on subscription `heads`: the node
        pushes in order, so everything pushed before that head is then collected."""
        while True:
            text = str(self.socket.recv(timeout=WAIT))
            self.notifications.append(text)
            params = json.loads(text)["params"]
            if params["subscription"] == heads and int(params["result"]["number"], 16) >= height:
                return

    def close(self) -> None:
        self.socket.close()


def files_with(root: Path, marker: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and marker in p.read_bytes()]


def leveldb_holds(path: Path, marker: bytes) -> bool:
    """Whether any key or value of the (closed) LevelDB at `path` contains `marker`: its files
    are block-compressed, so the bytes on disk alone could hide a plaintext."""
    db = plyvel.DB(str(path))
    try:
        return any(marker in key or marker in value for key, value in db)
    finally:
        db.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testnet]:
    testnet = Testnet(tmp_path_factory.mktemp("swarm-testnet"))
    for account in MEMBERS.values():
        testnet[account - 1].args = ("--swarm-dev-account", str(account))
    try:
        testnet.start()
        testnet.wait_for_height(1)
        yield testnet
    finally:
        testnet.close()


def test_members_read_relays_see_ciphertext_replays_rewards_and_removal(net: Testnet) -> None:
    keys: dict[str, SigningKey] = {name: dev_key(account) for name, account in MEMBERS.items()}
    node_of = {name: net[account - 1] for name, account in MEMBERS.items()}
    relay = net[3]
    marker = f"plaintext-{secrets.token_hex(8)}"

    # -- identities and the channel, on chain --
    with RpcClient(net[0].url) as client:
        chain_id = int(str(client.call("aither_chainId")), 16)
        channel_id = channel_id_of(chain_id, CHANNEL)
        registers = [
            build_register(client, key, SetIdentity(name, derived_certificate(key, 1)))
            for name, key in keys.items()
        ]
    submit(net[0], registers)
    with RpcClient(net[0].url) as client:
        _, rotation = rotate(channel_id, 0, member_keys(client, [keys["alice.avm"].address]))
        create = build_channel(
            client, keys["alice.avm"], CreateChannel(CHANNEL, ChannelMode.OPEN, rotation)
        )
    submit(net[0], [create])
    with RpcClient(net[0].url) as client:
        joins = [
            build_channel(client, keys[n], JoinChannel(channel_id))
            for n in ("bob.avm", "carol.avm")
        ]
    submit(net[0], joins)
    addresses = sorted(key.address for key in keys.values())
    with RpcClient(net[0].url) as client:
        _, rotation = rotate(channel_id, 1, member_keys(client, addresses))
        rotate_tx = build_channel(client, keys["alice.avm"], RotateKey(channel_id, rotation))
    submit(net[0], [rotate_tx])
    wait_for_epoch(net, channel_id, 1)

    # -- the tap joins through node3; node3's WebSocket subscriptions are watched throughout --
    tap = Tap(p2p_address(relay), topic_for(chain_id, channel_id))
    watcher = Subscriber(relay)
    try:
        heads = watcher.call("aither_subscribe", "newHeads")["result"]
        alice = to_checksum_address(keys["alice.avm"].address)
        assert "result" in watcher.call("aither_subscribe", "receipts", alice)
        # A node with no member identity cannot subscribe to the channel's plaintext at all.
        refused = watcher.call("aither_subscribe", "swarm", CHANNEL)["error"]
        assert "no local identity is a member" in refused["message"]  # type: ignore[index]
        wait_until(tap.in_mesh, WAIT, "the tap to join node3's mesh for the channel")

        # -- members receive and decrypt each other's messages --
        hello = send(node_of["alice.avm"], "alice.avm", f"hello {marker}")
        for name in ("bob.avm", "carol.avm"):
            wait_until(
                lambda n=name: f"hello {marker}" in texts(node_of[n], n),
                WAIT,
                f"{name} to read alice's message\n{net.tails()}",
            )
        reply = send(node_of["bob.avm"], "bob.avm", f"hi alice {marker}")
        for name in ("alice.avm", "carol.avm"):
            wait_until(
                lambda n=name: f"hi alice {marker}" in texts(node_of[n], n),
                WAIT,
                f"{name} to read bob's reply",
            )
        [got] = [
            m
            for m in messages(node_of["carol.avm"], "carol.avm")
            if m["messageHash"] == reply["messageHash"]
        ]
        assert got["senderName"] == "bob.avm" and got["sequence"] == 0

        # -- node3 relayed both, as ciphertext, and can read neither --
        sent_hashes = {hello["messageHash"], reply["messageHash"]}

        def tapped() -> set[str]:
            return {"0x" + hash32(e).hex() for data, _ in tap.captured for e in decode_batch(data)}

        wait_until(lambda: sent_hashes <= tapped(), WAIT, "the tap to capture both messages")
        relay_peer = p2p_address(relay).rsplit("/", 1)[-1]
        assert {peer for _, peer in tap.captured} == {relay_peer}
        assert tap.authors and set(tap.authors) == {b""}  # no node is named as the origin
        assert all(marker.encode() not in data for data, _ in tap.captured)
        envelopes = [e for data, _ in tap.captured for e in decode_batch(data)]
        assert all(Envelope.decode(e).channel_id == channel_id for e in envelopes)
        assert stats(relay)["relayed"] >= 2 and stats(relay)["accepted"] == 0
        with admin(relay) as client, pytest.raises(RpcClientError, match="no local identity"):
            client.call("swarm_messages", CHANNEL)

        # -- a replayed message is rejected: the tap republishes both in a new gossip message --
        before = stats(node_of["bob.avm"])["rejected"]
        assert isinstance(before, dict)
        seen = len(messages(node_of["bob.avm"], "bob.avm"))
        tap.publish(encode_batch(list(reversed(envelopes))))
        wait_until(
            lambda: (
                stats(node_of["bob.avm"])["rejected"].get("replayed", 0)  # type: ignore[union-attr]
                >= before.get("replayed", 0) + 2
            ),
            WAIT,
            f"bob's node to reject the replay\n{net.tails()}",
        )
        assert len(messages(node_of["bob.avm"], "bob.avm")) == seen

        # -- a reward is escrowed, and paid to the responder whose answer is accepted --
        question = send(node_of["alice.avm"], "alice.avm", f"who knows? {marker}")
        with RpcClient(net[0].url) as client:
            height = int(str(client.call("aither_blockNumber")), 16)
            offer = OfferReward(
                channel_id,
                bytes.fromhex(str(question["messageHash"])[2:]),
                REWARD,
                height + 1_000,
            )
            offer_tx = build_channel(client, keys["alice.avm"], offer)
        submit(net[0], [offer_tx])
        with RpcClient(net[0].url) as client:
            escrow = client.call("aither_getReward", question["messageHash"])
            bob_before = int(
                str(client.call("aither_getBalance", to_checksum_address(keys["bob.avm"].address))),
                16,
            )
        assert isinstance(escrow, dict) and int(str(escrow["amount"]), 0) == REWARD
        answer = send(node_of["bob.avm"], "bob.avm", f"42 {marker}")
        with admin(node_of["alice.avm"]) as client:
            found = wait_until(
                lambda: client.call("swarm_message", answer["messageHash"]),
                WAIT,
                "alice's node to decrypt bob's answer",
            )
            assert isinstance(found, dict)
            accept = AcceptAnswer(
                bytes.fromhex(str(question["messageHash"])[2:]),
                bytes.fromhex(str(found["channel"])[2:]),
                int(found["epoch"]),  # type: ignore[call-overload]
                parse_address(str(found["sender"])),
                int(found["sequence"]),  # type: ignore[call-overload]
                int(found["timestamp"]),  # type: ignore[call-overload]
                bytes.fromhex(str(found["payloadHash"])[2:]),
                bytes.fromhex(str(found["signature"])[2:]),
            )
            accept_tx = build_channel(client, keys["alice.avm"], accept)
        submit(net[0], [accept_tx])
        with RpcClient(net[0].url) as client:
            bob_after = int(
                str(client.call("aither_getBalance", to_checksum_address(keys["bob.avm"].address))),
                16,
            )
            assert client.call("aither_getReward", question["messageHash"]) is None
        assert bob_after == bob_before + REWARD

        # -- carol is removed: the key rotates, and she reads nothing sent afterwards --
        remaining = sorted(keys[n].address for n in ("alice.avm", "bob.avm"))
        with RpcClient(net[0].url) as client:
            _, rotation = rotate(channel_id, 2, member_keys(client, remaining))
            removal = RemoveMember(channel_id, keys["carol.avm"].address, rotation)
            remove_tx = build_channel(client, keys["alice.avm"], removal)
        submit(net[0], [remove_tx])
        wait_for_epoch(net, channel_id, 2)
        after = f"after carol left {secrets.token_hex(8)}"
        undecryptable = stats(node_of["carol.avm"])["rejected"].get("no epoch key", 0)  # type: ignore[union-attr]
        send(node_of["alice.avm"], "alice.avm", after)
        wait_until(lambda: after in texts(node_of["bob.avm"], "bob.avm"), WAIT, "bob to read it")
        wait_until(
            lambda: stats(node_of["carol.avm"])["rejected"].get("no epoch key", 0) > undecryptable,  # type: ignore[union-attr]
            WAIT,
            "carol's node to receive the message it cannot open",
        )
        assert after not in texts(node_of["carol.avm"], "carol.avm")
        assert files_with(node_of["carol.avm"].data_dir, after.encode()) == []
        watcher.read_until_head(str(heads), net.head([relay]))
    finally:
        watcher.close()
        tap.close()

    # -- node3's subscriptions, log and data dir hold no plaintext (its LevelDBs read whole) --
    receipts = [n for n in watcher.notifications if '"transactionHash"' in n]
    assert receipts, "node3 pushed none of alice's receipts: the subscription was not live"
    assert all(marker not in text for text in watcher.notifications)
    relay.stop()
    assert marker not in relay.log_text()
    assert files_with(relay.data_dir, marker.encode()) == []
    stores = [p for p in relay.data_dir.iterdir() if p.suffix == ".ldb" and p.is_dir()]
    assert stores and not any(leveldb_holds(store, marker.encode()) for store in stores)
    assert list((relay.data_dir / "swarm").glob("*.env")), "node3 stored no ciphertext"
