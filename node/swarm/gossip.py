"""The network side of the swarm service: the `Publisher` protocol, and its libp2p adapter."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from core.swarm_wire import MAX_BATCH

if TYPE_CHECKING:
    from p2p.gossip import Gossip


class RelayVerdict(enum.Enum):
    """What a relay does with an arrival (mapped to p2p.gossip.Verdict by GossipPublisher)."""

    ACCEPT = "accept"
    REJECT = "reject"  # malformed or misaddressed: a strike against the forwarding peer
    IGNORE = "ignore"  # an epoch this node does not (yet, or any longer) accept: no blame


Handler = Callable[[bytes, str], Awaitable[None] | None]
Validator = Callable[[bytes, str], RelayVerdict]


class Publisher(Protocol):
    """The gossip side: what the service needs of the network."""

    async def subscribe(self, topic: str, handler: Handler, validator: Validator) -> None: ...
    async def publish(self, topic: str, data: bytes) -> None: ...


def topic_for(chain_id: int, channel_id: bytes) -> str:
    return f"aither/{chain_id}/swarm/{channel_id.hex()}"


class NullPublisher:
    """No network (a dev node): local members still read each other, through `send`."""

    async def subscribe(self, topic: str, handler: Handler, validator: Validator) -> None:
        return None

    async def publish(self, topic: str, data: bytes) -> None:
        return None


# ---- libp2p adapter ------------------------------------------------------------------------------

# Swarm topics get explicit limits: no gossip message is larger than a batch, and the rate (of
# batches, each of up to MAX_BATCH_ENVELOPES) leaves room for every node's senders at once.
SWARM_RATE = 2_000.0
SWARM_BURST = 4_000


class GossipPublisher:
    """`Publisher` over `p2p.gossip.Gossip`, with the swarm topics' limits and verdicts."""

    def __init__(self, gossip: Gossip) -> None:
        self._gossip = gossip

    async def subscribe(self, topic: str, handler: Handler, validator: Validator) -> None:
        from p2p.gossip import TopicLimits, Verdict  # libp2p: only networked nodes import it

        verdicts = {
            RelayVerdict.ACCEPT: Verdict.ACCEPT,
            RelayVerdict.REJECT: Verdict.REJECT,
            RelayVerdict.IGNORE: Verdict.IGNORE,
        }
        limits = TopicLimits(max_size=MAX_BATCH, rate=SWARM_RATE, burst=SWARM_BURST)
        await self._gossip.subscribe(
            topic,
            handler,
            lambda data, peer: verdicts[validator(data, peer)],
            limits,
            anonymous=True,  # the wire names no author: envelopes are signed inside
        )

    async def publish(self, topic: str, data: bytes) -> None:
        await self._gossip.publish(topic, data)
