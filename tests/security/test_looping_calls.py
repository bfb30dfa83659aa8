"""Looping agent calls at the block gas limit cannot stall the chain (issue 11, item 4).

Each call may burn the whole block gas limit; blocks take what fits the gas left, so every block
stays under the limit, the calls wait for later blocks instead of being dropped, and an honest
transfer is committed within a bound. (A block over the limit is refused by Ledger.execute_block:
tests/ledger/test_block_gas.py.)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from test_mempool_flood import HONEST_SECONDS, honest_transfer, send_batch, signed

from avm.assembler import assemble
from genesis.dev import dev_key
from ledger.agents import agent_address
from ledger.gas import DEFAULT_BLOCK_GAS_LIMIT
from ledger.tx import Call, Deploy, TxKind

if TYPE_CHECKING:
    from conftest import DevNode

LOOP = ":spin\n  SET n = 0\n:again\n  ADD n, 1 -> n\n  JUMP again\n"
CALLS = 6
CALLS_SECONDS = 120.0  # each call is about a block of ~1 s on these machines; generous when busy


def test_looping_calls_at_max_gas_do_not_stall_transfers(dev_node: DevNode) -> None:
    deployer = dev_key(9)
    code = assemble(LOOP).code.to_bytes()
    deploy = signed(deployer, 0, Deploy(code), TxKind.DEPLOY, 5_000_000)
    assert dev_node.wait_for_receipt(dev_node.rpc("aither_sendRawTransaction", deploy))
    agent = agent_address(deployer.address, 0)
    calls = [
        signed(dev_key(k), 0, Call(agent, "spin"), TxKind.CALL, DEFAULT_BLOCK_GAS_LIMIT)
        for k in range(1, CALLS + 1)
    ]
    answers = send_batch(dev_node, calls)
    assert all("result" in a for a in answers), answers
    started = time.monotonic()
    receipt = honest_transfer(dev_node, 0)
    assert time.monotonic() - started < HONEST_SECONDS
    # The calls were deferred, not dropped: each runs out of gas in a block of its own.
    last = max(
        int(str(dev_node.wait_for_receipt(str(a["result"]), CALLS_SECONDS)["blockNumber"]), 16)
        for a in answers
    )
    top = max(last, int(str(receipt["blockNumber"]), 16))
    for height in range(1, top + 1):
        block = dev_node.rpc("aither_getBlockByNumber", hex(height))
        assert isinstance(block, dict)
        assert int(str(block["gasUsed"]), 16) <= DEFAULT_BLOCK_GAS_LIMIT, block
