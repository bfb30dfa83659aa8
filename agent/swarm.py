"""The swarm opcodes in a local run: channels on chain, messages through the node's swarm service.

Channels. An IR program names a channel as the paper does ("SocialSwarm"); on chain that is the
same name in lowercase (chain names are a-z 0-9 . _ -), or a 0x channel id. SWARM_CONNECT on a
channel the chain has makes the agent a member if it is not one: it joins (an open channel;
an invite-only one traps, its admin adds members) and rotates the channel's key so the join
takes effect, as two CHANNEL transactions sent when the run ends well. A channel the chain does
not have stays a name in the run: nothing is joined, and nothing can be sent on it.

Messages. When the node holds the agent's swarm key (`swarm_identities` lists it; those methods
need the node's admin token), SWARM_BROADCAST and SWARM_FETCH send one message on every channel
the run connected to, SEND_SWARM_MSG on the channel it names, each at once: a message is signed
and encrypted by the node for the channel's members and cannot be taken back, so one sent before
a trap stays sent. A refusal (not a member of the current epoch yet, the rate limit) traps: the
swarm's policy halts the agent (§10.2). A REWARD becomes an escrow for that message (a CHANNEL
transaction sent when the run ends well). Otherwise the swarm opcodes stay the events the AVM
emits, as on chain, and WAIT_FOR_RESPONSE asks the tool named by `[swarm] responses_tool`.

A message is JSON text, so any member can read and answer it:

    {"avm": "broadcast", "message": MESSAGE, "data": DATA, "reward": REWARD}
    {"avm": "message", "message": MESSAGE, "reward": REWARD}
    {"avm": "fetch", "dataType": DATA_TYPE, "requestId": REQUEST_ID, "handle": "0x<handle>"}

An answer is a JSON message with "re" naming the request (its MESSAGE text, as §10.8 waits on
"REQ_SENTIMENT"; a fetch's handle; or the request's message hash) and "data". WAIT_FOR_RESPONSE
(HANDLE, TIMEOUT_SEC) polls `swarm_messages` on the run's channels until `[swarm] min_responses`
answers arrived after the run's request (all answers held, when the run sent no request with
that handle) or the timeout passes (the operand, else `[swarm] wait_timeout_sec`); it returns the
answers' data in arrival order, and no answer in time is a failed call. The first answer to a
rewarded request is accepted: a CHANNEL transaction that pays its sender the escrow (§10.6: the
reward goes to the first agent that responds). The wait is one recorded question to the node,
so a replay gets the same answers however often the live run polled.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from agent.effects import AnswerAcceptance, ChannelJoin, ChannelRotation, Effect
from agent.nodelink import NodeLink
from avm.errors import PermissionDenied
from avm.host import PluginFailure
from avm.values import Value, to_python
from core.crypto import parse_address, to_checksum_address
from ledger.channels.payloads import is_channel_name
from wallet.client import RpcClient, RpcClientError

log = logging.getLogger("aither.agent")

# JSON-RPC codes of the node's answers (node/rpc/errors.py).
METHOD_NOT_FOUND = -32601  # the node runs no swarm service
UNAUTHORIZED = -32010  # an admin method without the node's admin token
DEFAULT_WAIT_TIMEOUT_SEC = 30.0
DEFAULT_MIN_RESPONSES = 1
DEFAULT_REWARD_TIMEOUT_BLOCKS = 1_000
POLL_INTERVAL_SEC = 0.1


@dataclass(frozen=True, slots=True)
class SwarmSettings:
    """The `[swarm]` table; recorded in the trace, since they shape what a run does."""

    wait_timeout_sec: float = DEFAULT_WAIT_TIMEOUT_SEC
    min_responses: int = DEFAULT_MIN_RESPONSES
    reward_timeout_blocks: int = DEFAULT_REWARD_TIMEOUT_BLOCKS

    def to_json(self) -> dict[str, object]:
        return {
            "waitTimeoutSec": self.wait_timeout_sec,
            "minResponses": self.min_responses,
            "rewardTimeoutBlocks": self.reward_timeout_blocks,
        }

    @staticmethod
    def from_json(doc: dict[str, Any]) -> SwarmSettings:
        return SwarmSettings(
            float(doc["waitTimeoutSec"]),
            int(doc["minResponses"]),
            int(doc["rewardTimeoutBlocks"]),
        )


@dataclass(frozen=True, slots=True)
class Channel:
    name: str  # as the program names it
    chain_name: str
    view: dict[str, Any] | None  # aither_getChannel's answer; None: not on chain

    @property
    def channel_id(self) -> bytes | None:
        return None if self.view is None else bytes.fromhex(str(self.view["id"])[2:])


@dataclass(frozen=True, slots=True)
class Request:
    """A message the run sent that answers may refer to."""

    handle: str  # what an answer's "re" names, besides the message hash
    channel_id: bytes
    message_hash: bytes
    reward: int


def handle_text(handle: Value) -> str:
    """How an answer's "re" names a request: its text, or 0x-hex of a handle's bytes."""
    if type(handle) is str:
        return handle
    if type(handle) is bytes:
        return "0x" + handle.hex()
    return json.dumps(to_python(handle), separators=(",", ":"), default=str)


def chain_name(name: str) -> str:
    return name if name.startswith("0x") else name.lower()


class SwarmLink:
    """One run's use of the swarm: its channels, the requests it sent, the node it asks."""

    def __init__(self, node: NodeLink, agent: bytes, settings: SwarmSettings) -> None:
        self.node = node
        self.agent = agent
        self.settings = settings
        self.connected: list[Channel] = []  # in the order the run connected
        self.requests: list[Request] = []
        self.accepted: set[bytes] = set()  # rewarded requests whose answer is paid
        self.local_reason: str | None = None  # why messages stay local events, once known
        self._live: bool | None = None
        self._channels: dict[str, Channel] = {}

    # ---- channels ----

    def channel(self, name: str) -> Channel:
        """The channel `name` as the chain has it (read once per run)."""
        found = self._channels.get(name)
        if found is None:
            on_chain = chain_name(name)
            view = None
            if is_channel_name(on_chain) or (on_chain.startswith("0x") and len(on_chain) == 66):
                answer = self.node.call("aither_getChannel", on_chain)
                view = answer if isinstance(answer, dict) else None
            found = self._channels[name] = Channel(name, on_chain, view)
        return found

    def connect(self, name: str) -> list[Effect]:
        """SWARM_CONNECT: the effects that make the agent a member (none if it is one, or the
        chain has no such channel). Raises PermissionDenied where the chain would refuse."""
        channel = self.channel(name)
        if channel not in self.connected:
            self.connected.append(channel)
        view = channel.view
        channel_id = channel.channel_id
        if view is None or channel_id is None:
            return []
        me = to_checksum_address(self.agent)
        if me in view["members"]:
            return []
        rotation = ChannelRotation(channel_id, channel.chain_name)
        if me in view["pendingJoins"]:
            return [rotation]
        if view["mode"] != "open":
            raise PermissionDenied(
                f"channel {channel.chain_name} is invite-only: its admin adds members"
            )
        identity = self.node.call("aither_getIdentity", me)
        if not isinstance(identity, dict) or not identity.get("encryptionKey"):
            raise PermissionDenied(
                f"{me} has no certified encryption key, so channel keys cannot be sealed to it: "
                "register one first (aither swarm register)"
            )
        return [ChannelJoin(channel_id, channel.chain_name), rotation]

    # ---- messages ----

    def live(self) -> bool:
        """Whether the node holds the agent's swarm key (asked once per run)."""
        if self._live is None:
            try:
                held = self.node.call("swarm_identities")
            except RpcClientError as exc:
                if exc.code is None:
                    raise
                self._live = False
                if exc.code == METHOD_NOT_FOUND:
                    self.local_reason = "the node runs no swarm service"
                elif exc.code == UNAUTHORIZED:
                    self.local_reason = (
                        "the node's swarm methods need its admin token (--token-file or "
                        "--rpc-token)"
                    )
                else:
                    self.local_reason = f"the node refused swarm_identities: {exc}"
                return False
            held = held if isinstance(held, list) else []
            addresses = [str(i.get("address")) for i in held if isinstance(i, dict)]
            self._live = to_checksum_address(self.agent) in addresses
            if not self._live:
                self.local_reason = "the node does not hold the agent's swarm key"
        return self._live

    def send(self, channel: Channel, body: dict[str, object], handle: str, reward: int) -> Request:
        """Send `body` on `channel` now. Raises PermissionDenied when it cannot be sent."""
        channel_id = channel.channel_id
        if channel_id is None:
            raise PermissionDenied(
                f"no channel {channel.chain_name} on chain to send on: create it first "
                f"(aither swarm create {channel.chain_name})"
            )
        text = json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)
        try:
            sent = self.node.call(
                "swarm_send",
                "0x" + channel_id.hex(),
                "0x" + text.encode().hex(),
                to_checksum_address(self.agent),
            )
        except RpcClientError as exc:
            if exc.code is None:
                raise
            raise PermissionDenied(
                f"the swarm refused the message on {channel.name}: {exc}"
            ) from None
        assert isinstance(sent, dict)
        request = Request(handle, channel_id, bytes.fromhex(str(sent["messageHash"])[2:]), reward)
        self.requests.append(request)
        return request

    def wait(self, handle: Value, timeout_sec: float) -> tuple[list[object], list[Effect]]:
        """WAIT_FOR_RESPONSE: the answers' data, and the acceptance of the first answer to
        each rewarded request. Raises PluginFailure when no answer came in time."""
        name = handle_text(handle)
        channels = [c.channel_id for c in self.connected if c.channel_id is not None]
        for request in self.requests:
            if request.channel_id not in channels:
                channels.append(request.channel_id)
        if not channels:
            raise PluginFailure(
                f"WAIT_FOR_RESPONSE {name}: the run has no swarm channel (SWARM_CONNECT first)"
            )
        mine = [r for r in self.requests if r.handle == name]
        wanted = self.settings.min_responses
        log.info(
            "swarm: waiting up to %g s for %s to %s on %d channel%s",
            timeout_sec,
            "an answer" if wanted == 1 else f"{wanted} answers",
            name,
            len(channels),
            "" if len(channels) == 1 else "s",
        )
        params: list[object] = [
            ["0x" + c.hex() for c in channels],
            name,
            ["0x" + r.message_hash.hex() for r in mine],
            self.settings.min_responses,
            timeout_sec,
        ]
        found = self.node.ask(
            "swarm_wait",
            params,
            lambda client: collect_answers(
                client, self.agent, channels, name, mine, self.settings.min_responses, timeout_sec
            ),
        )
        answers = [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []
        if not answers:
            raise PluginFailure(f"no answer to {name} within {timeout_sec:g} s")
        effects: list[Effect] = []
        for request in mine:
            if request.reward == 0 or request.message_hash in self.accepted:
                continue
            on_channel = "0x" + request.channel_id.hex()
            first = next((a for a in answers if a["channel"] == on_channel), None)
            if first is not None:
                self.accepted.add(request.message_hash)
                effects.append(acceptance(request, first))
        return [answer_data(a) for a in answers], effects


def answer_data(message: dict[str, object]) -> object:
    body = json.loads(str(message["text"]))
    return body.get("data")


def acceptance(request: Request, message: dict[str, Any]) -> AnswerAcceptance:
    def raw(key: str) -> bytes:
        return bytes.fromhex(str(message[key])[2:])

    return AnswerAcceptance(
        request.message_hash,
        request.channel_id,
        int(message["epoch"]),
        parse_address(str(message["sender"])),
        int(message["sequence"]),
        int(message["timestamp"]),
        raw("payloadHash"),
        raw("signature"),
    )


def _answers(text: object, names: set[str]) -> bool:
    if not isinstance(text, str):
        return False
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("re") in names and "data" in body


def collect_answers(
    client: RpcClient,
    agent: bytes,
    channels: list[bytes],
    name: str,
    requests: list[Request],
    min_responses: int,
    timeout_sec: float,
) -> list[dict[str, object]]:
    """Poll the node's decrypted messages on `channels` until `min_responses` answers to `name`
    arrived, or `timeout_sec` passed; the answers, in arrival order."""
    me = to_checksum_address(agent)
    names = {name, *("0x" + r.message_hash.hex() for r in requests)}
    own = {"0x" + r.message_hash.hex(): r.channel_id for r in requests}
    # On a channel where the run sent a request, only what arrived after it answers it.
    waiting_for_request = {r.channel_id for r in requests}
    since = dict.fromkeys(channels, 0)
    answers: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout_sec
    while True:
        for channel_id in channels:
            found = client.call("swarm_messages", "0x" + channel_id.hex(), since[channel_id], me)
            for message in found if isinstance(found, list) else []:
                since[channel_id] = max(since[channel_id], int(message["index"]))
                if message["messageHash"] in own:
                    waiting_for_request.discard(channel_id)
                elif (
                    message["sender"] != me
                    and channel_id not in waiting_for_request
                    and _answers(message.get("text"), names)
                ):
                    answers.append(message)
        if len(answers) >= min_responses or time.monotonic() >= deadline:
            return answers
        time.sleep(POLL_INTERVAL_SEC)
