"""Honest users under attack: a transfer's latency at rest and while a stranger does their worst.

Starts a real dev node, measures how long an honest transfer takes from submission to its receipt
(median and p95 of sequential transfers), first at rest, then while one attack at a time runs
against the same node from other threads:

- RPC nesting: 140 KB bodies of 70,000 nested JSON arrays, over HTTP and in WebSocket frames;
- mempool flood: transfers from fresh unfunded keys, gas limit 0, nonces far ahead;
- looping calls: an agent that loops forever, called at the largest gas a transaction may ask;
- traced dry runs: `aither_call` with `trace: true` at the highest gas, in batches;
- idle subscribers: 300 WebSocket connections with 32 subscriptions each that never read;
- gossip flood (with `--testnet`): a libp2p peer publishing bad-signature transaction batches
  and junk compact blocks to a 4-validator testnet, latency measured on an honest validator.

It prints, per phase, the latency, how many honest transfers made it, what the attacker sent and
how the node answered, and the node's RSS before and after. The peer compared against is the node
at rest in the same run.

    .venv/bin/python bench/hostile.py [--samples 20] [--seconds 12] [--testnet]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets
from rich.console import Console
from rich.table import Table
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import start_node  # bench/common.py, beside this file

from avm.assembler import assemble
from core.crypto import SigningKey, to_checksum_address
from genesis.dev import DEV_CHAIN_ID, dev_key
from genesis.testnet import TESTNET_CHAIN_ID as TESTNET
from genesis.testnet import new_testnet
from ledger.agents import agent_address
from ledger.chain_params import ChainParams
from ledger.tx import Call, Deploy, Transaction, Transfer, TxKind
from node.process import NodeProcess, free_ports, stop_all

GAS_PRICE = 10**9
ATTACKER = Path(__file__).resolve().parents[1] / "tests" / "security" / "attacker_peer.py"
TRANSFER_GAS = 30_000
NESTING = 70_000
LOOP = """\
:spin
  SET n = 0
:again
  ADD n, 1 -> n
  JUMP again
"""
console = Console()


# The node under attack


@dataclass
class Target:
    url: str
    pid: int
    process: NodeProcess | None = None

    def alive(self) -> bool:
        return self.process is None or self.process.running

    def rss_mib(self) -> float | None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except FileNotFoundError:
            return None
        rss = [int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmRSS:"]
        return rss[0] / 1024 if rss else None  # a zombie (the node died) has none


def start_dev_node(root: Path) -> Target:
    port = free_ports(1)
    command = ("--dev", "--data-dir", str(root / "chain"), "--rpc-port", str(port))
    process = NodeProcess(command, f"http://127.0.0.1:{port}", root / "node.log", "dev node")
    process.start()
    return Target(process.url, process.pid, process)


def rpc(client: httpx.Client, url: str, method: str, *params: object) -> object:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    answer = client.post(url, json=body).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def pending_nonce(client: httpx.Client, url: str, key: SigningKey) -> int:
    who = to_checksum_address(key.address)
    return int(str(rpc(client, url, "eth_getTransactionCount", who, "pending")), 16)


def signed(
    key: SigningKey, nonce: int, payload: object, kind: TxKind, gas: int, chain: int = DEV_CHAIN_ID
) -> str:
    tx = Transaction(chain, kind, key.pubkey, nonce, gas, GAS_PRICE, payload)  # type: ignore[arg-type]
    return "0x" + tx.signed(key).encode().hex()


# Honest transfers, measured


@dataclass
class Latency:
    seconds: list[float] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)

    def row(self) -> tuple[str, str, str]:
        if not self.seconds:
            return "-", "-", f"0 ok, {sum(self.failed.values())} failed"
        ordered = sorted(self.seconds)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        failed = f", {sum(self.failed.values())} failed" if self.failed else ""
        return f"{statistics.median(ordered):.3f} s", f"{p95:.3f} s", f"{len(ordered)} ok{failed}"


def honest_transfers(
    url: str, samples: int, deadline: float, per_tx_timeout: float, chain: int = DEV_CHAIN_ID
) -> Latency:
    """Sequential transfers from dev account 0, each waited for; stops at `deadline`."""
    key, sink = dev_key(0), SigningKey(b"\x07" * 32).address
    result = Latency()
    with httpx.Client(timeout=per_tx_timeout) as client:
        for _ in range(samples):
            if time.monotonic() > deadline:
                break
            try:
                nonce = pending_nonce(client, url, key)
                started = time.perf_counter()
                tx_hash = rpc(
                    client,
                    url,
                    "aither_sendRawTransaction",
                    signed(key, nonce, Transfer(sink, 1, ""), TxKind.TRANSFER, TRANSFER_GAS, chain),
                )
                while rpc(client, url, "aither_getTransactionReceipt", tx_hash) is None:
                    if time.perf_counter() - started > per_tx_timeout:
                        raise TimeoutError(f"no receipt in {per_tx_timeout:.0f} s")
                    time.sleep(0.01)
                result.seconds.append(time.perf_counter() - started)
            except (httpx.HTTPError, RuntimeError, TimeoutError, ValueError) as exc:
                result.failed[type(exc).__name__] += 1
    return result


# Attacks: each runs in threads until `stop` is set and counts how the node answered


Attack = Callable[[str, threading.Event, Counter[str]], None]


def classify(answer: object) -> str:
    """'ok', or the JSON-RPC error code (the first one of a batch)."""
    items = answer if isinstance(answer, list) else [answer]
    for item in items:
        if isinstance(item, dict) and "error" in item:
            return str(item["error"].get("code"))
    return "ok"


def rpc_nesting(url: str, stop: threading.Event, seen: Counter[str]) -> None:
    body = b"[" * NESTING + b"]" * NESTING
    call = (
        '{"jsonrpc":"2.0","id":1,"method":"aither_call","params":[{"to":"0x'
        + "00" * 20
        + '","entry":"x","args":'
        + "[" * 20_000
        + "]" * 20_000
        + "}]}"
    )
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                seen[classify(client.post(url, content=body).json())] += 1
                seen[classify(client.post(url, content=call.encode()).json())] += 1
            except (httpx.HTTPError, ValueError) as exc:
                seen[type(exc).__name__] += 1
                time.sleep(0.1)
    with contextlib.suppress(Exception):
        _websocket_nesting(url, body, seen)


def _websocket_nesting(url: str, body: bytes, seen: Counter[str]) -> None:
    async def send() -> None:
        async with websockets.connect(url.replace("http", "ws") + "/ws", max_size=None) as ws:
            for _ in range(20):
                await ws.send(body.decode())
                seen["ws " + classify(json.loads(await ws.recv()))] += 1

    asyncio.run(send())


def idle_subscribers(url: str, stop: threading.Event, seen: Counter[str]) -> None:
    """300 WebSocket connections with 32 `newHeads` subscriptions each, never read."""
    with contextlib.ExitStack() as sockets:
        for _ in range(300):
            try:
                ws = sockets.enter_context(connect(url.replace("http", "ws") + "/ws", max_queue=1))
            except InvalidStatus:
                seen["refused"] += 1
                continue
            except (OSError, WebSocketException) as exc:
                seen[type(exc).__name__] += 1
                continue
            seen["connected"] += 1
            for n in range(32):
                ws.send(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": n,
                            "method": "aither_subscribe",
                            "params": ["newHeads"],
                        }
                    )
                )
        stop.wait()


def mempool_flood(url: str, stop: threading.Event, seen: Counter[str]) -> None:
    batch = 2_000
    sink = SigningKey(b"\x08" * 32).address
    serial = 0
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            calls = []
            for _ in range(batch):
                serial += 1
                key = SigningKey(serial.to_bytes(32, "big"))
                raw = signed(key, 5 + serial % 50, Transfer(sink, 0, ""), TxKind.TRANSFER, 0)
                calls.append(
                    {
                        "jsonrpc": "2.0",
                        "id": serial,
                        "method": "aither_sendRawTransaction",
                        "params": [raw],
                    }
                )
            try:
                answers = client.post(url, json=calls).json()
            except (httpx.HTTPError, ValueError) as exc:
                seen[type(exc).__name__] += 1
                continue
            for answer in answers if isinstance(answers, list) else [answers]:
                seen["admitted" if "result" in answer else str(answer["error"]["code"])] += 1


def looping_calls(agent: bytes, gas: int) -> Attack:
    def attack(url: str, stop: threading.Event, seen: Counter[str]) -> None:
        keys = [dev_key(i) for i in range(1, 5)]
        with httpx.Client(timeout=30) as client:
            nonces = {k.address: pending_nonce(client, url, k) for k in keys}
            while not stop.is_set():
                for key in keys:
                    raw = signed(key, nonces[key.address], Call(agent, "spin"), TxKind.CALL, gas)
                    answer = client.post(
                        url,
                        json={
                            "jsonrpc": "2.0",
                            "id": 1,
                            "method": "aither_sendRawTransaction",
                            "params": [raw],
                        },
                    ).json()
                    outcome = classify(answer)
                    seen["admitted" if outcome == "ok" else outcome] += 1
                    if outcome == "ok":
                        nonces[key.address] += 1
                stop.wait(0.2)

    return attack


def traced_dry_runs(agent: bytes, gas: int) -> Attack:
    def attack(url: str, stop: threading.Event, seen: Counter[str]) -> None:
        spec = {"to": to_checksum_address(agent), "entry": "spin", "gas": hex(gas), "trace": True}
        batch = [
            {"jsonrpc": "2.0", "id": i, "method": "aither_call", "params": [spec]}
            for i in range(20)
        ]
        with httpx.Client(timeout=120) as client:
            while not stop.is_set():
                try:
                    response = client.post(url, json=batch)
                    seen[classify(response.json())] += 1
                    seen["MiB answered"] += len(response.content) // (1024 * 1024)
                except (httpx.HTTPError, ValueError) as exc:
                    seen[type(exc).__name__] += 1

    return attack


def deploy_loop(url: str) -> bytes:
    key = dev_key(9)
    code = assemble(LOOP).code.to_bytes()
    with httpx.Client(timeout=30) as client:
        nonce = pending_nonce(client, url, key)
        tx_hash = rpc(
            client,
            url,
            "aither_sendRawTransaction",
            signed(key, nonce, Deploy(code), TxKind.DEPLOY, 5_000_000),
        )
        deadline = time.monotonic() + 30
        while rpc(client, url, "aither_getTransactionReceipt", tx_hash) is None:
            if time.monotonic() > deadline:
                raise SystemExit("the looping agent was not deployed")
            time.sleep(0.05)
    return agent_address(key.address, nonce)


def max_call_gas(url: str) -> int:
    """The most gas a transaction may ask for: the block gas limit the head block shows."""
    with httpx.Client(timeout=10) as client:
        head = rpc(client, url, "eth_getBlockByNumber", "latest", False)
    limit = int(str(head["gasLimit"]), 16) if isinstance(head, dict) else 0  # type: ignore[index]
    return limit or 1_000_000_000


def gossip_flood(addresses: list[str], rpc_url: str) -> Attack:
    """A libp2p peer (tests/security/attacker_peer.py) publishing 40 batches of 256 forged
    transactions a second and junk compact blocks to every validator."""

    def attack(url: str, stop: threading.Event, seen: Counter[str]) -> None:
        command = [sys.executable, str(ATTACKER), "--chain-id", str(TESTNET), "--rpc", rpc_url]
        for address in addresses:
            command += ["--connect", address]
        with tempfile.TemporaryFile() as out:
            attacker = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            try:
                stop.wait()
            finally:
                attacker.kill()
                attacker.wait()
            out.seek(0)
            sent = [line for line in out.read().decode().splitlines() if line[:5] == "SENT "]
        if sent:
            batches, blocks = sent[-1].split()[1:3]
            seen["forged tx batches sent"] = int(batches)
            seen["junk blocks sent"] = int(blocks)

    return attack


@contextlib.contextmanager
def testnet_target() -> Iterator[tuple[Target, list[str], str]]:
    """Four validators on loopback; the target is validator 1 (the attacker asks validator 0
    for the height)."""
    with tempfile.TemporaryDirectory(prefix="aither-hostile-net-") as root:
        _, nodes = new_testnet(
            Path(root),
            4,
            base_port=free_ports(4),
            rpc_base_port=free_ports(4),
            chain=ChainParams(timeout_commit_ms=500),
        )
        processes = [start_node(n) for n in nodes]
        try:
            urls = [f"http://127.0.0.1:{n.rpc_port}" for n in nodes]
            target = Target(urls[1], processes[1].pid, processes[1])
            processes[1].wait_serving(60.0)
            with httpx.Client(timeout=5) as client:
                deadline = time.monotonic() + 60
                while int(str(rpc(client, urls[1], "aither_blockNumber")), 16) < 2:
                    if time.monotonic() > deadline:
                        raise SystemExit("the testnet made no blocks in 60 s")
                    time.sleep(0.2)
            yield target, [n.multiaddr for n in nodes], urls[0]
            banned = sum(
                "banned" in line
                for n in nodes
                for line in (n.directory / "node.log").read_text().splitlines()
            )
            console.print(f"testnet: the attacker was banned {banned} times (all validators)")
        finally:
            stop_all(processes)


# Phases


@dataclass
class Phase:
    name: str
    latency: Latency
    rss_before: float | None
    rss_after: float | None
    attacker: Counter[str]
    alive: bool


def run_phase(
    name: str,
    target: Target,
    attack: Attack | None,
    samples: int,
    seconds: float,
    chain: int = DEV_CHAIN_ID,
) -> Phase:
    console.print(f"[bold]{name}[/]")
    before = target.rss_mib()
    stop = threading.Event()
    seen: Counter[str] = Counter()
    threads = []
    if attack is not None:
        threads = [threading.Thread(target=attack, args=(target.url, stop, seen), daemon=True)]
        for thread in threads:
            thread.start()
        time.sleep(min(2.0, seconds / 4))  # let the attack take hold before measuring
    deadline = time.monotonic() + seconds
    latency = honest_transfers(target.url, samples, deadline, max(10.0, seconds), chain)
    stop.set()
    for thread in threads:
        thread.join(60)
    return Phase(name, latency, before, target.rss_mib(), seen, target.alive())


def report(phases: list[Phase]) -> None:
    table = Table(title="honest transfers under attack (submission to receipt)")
    for column in ("phase", "median", "p95", "honest", "RSS before → after", "node"):
        table.add_column(column)
    for phase in phases:
        median, p95, count = phase.latency.row()
        rss = (
            "-"
            if phase.rss_before is None
            else f"{phase.rss_before:.0f} → "
            + ("gone" if phase.rss_after is None else f"{phase.rss_after:.0f} MiB")
        )
        table.add_row(phase.name, median, p95, count, rss, "up" if phase.alive else "DEAD")
    console.print(table)
    answers = Table(title="what the attacker got back (JSON-RPC codes, or 'admitted'/'ok')")
    answers.add_column("phase")
    answers.add_column("answers")
    for phase in phases:
        if phase.attacker:
            text = ", ".join(f"{k}: {v:,}" for k, v in phase.attacker.most_common(6))
            answers.add_row(phase.name, text)
    console.print(answers)


@contextlib.contextmanager
def dev_target() -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="aither-hostile-") as root:
        target = start_dev_node(Path(root))
        try:
            yield target
        finally:
            if target.process is not None:
                target.process.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="honest transfers per phase")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each phase")
    parser.add_argument("--testnet", action="store_true", help="also the gossip flood")
    parser.add_argument("--gas", type=int, default=0, help="gas of the attacks' calls (0: max)")
    args = parser.parse_args()
    gas = args.gas
    attacks: list[tuple[str, Callable[[bytes], Attack] | None]] = [
        ("at rest", None),
        ("RPC nesting, 70,000 deep", lambda _: rpc_nesting),
        ("WebSocket: 300 x 32 subscriptions never read", lambda _: idle_subscribers),
        ("mempool flood, unfunded keys", lambda _: mempool_flood),
        ("looping calls at max gas", lambda agent: looping_calls(agent, gas)),
        ("traced dry runs at max gas", lambda agent: traced_dry_runs(agent, gas)),
    ]
    phases: list[Phase] = []
    for name, attack in attacks:
        # A fresh node per attack: what one attack leaves behind does not weigh on the next.
        with dev_target() as target:
            agent = deploy_loop(target.url)
            gas = gas or max_call_gas(target.url)
            chosen = None if attack is None else attack(agent)
            phases.append(run_phase(name, target, chosen, args.samples, args.seconds))
    console.print(f"max gas: {gas:,} (the block gas limit the node reports)")
    if args.testnet:
        with testnet_target() as (target, addresses, rpc_url):
            phases.append(
                run_phase("testnet at rest", target, None, args.samples, args.seconds, TESTNET)
            )
            flood = gossip_flood(addresses, rpc_url)
            name = "testnet, gossip flood"
            phases.append(run_phase(name, target, flood, args.samples, args.seconds, TESTNET))
    report(phases)


if __name__ == "__main__":
    main()
