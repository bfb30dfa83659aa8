"""A dev chain's controls in-process (node/dev.py over the real driver and ledger), and ids
given by prefix (node/rpc/prefixes.py)."""

from __future__ import annotations

import pytest
import pytest_asyncio
from test_node import ALICE, BOB, DevChain, raw_transfer, wait_for

from core.rpc import INVALID_PARAMS, NOT_FOUND
from node.dev import DevChain as DevControls
from node.dev import DevError
from node.rpc.errors import RpcError
from node.rpc.prefixes import Kind, full_id


@pytest_asyncio.fixture
async def chain(tmp_path):
    chain = DevChain(tmp_path)
    chain.node.dev = DevControls(chain.ledger, chain.driver)
    chain.start()
    yield chain
    await chain.close()


@pytest.mark.asyncio
async def test_blocks_are_made_on_demand_and_automine_can_be_turned_off(chain):
    dev = chain.node.dev
    assert await dev.mine(3) == 3 == chain.ledger.height
    dev.set_automine(False)
    tx_hash = await chain.node.submit(raw_transfer(0))
    assert await dev.mine() == 4  # no block was made for the transaction meanwhile
    assert chain.ledger.receipt(tx_hash) is not None


@pytest.mark.asyncio
async def test_a_revert_undoes_blocks_empties_the_mempool_and_the_chain_goes_on(chain):
    dev = chain.node.dev
    mark = dev.snapshot()
    hashes = [await chain.node.submit(raw_transfer(n)) for n in range(5)]
    await wait_for(lambda: all(chain.ledger.receipt(h) for h in hashes))
    assert await dev.revert(mark)
    assert chain.ledger.height == 0 and len(chain.node.mempool) == 0
    assert chain.ledger.account(ALICE.address).nonce == 0
    assert not await dev.revert(mark)  # used up
    again = await chain.node.submit(raw_transfer(0, amount=2))
    await wait_for(lambda: chain.ledger.receipt(again) is not None)
    assert chain.ledger.height == 1  # the validator signs height 1 again


@pytest.mark.asyncio
async def test_time_only_moves_forward(chain):
    dev = chain.node.dev
    with pytest.raises(DevError, match="forward"):
        dev.increase_time(-1)
    with pytest.raises(DevError, match="before the head"):
        dev.set_next_timestamp(chain.ledger.head.timestamp - 1)
    dev.increase_time(7200)
    await dev.mine()
    assert chain.ledger.head.timestamp >= chain.ledger.block(0).header.timestamp + 7200


@pytest.mark.asyncio
async def test_ids_are_taken_by_unique_prefix_and_ambiguous_ones_name_the_candidates(chain):
    dev, node = chain.node.dev, chain.node
    tx_hash = await node.submit(raw_transfer(0, key=BOB))
    await wait_for(lambda: chain.ledger.receipt(tx_hash) is not None)
    assert full_id(node, Kind.TRANSACTION, "0x" + tx_hash.hex()[:7], "hash") == tx_hash
    assert full_id(node, Kind.TRANSACTION, "0x" + tx_hash.hex(), "hash") == tx_hash
    # Blocks until two hashes share their first four digits (a few hundred, deterministic).
    seen: dict[str, bytes] = {}
    while True:
        await dev.mine()
        block_hash = chain.ledger.head.hash
        if block_hash.hex()[:4] in seen:
            break
        seen[block_hash.hex()[:4]] = block_hash
    prefix = "0x" + block_hash.hex()[:4]
    with pytest.raises(RpcError) as ambiguous:
        full_id(node, Kind.BLOCK, prefix, "block hash")
    assert ambiguous.value.code == INVALID_PARAMS and "is ambiguous" in ambiguous.value.message
    assert all(
        "0x" + h.hex()[:8] in ambiguous.value.message for h in (block_hash, seen[prefix[2:]])
    )
    with pytest.raises(RpcError) as unknown:
        full_id(node, Kind.PROPOSAL, "0xabcdef", "proposal id")
    assert unknown.value.code == NOT_FOUND
