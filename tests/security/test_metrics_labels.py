"""A stranger cannot grow /metrics: JSON-RPC calls are counted by method only for the methods the
node serves; any other name counts as `unknown`, so a thousand made-up names add one series."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from conftest import DevNode


def series(node: DevNode) -> list[str]:
    text = httpx.get(node.url + "/metrics", timeout=10).text
    return [line for line in text.splitlines() if line.startswith("aither_rpc_requests_total")]


def test_made_up_method_names_share_one_series(shared_node: DevNode) -> None:
    node = shared_node
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": f"made_up_{i}_" + "x" * 200, "params": []}
        for i in range(100)
    ]
    for _ in range(10):
        answers = node.post(batch).json()
        assert all(a["error"]["code"] == -32601 for a in answers)
    lines = series(node)
    unknown = [line for line in lines if 'method="unknown"' in line]
    assert unknown == ['aither_rpc_requests_total{code="-32601",method="unknown"} 1000.0']
    assert not any("made_up" in line for line in lines)
    assert len(httpx.get(node.url + "/metrics", timeout=10).content) < 64 * 1024
