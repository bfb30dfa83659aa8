"""The `eth_*` reads' refusals that need no chain (node/rpc/eth_methods.py): a node whose ledger
knows only its height, so that a query which reached the ledger would fail loudly."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from avm.values import to_wire
from core.encoding import encode
from core.rpc import INVALID_PARAMS, LIMIT_EXCEEDED
from node.rpc import eth_methods
from node.rpc.errors import RpcError
from node.rpc.limits import MAX_LOG_BLOCK_RANGE

HEAD = 3 * MAX_LOG_BLOCK_RANGE
AGENT = "0x" + "ab" * 20


def refusal(method: Any, *args: object) -> RpcError:
    node = SimpleNamespace(ledger=SimpleNamespace(height=HEAD))
    with pytest.raises(RpcError) as refused:
        answer = method(node, list(args))
        if asyncio.iscoroutine(answer):
            asyncio.run(answer)
    return refused.value


def test_a_log_query_over_more_blocks_than_the_cap_is_refused_saying_how_to_narrow() -> None:
    error = refusal(eth_methods.get_logs, {"fromBlock": "earliest"})
    assert error.code == LIMIT_EXCEEDED
    assert f"ask for at most {MAX_LOG_BLOCK_RANGE:,} blocks" in error.message
    error = refusal(eth_methods.get_logs, {"fromBlock": hex(HEAD - MAX_LOG_BLOCK_RANGE)})
    assert error.code == LIMIT_EXCEEDED and f"{MAX_LOG_BLOCK_RANGE + 1:,} blocks" in error.message


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"fromBlock": "0x5", "toBlock": "0x4"}, "fromBlock 5 is after toBlock 4"),
        ({"blockHash": "0x" + "00" * 32, "fromBlock": "0x1"}, "not both"),
        ({"fromBlock": "soon"}, "is not a number"),
        ({"address": 5}, "address"),
    ],
)
def test_contradictory_or_malformed_log_queries_are_bad_params(
    spec: dict[str, object], says: str
) -> None:
    error = refusal(eth_methods.get_logs, spec)
    assert error.code == INVALID_PARAMS and says in error.message


def test_a_filter_follows_new_blocks_and_takes_no_block_hash() -> None:
    error = refusal(eth_methods.new_filter, {"blockHash": "0x" + "00" * 32})
    assert error.code == INVALID_PARAMS and "eth_getLogs" in error.message


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("0xzz", "not valid hex"),
        ("0x" + encode(["bump"]).hex(), "[entry, args]"),
        ("0x" + encode([1, to_wire(())]).hex(), "[entry, args]"),
        ("0x" + encode(["bump", 5]).hex(), "AVM list"),
        ("0x" + encode(["no such label!", to_wire(())]).hex(), "entry"),
    ],
)
def test_call_data_that_is_not_an_encoded_entry_and_args_is_refused(data: str, says: str) -> None:
    error = refusal(eth_methods.estimate_gas, {"to": AGENT, "data": data})
    assert error.code == INVALID_PARAMS and says in error.message
