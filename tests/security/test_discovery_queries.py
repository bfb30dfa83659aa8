"""Discovery and schedule reads from a stranger: oversized filters, pages and cursors are refused
before any state is read, and the node still commits an honest transfer afterwards. (Each scan
reads at most SCAN_LIMIT records: node/rpc/discovery.py.)"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.crypto import hash32
from genesis.dev import dev_key
from ledger.identity import MAX_METADATA
from ledger.names import MAX_NAME
from node.rpc.discovery import MAX_PAGE

if TYPE_CHECKING:
    from conftest import DevNode

INVALID_PARAMS = -32602


def test_oversized_discovery_queries_are_refused_at_once(dev_node: DevNode) -> None:
    node = dev_node
    many = {f"k{i}": "v" for i in range(MAX_METADATA + 1)}
    cases = [
        ("aither_findIdentities", [{"metadata": many}], "metadata is an object of at most"),
        ("aither_findIdentities", [{"namePrefix": "x" * (MAX_NAME + 1)}], "namePrefix"),
        ("aither_findIdentities", [{}, None, MAX_PAGE + 1], "limit must be"),
        ("aither_findIdentities", [{}, "0x" + "ab" * 10_000], "cursor"),
        ("aither_listChannels", ["0x" + "ab" * 10_000], "cursor"),
        ("aither_getRole", ["x" * 10_000], "role must be"),
    ]
    for method, params, says in cases:
        started = time.monotonic()
        error = node.rpc_error(method, *params)
        assert error["code"] == INVALID_PARAMS and says in str(error["message"]), (method, error)
        assert time.monotonic() - started < 2.0, method
    assert node.transfer(dev_key(0), hash32(b"after the queries")[:20], 1)["status"] == "0x1"
