"""Transactions from strangers: admission mirrors inclusion, and junk cannot fill the pool.

Replays the lockout of issue 11 (transfers from fresh unfunded keys, gas limit 0, nonces far
ahead) and a flood of funded transactions behind nonce gaps, against real dev nodes.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from core.crypto import SigningKey
from genesis.dev import DEV_CHAIN_ID, dev_key
from ledger.gas import DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_GAS_PRICE
from ledger.tx import Transaction, Transfer, TxKind

if TYPE_CHECKING:
    from conftest import DevNode

TX_REJECTED = -32003
RECIPIENT = bytes.fromhex("00" * 19 + "ef")
HONEST_SECONDS = 15.0


def signed(key: SigningKey, nonce: int, payload: object, kind: TxKind, gas_limit: int) -> str:
    tx = Transaction(
        DEV_CHAIN_ID,
        kind,
        key.pubkey,
        nonce,
        gas_limit,
        DEFAULT_GAS_PRICE,
        payload,  # type: ignore[arg-type]
    )
    return "0x" + tx.signed(key).encode().hex()


def send_batch(node: DevNode, raws: list[str]) -> list[dict[str, object]]:
    calls = [
        {"jsonrpc": "2.0", "id": i, "method": "aither_sendRawTransaction", "params": [raw]}
        for i, raw in enumerate(raws)
    ]
    answers = node.http.post(node.url, json=calls, timeout=60).json()
    assert isinstance(answers, list) and len(answers) == len(raws)
    return answers


def honest_transfer(node: DevNode, key_index: int) -> dict[str, object]:
    raw = node.signed_transfer(dev_key(key_index), RECIPIENT, 1)
    receipt = node.wait_for_receipt(node.send_raw(raw), HONEST_SECONDS)
    assert receipt["status"] == "0x1"
    return receipt


def reasons(answers: list[dict[str, object]]) -> Counter[str]:
    found: Counter[str] = Counter()
    for answer in answers:
        error = answer.get("error")
        assert isinstance(error, dict), f"junk was admitted: {answer}"
        assert error["code"] == TX_REJECTED, error
        message = str(error["message"])
        known = [word for word in ("intrinsic gas", "insufficient funds") if word in message]
        found[known[0] if known else message] += 1
    return found


def test_transfers_from_unfunded_keys_are_refused(dev_node: DevNode) -> None:
    strangers = [SigningKey((1000 + n).to_bytes(32, "big")) for n in range(2_000)]
    free = [signed(k, 7, Transfer(RECIPIENT, 0), TxKind.TRANSFER, 0) for k in strangers[:1_000]]
    unpaid = [
        signed(k, 7, Transfer(RECIPIENT, 0), TxKind.TRANSFER, 30_000) for k in strangers[1_000:]
    ]
    assert reasons(send_batch(dev_node, free)) == {"intrinsic gas": 1_000}
    assert reasons(send_batch(dev_node, unpaid)) == {"insufficient funds": 1_000}
    assert dev_node.health()["pending"] == 0
    honest_transfer(dev_node, 0)


def test_a_gas_limit_over_the_block_gas_limit_is_refused_at_admission(dev_node: DevNode) -> None:
    raw = signed(
        dev_key(1), 0, Transfer(RECIPIENT, 1), TxKind.TRANSFER, DEFAULT_BLOCK_GAS_LIMIT + 1
    )
    error = dev_node.rpc_error("aither_sendRawTransaction", raw)
    assert error["code"] == TX_REJECTED and "above the block gas limit" in str(error["message"])


def test_transactions_behind_nonce_gaps_are_bounded_and_do_not_come_back(start_node) -> None:
    node = start_node("--mempool-max-queued", "50", "--mempool-max-txs", "300")
    gapped = [
        signed(dev_key(k), nonce, Transfer(RECIPIENT, 1), TxKind.TRANSFER, 30_000)
        for k in range(1, 10)
        for nonce in range(3, 63)
    ]  # 540 transactions from funded senders that can never run
    answers = send_batch(node, gapped)
    assert sum("result" in a for a in answers) == len(gapped)  # each admitted in turn...
    # ...the oldest pushed out past the queued cap (a sender's own run is never cut: the last
    # sender's 60 stay, bounded by the nonce gap a sender may leave).
    assert node.health()["pending"] == 60
    honest_transfer(node, 0)  # its admission trims the queued to the cap (whole runs go)
    pending = node.health()["pending"]
    assert isinstance(pending, int) and pending <= 50
    node.restart()
    assert node.health()["pending"] == pending  # the journal held only what the pool held
    honest_transfer(node, 0)
