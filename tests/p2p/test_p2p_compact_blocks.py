"""Proposals travel as compact blocks between real nodes: rebuilt from the mempool, and the
transactions a node lacks fetched from its peers over the sync protocol."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from p2p_testnet import free_port, wait_for

from core.crypto import hash32
from genesis.dev import dev_genesis, dev_key, dev_validator_key
from ledger.chain import Ledger
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Transaction, Transfer, TxKind
from node.consensus_store import ConsensusStore
from node.driver import ConsensusDriver, Schedule
from node.network import NodeNetwork
from node.node import Node
from p2p.gossip import TopicKind, topic_name
from p2p.host import HostConfig, P2PHost

GENESIS = dev_genesis()


def networked(directory: Path) -> NodeNetwork:
    """A node on the network, as `aither node start --config` assembles one (not a validator)."""
    ledger = Ledger(directory, GENESIS)
    node = Node(ledger)
    driver = ConsensusDriver(
        node, GENESIS, ConsensusStore(directory), None, Schedule(empty_blocks=True)
    )
    host = P2PHost(
        HostConfig(
            node_key_seed=os.urandom(32), listen_addrs=(f"/ip4/127.0.0.1/tcp/{free_port()}",)
        )
    )
    return NodeNetwork(host, node, driver)


@pytest_asyncio.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[NodeNetwork, NodeNetwork]]:
    proposer, peer = networked(tmp_path / "proposer"), networked(tmp_path / "peer")
    try:
        for network in (proposer, peer):
            await network.start()
        await peer.host.connect(proposer.host.listen_addrs[0])
        blocks = topic_name(GENESIS.chain_id, TopicKind.BLOCKS)
        await wait_for(
            lambda: (
                proposer.host.peer_id in peer.gossip.mesh_peers(blocks)
                and peer.host.peer_id in proposer.gossip.mesh_peers(blocks)
            ),
            "the two nodes in each other's blocks mesh",
        )
        yield proposer, peer
    finally:
        for network in (proposer, peer):
            await network.stop()
            network.node.close()
            network.node.ledger.close()


def transfer(nonce: int) -> bytes:
    key = dev_key(0)
    return (
        Transaction(
            GENESIS.chain_id,
            TxKind.TRANSFER,
            key.pubkey,
            nonce,
            30_000,
            DEFAULT_GAS_PRICE,
            Transfer(dev_key(1).address, 1 + nonce),
        )
        .signed(key)
        .encode()
    )


@pytest.mark.asyncio
async def test_a_proposal_is_rebuilt_with_the_transactions_the_node_lacks_fetched_from_peers(
    pair: tuple[NodeNetwork, NodeNetwork], caplog: pytest.LogCaptureFixture
) -> None:
    proposer, peer = pair
    gossiped, private = transfer(0), transfer(1)
    await proposer.node.submit_many([gossiped])  # reaches the peer by transaction gossip
    await wait_for(lambda: hash32(gossiped) in peer.node.mempool, "the gossiped transfer")
    await proposer.node.submit_many([private], gossip=False)  # only the proposer holds it
    assert hash32(private) not in peer.node.mempool

    block = proposer.node.ledger.build_block(
        proposer.node.ready(), GENESIS.timestamp + 1, dev_validator_key().address, None
    ).block
    assert block.transactions == (gossiped, private)
    with caplog.at_level(logging.INFO, logger="aither.network"):
        await proposer.publish_block(block)
        await wait_for(
            lambda: "1 of 2 transactions fetched from peers, 0 found nowhere" in caplog.text,
            "the peer fetching the one transfer it lacked",
        )
    assert hash32(private) not in peer.node.mempool  # fetched for the block, not admitted
