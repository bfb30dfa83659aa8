"""`GET /metrics` on a live dev node, scraped while a burst of transfers runs and after it, parsed
with prometheus-client's own parser and checked against what the chain says over JSON-RPC; and
`--log-format json`."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families

from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode, NodeLauncher, WaitUntil

Run = Callable[..., subprocess.CompletedProcess[str]]

BURST = 60  # transfers, sent in JSON-RPC batches of 10 (the shape of bench/transfers.py)


def scrape(node: DevNode) -> dict[str, float]:
    """Every sample of the node's /metrics, by name with its labels in braces."""
    reply = httpx.get(node.url + "/metrics", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def test_metrics_follow_the_chain_during_a_burst(dev_node: DevNode, wait_until: WaitUntil) -> None:
    node = dev_node
    before = scrape(node)
    assert before["aither_consensus_height"] == int(str(node.rpc("aither_blockNumber")), 16)
    assert before["aither_consensus_validators"] == 1 and before["aither_p2p_peers"] == 0

    sender, receiver = dev_key(2), dev_key(3).address
    start = node.nonce(sender.address)
    raws = [node.signed_transfer(sender, receiver, 1, nonce=start + i) for i in range(BURST)]
    scrapes: list[dict[str, float]] = []
    done = threading.Event()

    def scrape_meanwhile() -> None:
        while not done.is_set():
            scrapes.append(scrape(node))

    scraper = threading.Thread(target=scrape_meanwhile)
    scraper.start()
    try:
        hashes = []
        for first in range(0, BURST, 10):
            batch = [
                {"jsonrpc": "2.0", "id": i, "method": "aither_sendRawTransaction",
                 "params": ["0x" + raw.hex()]}
                for i, raw in enumerate(raws[first : first + 10], first)
            ]  # fmt: skip
            answers = node.post(batch).json()
            hashes += [a["result"] for a in answers]
        for tx_hash in hashes:
            node.wait_for_receipt(tx_hash)
    finally:
        done.set()
        scraper.join()
    assert scrapes, "no scrape finished during the burst"

    height = int(str(node.rpc("aither_blockNumber")), 16)
    after = wait_until(
        lambda: (s := scrape(node))["aither_consensus_height"] == height and s, 10, "the height"
    )
    assert isinstance(after, dict)
    committed = sum(
        len(node.rpc("aither_getBlockByNumber", hex(h), False)["transactions"])  # type: ignore[index]
        for h in range(int(before["aither_consensus_height"]) + 1, height + 1)
    )
    assert committed >= BURST
    assert after["aither_consensus_total_txs"] - before["aither_consensus_total_txs"] == committed
    assert after["aither_admission_seconds_count"] >= before["aither_admission_seconds_count"] + 6
    assert after["aither_commit_seconds_count"] - before["aither_commit_seconds_count"] == (
        height - before["aither_consensus_height"]
    )
    sent = "aither_rpc_requests_total{code=0,method=aither_sendRawTransaction}"
    assert after[sent] - before.get(sent, 0) == BURST
    assert after["aither_consensus_missing_validators"] == 0  # the one validator signs each block
    assert after["aither_mempool_size"] == 0
    # Heights only go up, scrape after scrape.
    heights = [s["aither_consensus_height"] for s in [before, *scrapes, after]]
    assert heights == sorted(heights)
    last = node.rpc("aither_getBlockByNumber", hex(height), False)
    assert isinstance(last, dict)
    assert after["aither_avm_block_gas"] == int(str(last["gasUsed"]), 16)


def test_refused_transactions_and_errors_are_counted(dev_node: DevNode) -> None:
    node = dev_node
    before = scrape(node)
    bad = node.signed_transfer(dev_key(4), dev_key(5).address, 1, chain_id=1)  # another chain
    error = node.rpc_error("aither_sendRawTransaction", "0x" + bad.hex())
    node.rpc_error("aither_getBalance", "not an address")
    after = scrape(node)
    assert after["aither_mempool_failed_txs"] - before["aither_mempool_failed_txs"] == 1
    refused = f"aither_rpc_requests_total{{code={error['code']},method=aither_sendRawTransaction}}"
    assert after[refused] - before.get(refused, 0) == 1
    invalid = "aither_rpc_requests_total{code=-32602,method=aither_getBalance}"
    assert after[invalid] - before.get(invalid, 0) == 1


def test_json_logs_are_one_object_a_line(start_node: NodeLauncher, wait_until: WaitUntil) -> None:
    node = start_node("--log-format", "json")
    node.transfer(dev_key(6), dev_key(7).address, 1)
    wait_until(lambda: "block 1 committed" in node.output(), 10, "the commit's log line")
    text_lines = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) ")
    events = []
    for line in node.output().splitlines():
        assert not text_lines.match(line), line  # every log line is JSON
        if line.startswith("{"):
            events.append(json.loads(line))
    assert events and all(set(e) >= {"time", "level", "logger", "message"} for e in events)
    messages = [e["message"] for e in events]
    assert any(m.startswith("serving JSON-RPC on ") for m in messages)
    assert any(m.startswith("block 1 committed: 1 txs") for m in messages)


def test_an_unknown_log_format_is_one_line(run_aither: Run) -> None:
    result = run_aither("node", "start", "--dev", "--log-format", "xml")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: unknown log format 'xml' (text, json)"
