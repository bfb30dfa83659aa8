"""Gossip between real hosts on loopback: relay, validation, limits, bans, dedup."""

from __future__ import annotations

import asyncio
import logging

import pytest
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import signature_validator
from p2p_testnet import Node, link, make_node, start, wait_for

from p2p.errors import MessageTooLargeError
from p2p.gossip import GossipConfig, TopicKind, TopicLimits, Verdict, message_id, topic_name

TXS = topic_name("testnet-1", TopicKind.TXS)
SWARM = "aither/testnet-1/swarm/" + "00" * 32


def reject_bad(data: bytes, from_peer: str) -> bool:
    return not data.startswith(b"bad")


def test_topic_names_are_per_chain() -> None:
    assert topic_name(7, TopicKind.BLOCKS) == "aither/7/blocks"
    assert topic_name("testnet-1", TopicKind.CONSENSUS) == "aither/testnet-1/consensus"
    assert TXS == "aither/testnet-1/txs"


@pytest.mark.asyncio
async def test_gossip_from_a_reaches_c_through_b(nodes: list[Node]) -> None:
    a, b, c = [make_node() for _ in range(3)]
    for node in (a, b, c):
        await node.subscribe(TXS)
    await link(nodes, [a, b, c], TXS)

    await a.gossip.publish(TXS, b"batch-1")
    await wait_for(lambda: c.got(TXS) == [b"batch-1"], "C to receive A's message")

    assert c.received[TXS][0][1] == b.peer_id  # from_peer is the neighbour that relayed it
    assert b.received[TXS] == [(b"batch-1", a.peer_id)]
    assert a.got(TXS) == []  # a node is not handed its own publications
    assert a.peer_id not in c.host.peers()  # C heard it only through B


@pytest.mark.asyncio
async def test_each_message_is_delivered_once(nodes: list[Node]) -> None:
    a, b, c = [make_node() for _ in range(3)]
    for node in (a, b, c):
        await node.subscribe(TXS)
    await link(nodes, [a, b, c], TXS)
    await c.host.connect(a.addr)  # a triangle: C hears every message twice
    await wait_for(lambda: a.peer_id in c.gossip.mesh_peers(TXS), "A-C mesh link")

    for i in range(5):
        await a.gossip.publish(TXS, b"tx-%d" % i)
    await a.gossip.publish(TXS, b"tx-0")  # the same bytes again are the same message
    await a.gossip.publish(TXS, b"last")
    await wait_for(lambda: b"last" in c.got(TXS), "C to receive the last message")

    assert sorted(c.got(TXS)) == sorted([b"tx-%d" % i for i in range(5)] + [b"last"])


@pytest.mark.asyncio
async def test_invalid_message_is_not_relayed(nodes: list[Node]) -> None:
    a, b, c = [make_node() for _ in range(3)]
    await a.subscribe(TXS)
    await b.subscribe(TXS, validator=reject_bad)
    await c.subscribe(TXS)  # C accepts anything: only B's rejection can keep it out
    await link(nodes, [a, b, c], TXS)

    await a.gossip.publish(TXS, b"bad signature")
    await a.gossip.publish(TXS, b"good")
    # One stream per link keeps order: once "good" is at C, "bad" would have been too.
    await wait_for(lambda: b"good" in c.got(TXS), "C to receive the valid message")

    assert c.got(TXS) == [b"good"]
    assert b.got(TXS) == [b"good"]
    assert b.gossip.stats.invalid == 1


@pytest.mark.asyncio
async def test_validator_that_raises_rejects(nodes: list[Node]) -> None:
    def explode(data: bytes, from_peer: str) -> bool:
        if data == b"boom":
            raise ValueError("cannot decode")
        return True

    a, b = make_node(), make_node()
    await a.subscribe(TXS)
    await b.subscribe(TXS, validator=explode)
    await link(nodes, [a, b], TXS)

    await a.gossip.publish(TXS, b"boom")
    await a.gossip.publish(TXS, b"fine")
    await wait_for(lambda: b.got(TXS) == [b"fine"], "B to receive the decodable message")
    assert b.gossip.stats.invalid == 1


@pytest.mark.asyncio
async def test_ignored_messages_are_dropped_without_blame(nodes: list[Node]) -> None:
    def future_heights_unknown(data: bytes, from_peer: str) -> bool | Verdict:
        return Verdict.IGNORE if data.startswith(b"future") else True

    a, b, c = [make_node(gossip=GossipConfig(invalid_threshold=2)) for _ in range(3)]
    await a.subscribe(TXS)
    await b.subscribe(TXS, validator=future_heights_unknown)
    await c.subscribe(TXS)
    await link(nodes, [a, b, c], TXS)

    for i in range(5):
        await a.gossip.publish(TXS, b"future vote %d" % i)
    await a.gossip.publish(TXS, b"current vote")
    await wait_for(lambda: c.got(TXS) == [b"current vote"], "C to get only the current vote")
    assert b.gossip.stats.ignored == 5
    assert b.gossip.stats.banned == 0 and a.peer_id in b.host.peers()


@pytest.mark.asyncio
async def test_rate_limit_drops_a_flood(nodes: list[Node]) -> None:
    a, b = make_node(), make_node()
    await a.subscribe(TXS)
    # Practically no refill: exactly the burst gets through.
    await b.subscribe(TXS, limits=TopicLimits(max_size=1024, rate=0.001, burst=5))
    await link(nodes, [a, b], TXS)

    for i in range(20):
        await a.gossip.publish(TXS, b"flood-%d" % i)
    stats = b.gossip.stats
    await wait_for(lambda: stats.delivered + stats.rate_limited >= 20, "B to see all 20")

    assert stats.delivered == 5
    assert stats.rate_limited == 15
    assert len(b.got(TXS)) == 5
    assert a.peer_id in b.host.peers()  # flooding is dropped, not punished as invalid


@pytest.mark.asyncio
async def test_oversize_message_is_dropped(nodes: list[Node]) -> None:
    a, b, c = [make_node() for _ in range(3)]
    await a.subscribe(TXS)
    await b.subscribe(TXS, limits=TopicLimits(max_size=1000, rate=100.0, burst=100))
    await c.subscribe(TXS)
    await link(nodes, [a, b, c], TXS)

    await a.gossip.publish(TXS, b"x" * 1001)
    await a.gossip.publish(TXS, b"small")
    await wait_for(lambda: b"small" in c.got(TXS), "C to receive the small message")

    assert b.got(TXS) == [b"small"]
    assert c.got(TXS) == [b"small"]
    assert b.gossip.stats.oversize == 1


@pytest.mark.asyncio
async def test_publish_over_the_local_bound_raises(nodes: list[Node]) -> None:
    a = await start(nodes, make_node())
    await a.gossip.subscribe(TXS, lambda d, p: None, limits=TopicLimits(100, 10.0, 10))
    with pytest.raises(MessageTooLargeError):
        await a.gossip.publish(TXS, b"x" * 101)


@pytest.mark.asyncio
async def test_peer_that_keeps_sending_invalid_messages_is_disconnected(
    nodes: list[Node], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aither.p2p")
    honest = make_node(gossip=GossipConfig(invalid_threshold=3))
    rogue = make_node()
    await honest.subscribe(TXS, validator=reject_bad)
    await rogue.subscribe(TXS)
    await link(nodes, [rogue, honest], TXS)

    for i in range(3):
        await rogue.gossip.publish(TXS, b"bad-%d" % i)

    await wait_for(lambda: rogue.peer_id not in honest.host.peers(), "the rogue's disconnect")
    assert honest.host.is_banned(rogue.peer_id)
    assert honest.gossip.stats.banned == 1
    bans = [r.getMessage() for r in caplog.records if "banned" in r.getMessage()]
    assert len(bans) == 1 and rogue.peer_id in bans[0] and "invalid" in bans[0]


@pytest.mark.asyncio
async def test_banned_peer_cannot_come_back(nodes: list[Node]) -> None:
    honest = make_node(gossip=GossipConfig(invalid_threshold=1))
    rogue = make_node()
    await honest.subscribe(TXS, validator=reject_bad)
    await rogue.subscribe(TXS)
    await link(nodes, [rogue, honest], TXS)
    await rogue.gossip.publish(TXS, b"bad")
    await wait_for(lambda: honest.host.is_banned(rogue.peer_id), "the ban")

    # The rogue redials (it keeps `honest` as a wanted peer); every connection is cut.
    await wait_for(lambda: honest.peer_id not in rogue.host.peers(), "the rogue to be cut off")
    await rogue.gossip.publish(TXS, b"good but from a banned peer")
    await honest.host.connect(rogue.addr, keep=False)  # even a dial of ours is dropped
    await wait_for(lambda: rogue.peer_id not in honest.host.peers(), "the redial to be cut")
    assert honest.got(TXS) == []


@pytest.mark.asyncio
async def test_an_anonymous_topic_carries_no_origin_while_others_stay_signed(
    nodes: list[Node],
) -> None:
    a, b, c = [make_node() for _ in range(3)]
    seen: list[rpc_pb2.Message] = []
    for node in (a, b, c):
        await node.subscribe(SWARM, anonymous=True)
        await node.subscribe(TXS)
    await link(nodes, [a, b, c], SWARM)
    for left, right in ((a, b), (b, c)):
        await wait_for(lambda x=left, y=right: y.peer_id in x.gossip.mesh_peers(TXS), "mesh")
    # Look at what C's library received, as a relay would see it.
    pubsub = c.gossip._pubsub
    assert pubsub is not None
    original = pubsub.notify_subscriptions
    pubsub.notify_subscriptions = lambda msg: (seen.append(msg), original(msg))[1]

    await a.gossip.publish(SWARM, b"sealed-1")
    await a.gossip.publish(SWARM, b"sealed-2")
    await a.gossip.publish(TXS, b"signed")
    await wait_for(lambda: c.got(SWARM) == [b"sealed-1", b"sealed-2"], "C to get both")
    await wait_for(lambda: c.got(TXS) == [b"signed"], "C to get the signed one")
    anonymous = [m for m in seen if SWARM in m.topicIDs]
    assert [(m.from_id, m.key, m.signature) for m in anonymous] == [(b"", b"", b"")] * 2
    assert c.received[SWARM][0][1] == b.peer_id  # only the forwarding neighbour is known
    [signed] = [m for m in seen if TXS in m.topicIDs]
    assert signed.from_id == ID.from_base58(a.peer_id).to_bytes()
    assert signature_validator(signed)


@pytest.mark.asyncio
async def test_author_fields_on_an_anonymous_topic_or_none_on_a_signed_one_are_refused(
    nodes: list[Node],
) -> None:
    honest, rogue = make_node(), make_node()
    await honest.subscribe(SWARM, anonymous=True)
    await honest.subscribe(TXS)
    # The rogue gets each topic's rule backwards: it signs on SWARM and does not on TXS.
    await rogue.subscribe(SWARM)
    await rogue.subscribe(TXS, anonymous=True)
    await link(nodes, [rogue, honest], SWARM)
    await wait_for(lambda: honest.peer_id in rogue.gossip.mesh_peers(TXS), "the TXS mesh")
    await rogue.gossip.publish(SWARM, b"signed where nobody signs")
    await rogue.gossip.publish(TXS, b"unsigned where everyone signs")
    await wait_for(lambda: honest.gossip.stats.invalid == 2, "both to be refused")
    assert honest.got(SWARM) == [] and honest.got(TXS) == []


@pytest.mark.asyncio
async def test_subscribe_after_start_and_topic_peers(nodes: list[Node]) -> None:
    a, b = make_node(), make_node()
    await start(nodes, a)
    await start(nodes, b)
    await a.host.connect(b.addr)
    blocks = topic_name("testnet-1", TopicKind.BLOCKS)
    await a.subscribe(blocks)
    await b.subscribe(blocks)
    await wait_for(lambda: b.peer_id in a.gossip.mesh_peers(blocks), "the blocks mesh")
    assert a.gossip.topic_peers(blocks) == [b.peer_id]
    await b.gossip.publish(blocks, b"block 1")
    await wait_for(lambda: a.got(blocks) == [b"block 1"], "A to receive the block")


def test_message_id_is_content_hash() -> None:
    one = rpc_pb2.Message(data=b"x", topicIDs=[TXS], from_id=b"a", seqno=b"1")
    two = rpc_pb2.Message(data=b"x", topicIDs=[TXS], from_id=b"b", seqno=b"2")
    other_topic = rpc_pb2.Message(data=b"x", topicIDs=["aither/1/blocks"])
    assert message_id(one) == message_id(two)
    assert message_id(one) != message_id(other_topic)


@pytest.mark.asyncio
async def test_replay_after_the_seen_cache_forgot_is_not_delivered_again(
    nodes: list[Node],
) -> None:
    a, b = make_node(), make_node()
    for node in (a, b):
        await node.subscribe(TXS)
    await link(nodes, [a, b], TXS)
    await a.gossip.publish(TXS, b"once")
    await wait_for(lambda: b.got(TXS) == [b"once"], "B to receive the message")

    # Stand in for the library's seen-cache expiry (its sweep runs every 60 s).
    pubsub = b.gossip._pubsub
    assert pubsub is not None
    pubsub.seen_messages.cache.clear()
    # On a fresh subscription A replays its recent messages to B.
    await b.host.disconnect(a.peer_id)
    await wait_for(lambda: a.host.peers() == [], "A to see B go")
    await b.host.connect(a.addr)
    await wait_for(lambda: b.gossip.stats.duplicates >= 1, "A's replay to reach B")
    assert b.got(TXS) == [b"once"]


@pytest.mark.asyncio
async def test_a_burst_is_paced_not_lost(nodes: list[Node]) -> None:
    a, b, c = [make_node() for _ in range(3)]
    for node in (a, b, c):
        await node.subscribe(TXS)
    await link(nodes, [a, b, c], TXS)

    # 0.8.1 alone loses most of such a burst at its 32-RPC peer queues.
    burst = [b"%04d" % i + bytes(1020) for i in range(300)]
    await asyncio.gather(*(a.gossip.publish(TXS, message) for message in burst))
    await wait_for(lambda: len(c.got(TXS)) == len(burst), "C to receive the whole burst", 20.0)
    assert sorted(c.got(TXS)) == burst
