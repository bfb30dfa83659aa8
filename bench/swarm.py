"""Swarm channel messages on a 4-validator testnet: delivered messages/s and end-to-end latency.

Generates a testnet, starts its validators as `aither node start --config` processes, each
holding some of `--members` swarm identities (dev accounts, member i on node i % 4), registers
them on chain, creates one channel, joins everyone and rotates the key, then offers `--rate`
messages/s of `--size` bytes for `--seconds`, sent through each node's `swarm_send` (JSON-RPC
batches of `--batch` calls, every member sending in turn, with the node's admin token). Every
node has a WebSocket `swarm` subscription; a node decrypts each message once for all its local
members, and says which (the message's readers). Prints:

- delivered to all members, messages/s: messages whose readers, over all nodes' pushes, cover
  every member of the channel / (last such delivery - first send);
- latency from send (just before the JSON-RPC batch leaves) to decrypted delivery on a node
  (median, p95), per (message, other node), and to the last member (max over the nodes);
- node CPU per message and, as the peer in the same run, the crypto alone per message: what
  `bench/swarm_crypto.py` measures (sign and encrypt once, open and verify on each node);
- the nodes' CPU split between their main (asyncio) threads and the others (libp2p), this
  client's own CPU, and the machine's load average: the nodes, the client and whatever else
  runs here share its cores, and latency grows quickly once they are saturated.

    .venv/bin/python bench/swarm.py [--rate 500] [--seconds 10] [--batch 10] [--members 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # bench/common.py, beside this file
    counting_progress,
    cpu_seconds,
    start_node,
)

from core.crypto import SigningKey, hash32, to_checksum_address
from core.rpc import ADMIN_TOKEN_FILE
from core.swarm_keys import EncryptionKey, MemberKeys, rotate
from genesis.dev import dev_key
from genesis.testnet import TestnetNode, new_testnet
from ledger.chain_params import ChainParams
from ledger.channels.payloads import (
    ChannelMode,
    CreateChannel,
    JoinChannel,
    RotateKey,
    channel_id_of,
)
from ledger.identity import SetIdentity, derived_certificate
from node.process import NodeProcess, free_ports, stop_all, wait_until
from p2p.swarm import ChannelReader, ChannelView, ChannelWriter, Epoch, ReaderPolicy
from wallet.client import RpcClient
from wallet.txbuilder import build_channel, build_register, member_keys, next_members

NODES = 4
CHANNEL = "bench"
CONSENSUS = ChainParams(timeout_commit_ms=1_000)  # the testnet default: a block a second
SETUP_TIMEOUT = 60.0
SETTLE_SECONDS = 15.0  # after the stream: how long late deliveries may take
POLL = 0.02
console = Console()


@dataclass
class Member:
    index: int
    key: SigningKey
    node: int

    @property
    def name(self) -> str:
        return f"bench-member{self.index}.avm"


@dataclass
class Node:
    spec: TestnetNode
    members: list[Member]
    process: NodeProcess | None = None
    token: str = ""
    # What this node's subscription pushed: message hash -> (arrival time, readers).
    pushed: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)  # message hash -> send time
    errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.rpc_port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def wait_for(condition: Callable[[], object], what: str, timeout: float = SETUP_TIMEOUT) -> object:
    try:
        return wait_until(condition, timeout, what)
    except TimeoutError as exc:
        raise SystemExit(str(exc)) from None


def start(nodes: list[Node]) -> None:
    for node in nodes:
        flags = [f"--swarm-dev-account={m.index}" for m in node.members]
        node.process = start_node(node.spec, *flags)


def stop(nodes: list[Node]) -> None:
    stop_all([node.process for node in nodes if node.process is not None])


def node_cpu(nodes: list[Node]) -> tuple[float, float]:
    """CPU seconds the nodes have used so far: (main threads, all other threads)."""
    main, total = cpu_seconds(node.process.pid for node in nodes if node.process is not None)
    return main, total - main


def serving(node: Node) -> bool:
    """The node answers, and it is ours (its log says so): not another run's on that port."""
    assert node.process is not None
    log = node.spec.directory / "node.log"
    if node.process.poll() is not None:
        raise SystemExit(f"{node.spec.name} exited:\n{log.read_text()[-2000:]}")
    if "serving JSON-RPC" not in log.read_text():
        return False
    try:
        return httpx.get(f"{node.url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def submit_all(client: RpcClient, raws: list[bytes]) -> None:
    hashes = [str(client.call("aither_sendRawTransaction", "0x" + raw.hex())) for raw in raws]
    for tx_hash in hashes:
        receipt = client.wait_for_receipt(tx_hash)
        if receipt.get("status") not in ("0x1", 1, True):
            raise SystemExit(f"setup transaction {tx_hash} failed: {receipt.get('error')}")


def set_up_channel(nodes: list[Node], members: list[Member]) -> bytes:
    """Register every member, create the channel, join everyone, rotate: epoch 1."""
    admin = members[0]
    with RpcClient(nodes[0].url) as client:
        chain_id = int(str(client.call("aither_chainId")), 16)
        channel_id = channel_id_of(chain_id, CHANNEL)
        submit_all(
            client,
            [
                build_register(client, m.key, SetIdentity(m.name, derived_certificate(m.key, 1)))
                for m in members
            ],
        )
        _, rotation = rotate(channel_id, 0, member_keys(client, [admin.key.address]))
        create = CreateChannel(CHANNEL, ChannelMode.OPEN, rotation)
        submit_all(client, [build_channel(client, admin.key, create)])
        joins = [build_channel(client, m.key, JoinChannel(channel_id)) for m in members[1:]]
        submit_all(client, joins)
        view = client.call("aither_getChannel", "0x" + channel_id.hex())
        assert isinstance(view, dict)
        _, rotation = rotate(channel_id, 1, member_keys(client, next_members(view)))
        submit_all(client, [build_channel(client, admin.key, RotateKey(channel_id, rotation))])

    def everywhere() -> bool:
        for node in nodes:
            with RpcClient(node.url) as client:
                view = client.call("aither_getChannel", "0x" + channel_id.hex())
            if not isinstance(view, dict) or view["epoch"] != 1:
                return False
        return True

    wait_for(everywhere, "epoch 1 of the channel on every node")
    return channel_id


def listen(node: Node, channel_id: bytes, ready: threading.Event, stop: threading.Event) -> None:
    """Record when each message arrives decrypted on `node`, and for which local members."""
    url = node.url.replace("http://", "ws://") + "/ws"
    # No permessage-deflate: compressing every push cost the nodes more than the rest of it.
    with connect(url, max_size=2**22, additional_headers=node.headers, compression=None) as ws:
        request = {"jsonrpc": "2.0", "id": 1, "method": "aither_subscribe",
                   "params": ["swarm", "0x" + channel_id.hex()]}  # fmt: skip
        ws.send(json.dumps(request))
        answer = json.loads(ws.recv())
        if "error" in answer:
            node.errors.append(f"subscribe: {answer['error']['message']}")
            ready.set()
            return
        ready.set()
        while not stop.is_set():
            try:
                raw = ws.recv(timeout=0.2)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                if not stop.is_set():  # the nodes stopping at the end close it too
                    node.errors.append(f"websocket closed: {exc}")
                return
            now = time.perf_counter()
            message = json.loads(raw)["params"]["result"]
            node.pushed[message["messageHash"]] = (now, frozenset(message["readers"]))


def send_stream(
    node: Node,
    channel_id: bytes,
    payloads: list[str],
    batch: int,
    interval: float,
    started: float,
    progress: Progress,
    task: int,
) -> None:
    """Send `payloads` in JSON-RPC batches of swarm_send, one batch every `interval` s."""
    senders = [to_checksum_address(m.key.address) for m in node.members]
    channel = "0x" + channel_id.hex()
    with httpx.Client(timeout=60, headers=node.headers) as client:
        for index, first in enumerate(range(0, len(payloads), batch)):
            due = started + index * interval
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)  # the stream's schedule: the load is offered at a fixed rate
            chunk = payloads[first : first + batch]
            calls = [
                {"jsonrpc": "2.0", "id": first + i, "method": "swarm_send",
                 "params": [channel, text, senders[(first + i) % len(senders)]]}
                for i, text in enumerate(chunk)
            ]  # fmt: skip
            sent_at = time.perf_counter()
            answers = client.post(node.url, json=calls).json()
            for answer in answers:
                if "error" in answer:
                    node.errors.append(answer["error"]["message"])
                else:
                    node.sent[answer["result"]["messageHash"]] = sent_at
            progress.advance(task, len(chunk))


def crypto_per_message(members: int, size: int, nodes: int) -> float:
    """Seconds of CPU the crypto alone costs per message delivered to all members: one sign and
    encrypt, then one open and verify on each node (the sender's too, for its local members)."""
    keys = [SigningKey.generate() for _ in range(members)]
    channel = hash32(b"bench swarm crypto")
    epoch_key = os.urandom(32)
    view = ChannelView(
        channel,
        (
            Epoch(
                1,
                tuple(
                    MemberKeys(k.address, k.pubkey, EncryptionKey.generate().public) for k in keys
                ),
                epoch_key,
            ),
        ),
    )
    writer = ChannelWriter(keys[0], channel)
    reader = ChannelReader(view, ReaderPolicy(replay_window=1024))
    now = int(time.time())
    count = 2_000
    payload = os.urandom(size)
    started = time.process_time()
    envelopes = [writer.encrypt(payload, view.epochs[0], now) for _ in range(count)]
    sealed = time.process_time()
    for envelope in envelopes:
        reader.receive(envelope, now)
    opened = time.process_time()
    return (sealed - started) / count + (opened - sealed) / count * nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="messages offered per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the stream")
    parser.add_argument("--members", type=int, default=10, help="channel members (<= 1000)")
    parser.add_argument("--size", type=int, default=1024, help="payload bytes")
    parser.add_argument("--batch", type=int, default=10, help="swarm_send calls per RPC batch")
    parser.add_argument("--keep", action="store_true", help="keep the testnet dir (print it)")
    args = parser.parse_args()
    total = int(args.rate * args.seconds)

    tmp = Path(tempfile.mkdtemp(prefix="aither-swarm-bench-"))
    rng = random.Random()
    base, rpc_base = free_ports(NODES, rng), free_ports(NODES, rng)
    while abs(rpc_base - base) < NODES:
        rpc_base = free_ports(NODES, rng)
    _, specs = new_testnet(
        tmp,
        NODES,
        accounts=max(10, args.members),
        base_port=base,
        rpc_base_port=rpc_base,
        chain=CONSENSUS,
    )
    members = [Member(i, dev_key(i), i % NODES) for i in range(args.members)]
    nodes = [Node(spec, [m for m in members if m.node == n]) for n, spec in enumerate(specs)]
    everyone = frozenset(to_checksum_address(m.key.address) for m in members)
    start(nodes)
    stop_listening = threading.Event()
    try:
        console.print(f"starting {NODES} validators in {tmp}...")
        for node in nodes:
            wait_for(lambda n=node: serving(n), f"{node.spec.name} to serve JSON-RPC")
            token_file = node.spec.directory / "data" / ADMIN_TOKEN_FILE
            node.token = token_file.read_text().strip() if token_file.exists() else ""
        console.print(f"registering {args.members} identities and creating channel {CHANNEL}...")
        channel_id = set_up_channel(nodes, members)
        listeners = []
        for node in nodes:
            ready = threading.Event()
            thread = threading.Thread(
                target=listen, args=(node, channel_id, ready, stop_listening), daemon=True
            )
            thread.start()
            ready.wait(10)
            listeners.append(thread)
        errors = [e for node in nodes for e in node.errors]
        if errors:
            raise SystemExit(f"could not subscribe: {errors[0]}")

        def delivered_everywhere(message_hash: str) -> bool:
            readers: set[str] = set()
            for node in nodes:
                found = node.pushed.get(message_hash)
                if found is not None:
                    readers |= found[1]
            return readers == everyone

        # Warm-up: the channel's gossip mesh forms within a heartbeat or two of the rotation.
        def warm() -> bool:
            with httpx.Client(headers=nodes[0].headers) as client:
                params = ["0x" + channel_id.hex(), "warm-up", members[0].name]
                call = {"jsonrpc": "2.0", "id": 1, "method": "swarm_send", "params": params}
                answer = client.post(nodes[0].url, json=call).json()
            if "error" in answer:
                raise SystemExit(f"swarm_send failed: {answer['error']['message']}")
            message_hash = answer["result"]["messageHash"]
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                if delivered_everywhere(message_hash):
                    return True
                time.sleep(POLL)
            return False

        wait_for(warm, "a warm-up message to reach every member")
        for node in nodes:
            node.pushed.clear()

        filler = "x" * args.size
        payloads: list[list[str]] = [[] for _ in nodes]
        for n in range(total):
            text = f"{n}:"
            payloads[n % NODES].append(text + filler[len(text) :])
        interval = args.batch * NODES / args.rate  # per node, so the sum is --rate
        cpu_before = node_cpu(nodes)
        client_before = time.process_time()
        with counting_progress(console) as progress:
            sent_task = progress.add_task("sent", total=total)
            done_task = progress.add_task("delivered to all", total=total)
            started = time.perf_counter() + 0.1
            senders = [
                threading.Thread(
                    target=send_stream,
                    args=(
                        node,
                        channel_id,
                        stream,
                        args.batch,
                        interval,
                        started,
                        progress,
                        sent_task,
                    ),
                )
                for node, stream in zip(nodes, payloads, strict=True)
            ]
            for thread in senders:
                thread.start()
            deadline = None
            last_count, last_change = 0, time.monotonic()
            while True:
                sent = {h for node in nodes for h in list(node.sent)}  # senders add to them
                complete = sum(1 for h in sent if delivered_everywhere(h))
                progress.update(done_task, completed=complete)
                if complete != last_count:
                    last_count, last_change = complete, time.monotonic()
                if all(not t.is_alive() for t in senders):
                    deadline = deadline or time.monotonic() + SETTLE_SECONDS
                    if complete == len(sent) or time.monotonic() - last_change > 3:
                        break
                    if time.monotonic() > deadline:
                        break
                time.sleep(0.1)
        main_after, others_after = node_cpu(nodes)
        main_used, others_used = main_after - cpu_before[0], others_after - cpu_before[1]
        cpu_used = main_used + others_used
        client_used = time.process_time() - client_before
    finally:
        stop_listening.set()
        stop(nodes)

    sent_at = {h: t for node in nodes for h, t in node.sent.items()}
    origin = {h: n for n, node in enumerate(nodes) for h in node.sent}
    errors = [e for node in nodes for e in node.errors]
    per_node: list[float] = []
    to_all: list[float] = []
    last_delivery = 0.0
    for message_hash, t0 in sent_at.items():
        arrivals = []
        readers: set[str] = set()
        for n, node in enumerate(nodes):
            found = node.pushed.get(message_hash)
            if found is None:
                continue
            readers |= found[1]
            if n != origin[message_hash]:
                per_node.append(found[0] - t0)
            arrivals.append(found[0])
        if readers == everyone:
            to_all.append(max(arrivals) - t0)
            last_delivery = max(last_delivery, max(arrivals))
    if not to_all:
        raise SystemExit(f"no message reached every member; {len(errors)} errors: {errors[:1]}")
    first_send = min(sent_at.values())
    rate = len(to_all) / (last_delivery - first_send)
    per_node.sort()
    to_all.sort()
    crypto = crypto_per_message(args.members, args.size, NODES)

    table = Table(
        title=f"Aither swarm: {NODES} nodes, one channel of {args.members} members, "
        f"{args.size:,} B messages offered at {args.rate:,}/s for {args.seconds:.0f} s "
        f"(swarm_send batches of {args.batch})"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("messages sent", f"{len(sent_at):,} of {total:,} ({len(errors)} refused)")
    table.add_row("delivered to all members", f"{len(to_all):,}")
    table.add_row("delivered to all members, msgs/s", f"{rate:,.0f}")
    table.add_row(
        "latency to a member's node, median", f"{statistics.median(per_node) * 1e3:.1f} ms"
    )
    table.add_row("latency to a member's node, p95", f"{quantile(per_node, 0.95) * 1e3:.1f} ms")
    table.add_row("latency to the last member, median", f"{statistics.median(to_all) * 1e3:.1f} ms")
    table.add_row("latency to the last member, p95", f"{quantile(to_all, 0.95) * 1e3:.1f} ms")
    table.add_row("node CPU per message (4 nodes)", f"{cpu_used / len(sent_at) * 1e6:,.0f} us")
    table.add_row("  peer: crypto alone per message", f"{crypto * 1e6:,.0f} us")
    cores = os.cpu_count() or 1
    elapsed = last_delivery - first_send
    table.add_row(f"node CPU use of the {cores} cores", f"{cpu_used / (elapsed * cores):.0%}")
    table.add_row("  in main threads (asyncio)", f"{main_used / elapsed:.2f} cores")
    table.add_row("  in other threads (libp2p)", f"{others_used / elapsed:.2f} cores")
    table.add_row(
        f"this client's CPU use of the {cores} cores", f"{client_used / (elapsed * cores):.0%}"
    )
    table.add_row("machine load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}")
    console.print(table)
    if errors:
        console.print(f"first refusal: {errors[0]}")
    if args.keep:
        console.print(f"testnet kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


if __name__ == "__main__":
    main()
