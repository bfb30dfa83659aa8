"""Stopping and starting a dev node on the same data dir: Ctrl-C, restart, --reset, --accounts."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from core.crypto import hash32, to_checksum_address
from genesis.dev import DEV_BALANCE, dev_key

if TYPE_CHECKING:
    from conftest import DevNode, NodeLauncher

RECIPIENT = hash32(b"restart test recipient")[:20]


def _snapshot(node: DevNode) -> dict[str, object]:
    """Everything a restart must keep: blocks, balances, nonces and histories."""
    height = node.height()
    watched = [dev_key(i).address for i in range(10)] + [RECIPIENT]
    return {
        "height": height,
        "blocks": [node.rpc("aither_getBlockByNumber", hex(h), True) for h in range(height + 1)],
        "accounts": [node.rpc("aither_getAccount", to_checksum_address(a)) for a in watched],
        "history": [node.rpc("aither_getHistory", to_checksum_address(a)) for a in watched],
        "tokens": node.rpc("aither_getTokens"),
    }


def _some_transactions(node: DevNode) -> list[str]:
    receipts = [
        node.transfer(dev_key(0), RECIPIENT, 10**18),
        node.create_token(dev_key(1), "GOLD", 10**9, decimals=6),
        node.transfer(dev_key(1), RECIPIENT, 250, "GOLD"),
        node.transfer(dev_key(0), dev_key(2).address, 5 * 10**17),
    ]
    assert all(r["status"] == "0x1" for r in receipts)
    return [str(r["transactionHash"]) for r in receipts]


def test_ctrl_c_stops_cleanly_with_exit_0(dev_node: DevNode) -> None:
    dev_node.transfer(dev_key(0), RECIPIENT, 1)
    assert dev_node.interrupt() == 0, dev_node.log_tail()
    assert "stopped at block 1" in dev_node.output()
    assert "Traceback" not in dev_node.output()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{dev_node.url}/health")


def test_restart_continues_the_same_chain(dev_node: DevNode) -> None:
    hashes = _some_transactions(dev_node)
    before = _snapshot(dev_node)

    dev_node.restart()

    assert dev_node.health()["height"] == before["height"]
    assert _snapshot(dev_node) == before
    for tx_hash in hashes:
        assert dev_node.rpc("aither_getTransactionReceipt", tx_hash)["status"] == "0x1"
    # The chain goes on from where it stopped, nonces included.
    receipt = dev_node.transfer(dev_key(0), RECIPIENT, 1)
    assert int(str(receipt["blockNumber"]), 16) == before["height"] + 1
    head = dev_node.rpc("aither_getBlockByNumber", "latest")
    assert head["parentHash"] == before["blocks"][-1]["hash"]
    assert dev_node.rpc("aither_getTransaction", receipt["transactionHash"])["nonce"] == "0x2"


def test_reset_starts_over_at_height_0(dev_node: DevNode) -> None:
    hashes = _some_transactions(dev_node)
    genesis = dev_node.rpc("aither_getBlockByNumber", "0x0")

    dev_node.restart("--reset")

    assert dev_node.health()["height"] == 0
    assert dev_node.rpc("aither_getBlockByNumber", "latest") == genesis
    assert [dev_node.balance(dev_key(i).address) for i in range(10)] == [DEV_BALANCE] * 10
    assert dev_node.balance(RECIPIENT) == 0
    assert dev_node.rpc("aither_getTokens") == []
    for tx_hash in hashes:
        assert dev_node.rpc_error("aither_getTransaction", tx_hash)["code"] == -32001


def test_a_data_dir_of_another_genesis_is_refused(
    start_node: NodeLauncher, run_aither: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    node = start_node()
    node.transfer(dev_key(0), RECIPIENT, 1)
    node.kill()
    command = ["node", "start", "--dev", "--data-dir", str(node.data_dir)]
    command += ["--rpc-port", str(node.port), "--accounts", "3"]

    refused = run_aither(*command)

    assert refused.returncode != 0
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error: ") and "holds a different chain" in line
    # The refusal left the chain alone, and --reset (as the message says) makes the new one.
    assert node.start().health()["height"] == 1
    node.kill()
    node.start("--accounts", "3", "--reset")
    assert node.health()["height"] == 0
    assert node.balance(dev_key(2).address) == DEV_BALANCE
    assert node.balance(dev_key(3).address) == 0
