"""Real libp2p hosts on loopback TCP, driven from asyncio on uvloop as the node drives them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Mapping

import pytest
import pytest_asyncio
import uvloop
from p2p_testnet import Node


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    # The node runs on uvloop; so do these tests.
    return {"uvloop": uvloop.new_event_loop}


@pytest_asyncio.fixture
async def nodes() -> AsyncIterator[list[Node]]:
    """Collects the nodes a test starts and stops them all; checks no p2p thread is left."""
    started: list[Node] = []
    yield started
    for node in started:
        await node.host.stop()
    # Our host threads, and the sweeper thread 0.8.1 starts per pubsub and never stops.
    leftover = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("p2p-") or "_background_cleanup" in t.name
    ]
    assert not leftover, f"p2p threads left running: {leftover}"
