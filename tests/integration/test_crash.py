"""Crash safety: SIGKILL a dev node under load, restart it, and lose nothing committed.

A sender thread keeps transfers from several dev accounts in flight and records every receipt the
node returns. At seeded random moments (after a random number of receipts) it kills the node,
which is then restarted on the same data dir. After each restart the chain must be at a block
boundary, every receipt seen before the kill must still be there in the same block, everything the
node accepted must still be known, and no coin may have appeared or vanished. Finally every block
is replayed on a fresh ledger, which must reach the same state root at every height.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from core.crypto import SigningKey, hash32, to_checksum_address
from genesis.dev import DEV_BALANCE, DEV_CHAIN_ID, dev_genesis, dev_key
from ledger.chain import Ledger
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Transaction, Transfer, TxKind

if TYPE_CHECKING:
    from conftest import DevNode, WaitUntil

SEED = 7331
ROUNDS = 4
RECEIPTS_PER_ROUND = (50, 400)
SENDERS = [dev_key(i) for i in range(6)]
FRESH = [hash32(b"crash test recipient %d" % i)[:20] for i in range(4)]
RECIPIENTS = [dev_key(i).address for i in range(6, 10)] + FRESH
IN_FLIGHT_PER_SENDER = 32
GAS_LIMIT = 30_000
GENESIS_TOTAL = 10 * DEV_BALANCE
LOAD_TIMEOUT = 60.0


class TransferLoad(threading.Thread):
    """Sends transfers and records the receipts it sees; kills the node after `kill_after`.

    The kill comes from this thread the moment the receipt count is reached, with the transfers
    of its last batch still in flight, so it lands while the node is admitting and committing.
    """

    def __init__(self, url: str, seed: int, kill_after: int, kill: Callable[[], None]) -> None:
        super().__init__(name="transfer-load", daemon=True)
        self.url = url
        self.rng = random.Random(seed)  # batch sizes and sender order
        self.kill_after = kill_after
        self.kill = kill
        self.killed = False
        self.receipts: dict[str, tuple[str, str]] = {}  # tx hash -> (block number, block hash)
        self.accepted: set[str] = set()  # hashes the node returned for sent transactions
        self.failure: BaseException | None = None
        self._stopping = threading.Event()
        self._ids = 0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        try:
            with httpx.Client(timeout=10.0) as http:
                self._send_until_stopped(http)
        except httpx.TransportError:
            if not self.killed:
                raise
        except BaseException as exc:
            self.failure = exc

    def _batch(self, http: httpx.Client, calls: list[tuple[str, list[object]]]) -> list[object]:
        """Run calls in one batch; their results in order. Any error answer is a failure."""
        first = self._ids
        self._ids += len(calls)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        answers = {a["id"]: a for a in http.post(self.url, json=body).json()}
        results = []
        for i, (method, params) in enumerate(calls):
            answer = answers[first + i]
            if "error" in answer:
                raise AssertionError(f"{method}{params} failed under load: {answer['error']}")
            results.append(answer["result"])
        return results

    def _send_until_stopped(self, http: httpx.Client) -> None:
        counts = self._batch(
            http,
            [
                ("eth_getTransactionCount", [to_checksum_address(k.address), "pending"])
                for k in SENDERS
            ],
        )
        nonces = {k.address: int(str(n), 16) for k, n in zip(SENDERS, counts, strict=True)}
        pending: dict[str, bytes] = {}  # tx hash -> sender address
        in_flight: Counter[bytes] = Counter()
        while not self._stopping.is_set():
            # A random number of new transfers per round trip, so blocks vary in size.
            budget = self.rng.randint(1, 48)
            raws = []
            for key in self.rng.sample(SENDERS, len(SENDERS)):
                while in_flight[key.address] < IN_FLIGHT_PER_SENDER and len(raws) < budget:
                    raws.append((key.address, transfer_for(key, nonces[key.address])))
                    nonces[key.address] += 1
                    in_flight[key.address] += 1
            sends = [("aither_sendRawTransaction", ["0x" + raw.hex()]) for _, raw in raws]
            polls = [("aither_getTransactionReceipt", [h]) for h in pending]
            results = self._batch(http, sends + polls)
            for (sender, raw), tx_hash in zip(raws, results[: len(sends)], strict=True):
                assert tx_hash == "0x" + hash32(raw).hex()
                pending[str(tx_hash)] = sender
                self.accepted.add(str(tx_hash))
            committed = 0
            for (_, (tx_hash,)), receipt in zip(polls, results[len(sends) :], strict=True):
                if receipt is None:
                    continue
                assert isinstance(receipt, dict) and receipt["status"] == "0x1", receipt
                self.receipts[str(tx_hash)] = (receipt["blockNumber"], receipt["blockHash"])
                in_flight[pending.pop(str(tx_hash))] -= 1
                committed += 1
            if not self.killed and len(self.receipts) >= self.kill_after:
                self.kill()
                self.killed = True
            elif not committed and not raws:
                self._stopping.wait(0.005)  # pace the polling while a block is being built


def transfer_for(key: SigningKey, nonce: int) -> bytes:
    """The one transfer the load signs for (sender, nonce).

    Sending a nonce again after a restart (the node may have restored it from its journal)
    then sends the same transaction, not a competing one.
    """
    digest = hash32(key.address + nonce.to_bytes(8, "big"))
    to = RECIPIENTS[digest[0] % len(RECIPIENTS)]
    amount = 1 + int.from_bytes(digest[1:9], "big") % 10**15
    payload = Transfer(to, amount)
    tx = Transaction(
        DEV_CHAIN_ID, TxKind.TRANSFER, key.pubkey, nonce, GAS_LIMIT, DEFAULT_GAS_PRICE, payload
    )
    return tx.signed(key).encode()


def _check_after_restart(
    node: DevNode, seen: dict[str, tuple[str, str]], accepted: set[str], wait_until: WaitUntil
) -> None:
    height = node.health()["height"]
    head = node.rpc("aither_getBlockByNumber", hex(height))
    assert node.rpc("aither_getBlockByHash", head["hash"]) == head
    if height > 0:
        assert head["parentHash"] == node.rpc("aither_getBlockByNumber", hex(height - 1))["hash"]

    receipts = _batch(node, "aither_getTransactionReceipt", list(seen))
    for tx_hash, answer in zip(seen, receipts, strict=True):
        receipt = answer.get("result")
        assert receipt is not None, f"{tx_hash} had a receipt before the crash: {answer}"
        assert (receipt["blockNumber"], receipt["blockHash"]) == seen[tx_hash], tx_hash
        assert receipt["status"] == "0x1"
    # What the node accepted before the crash is still known: committed, or pending again.
    known = sorted(accepted)
    for tx_hash, answer in zip(known, _batch(node, "aither_getTransaction", known), strict=True):
        assert "result" in answer, f"{tx_hash} was accepted before the crash: {answer}"

    total = wait_until(lambda: _total_when_idle(node), 30.0, f"an idle node\n{node.log_tail()}")
    assert total == GENESIS_TOTAL


def _batch(node: DevNode, method: str, hashes: list[str]) -> list[dict[str, object]]:
    """`method(hash)` for every hash, in one batch; the answers in order."""
    calls = [
        {"jsonrpc": "2.0", "id": i, "method": method, "params": [h]} for i, h in enumerate(hashes)
    ]
    if not calls:
        return []
    answers = node.post(calls).json()
    assert [a["id"] for a in answers] == list(range(len(calls)))
    return answers


def _total_when_idle(node: DevNode) -> int | None:
    """All coin on chain, read while no block is being made; None if one was."""
    height = node.height()
    for key in SENDERS:
        account = node.rpc("aither_getAccount", to_checksum_address(key.address))
        if account["pendingNonce"] != account["nonce"]:
            return None  # restored transactions are still being committed
    miners = {node.rpc("aither_getBlockByNumber", "0x0")["miner"]}
    miners.add(node.rpc("aither_getBlockByNumber", hex(height))["miner"])
    holders = [to_checksum_address(a) for a in _dev_addresses() + FRESH] + sorted(miners)
    total = sum(node.balance(holder) for holder in holders)
    return total if node.height() == height else None


def _dev_addresses() -> list[bytes]:
    return [dev_key(i).address for i in range(10)]


def _replay(data_dir: Path, replay_dir: Path) -> int:
    """Replay every stored block on a fresh ledger; return the height reached."""
    crashed = Ledger(data_dir, dev_genesis())
    fresh = Ledger(replay_dir, dev_genesis())
    try:
        assert fresh.head == crashed.block(0).header
        validators = fresh.validators()
        miners = set()
        height = 0
        for block in crashed.iter_blocks(1):
            height += 1
            assert block.height == height, "blocks are stored without gaps"
            certificate = crashed.commit_certificate(block.height)
            assert certificate is not None, f"block {height} has no commit certificate"
            certificate.verify(DEV_CHAIN_ID, validators)
            pending = fresh.execute_block(block)
            fresh.commit(pending, certificate)
            assert fresh.head.state_root == block.header.state_root, f"state root at {height}"
            assert fresh.head.hash == block.hash
            for stx, receipt in zip(pending.transactions, pending.receipts, strict=True):
                assert crashed.receipt(stx.hash) == receipt
            miners.add(block.header.proposer)
        assert height == crashed.height >= 1
        holders = _dev_addresses() + FRESH + sorted(miners)
        assert [fresh.account(a) for a in holders] == [crashed.account(a) for a in holders]
        assert sum(fresh.account(a).balance for a in holders) == GENESIS_TOTAL
        return height
    finally:
        fresh.close()
        crashed.close()


def test_sigkill_under_load_loses_nothing_committed(
    dev_node: DevNode, wait_until: WaitUntil, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    seen: dict[str, tuple[str, str]] = {}
    accepted: set[str] = set()
    for _ in range(ROUNDS):
        assert dev_node.process is not None
        load = TransferLoad(
            dev_node.url,
            rng.getrandbits(32),
            rng.randint(*RECEIPTS_PER_ROUND),
            dev_node.process.kill,
        )
        load.start()
        load.join(LOAD_TIMEOUT)
        if load.is_alive():
            load.stop()
            load.join()
        dev_node.kill()  # reap the process the load killed (or kill it, if the load got stuck)
        assert load.failure is None, f"{load.failure!r}\n{dev_node.log_tail()}"
        assert load.killed, f"no {load.kill_after} receipts within {LOAD_TIMEOUT:.0f} s"
        seen.update(load.receipts)
        accepted |= load.accepted

        dev_node.start()
        _check_after_restart(dev_node, seen, accepted, wait_until)

    dev_node.stop()
    height = _replay(dev_node.data_dir, tmp_path / "replay")
    blocks_with_receipts = {int(number, 16) for number, _ in seen.values()}
    assert max(blocks_with_receipts) <= height
