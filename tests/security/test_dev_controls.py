"""A dev chain's controls from a stranger: blocks, time steps and state dumps beyond their caps,
and prefixes too short or too common, are refused before they cost the node work; the node then
still commits an honest transfer. (A network's node refuses every dev control: see
tests/integration/test_testnet.py.)"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.crypto import hash32
from genesis.dev import dev_key
from node.dev import MAX_STATE_KEY
from node.rpc.dev_methods import MAX_MINED, MAX_TIME_STEP

if TYPE_CHECKING:
    from conftest import DevNode

INVALID_PARAMS = -32602


def test_oversized_dev_controls_are_refused_cheaply(dev_node: DevNode) -> None:
    node = dev_node
    long_key = "0x" + "ab" * (MAX_STATE_KEY + 1)
    cases = [
        ("aither_mine", [MAX_MINED + 1], "blocks"),
        ("aither_mine", [1, MAX_TIME_STEP + 1], "interval"),
        ("evm_increaseTime", [MAX_TIME_STEP + 1], "seconds"),
        ("evm_setNextBlockTimestamp", [0], "before the head"),
        ("aither_loadState", [{"chainId": 7331, "entries": [[long_key, "0x00"]]}], "state key"),
        ("aither_loadState", [{"chainId": 7331, "entries": [["0x61", "0x00"]]}], "account key"),
        ("aither_loadState", [{"chainId": 1, "entries": []}], "chain 1"),
        ("aither_resolveId", ["transaction", "0x12"], "unique prefix"),
        ("aither_resolveId", ["nonsense", "0x1234"], "kind must be"),
    ]
    for method, params, says in cases:
        started = time.monotonic()
        error = node.rpc_error(method, *params)
        assert error["code"] == INVALID_PARAMS, (method, error)
        assert says in str(error["message"]), (method, error)
        assert time.monotonic() - started < 2.0, method
    assert node.height() == 0  # nothing was mined or loaded
    receipt = node.transfer(dev_key(0), hash32(b"after the attempts")[:20], 1)
    assert receipt["status"] == "0x1"
