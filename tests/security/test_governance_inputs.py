"""Proposal specs described over RPC (`aither_estimateGas`) by a stranger: lists far longer than
any proposal may hold are refused before an entry is read, and the node goes on committing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.crypto import hash32
from genesis.dev import dev_key
from ledger.governance.payloads import MAX_COUNCIL_CHANGE, MAX_VALIDATOR_CHANGES
from ledger.policy import MAX_POLICY_CALLERS

if TYPE_CHECKING:
    from conftest import DevNode

INVALID_PARAMS = -32602
HUGE = 100_000  # entries: about 1.3 MB of JSON, under the body limit


def test_oversized_proposal_lists_are_refused_before_they_are_read(dev_node: DevNode) -> None:
    node = dev_node
    agent = "0x" + "11" * 20
    cases = [
        ({"kind": "validators", "validators": [{"pubkey": "0x00", "power": 1}] * HUGE},
         f"validators lists at most {MAX_VALIDATOR_CHANGES}"),
        ({"kind": "policy", "agent": agent, "policy": {"callers": [agent] * HUGE}},
         f"policy.callers lists at most {MAX_POLICY_CALLERS}"),
        ({"kind": "council", "council": {"remove": [agent] * HUGE}},
         f"council.remove lists at most {MAX_COUNCIL_CHANGE}"),
    ]  # fmt: skip
    for spec, says in cases:
        started = time.monotonic()
        error = node.rpc_error("aither_estimateGas", {"kind": "propose", "spec": spec})
        assert error["code"] == INVALID_PARAMS and says in str(error["message"]), error
        assert time.monotonic() - started < 2.0, spec["kind"]
    assert node.transfer(dev_key(0), hash32(b"after the specs")[:20], 1)["status"] == "0x1"
