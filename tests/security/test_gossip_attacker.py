"""One hostile peer on a 4-validator testnet: bad-signature transaction batches and junk compact
blocks. The validators check each batch before relaying it, strike the peer and ban it, and the
chain keeps finalizing honest transfers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testnet_fixture import Testnet, running_testnet, wait_until

from core.crypto import SigningKey, to_checksum_address
from genesis.dev import dev_key
from genesis.testnet import TESTNET_CHAIN_ID
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Transaction, Transfer, TxKind
from node.config import NodeConfig

pytestmark = pytest.mark.slow

ATTACKER = Path(__file__).with_name("attacker_peer.py")
RECIPIENT = bytes.fromhex("00" * 19 + "a7")
BAN_SECONDS = 60.0  # the attacker sends ~40 junk batches a second; ten strikes ban it
PROGRESS_BLOCKS = 5
HONEST_SECONDS = 20.0


@pytest.fixture(scope="module")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testnet]:
    with running_testnet(tmp_path_factory.mktemp("attacked")) as net:
        net.wait_for_height(2)
        yield net


def multiaddrs(testnet: Testnet) -> list[str]:
    """Every validator's p2p address, as their configs bootstrap to each other."""
    return sorted({a for v in testnet.validators for a in NodeConfig.load(v.config).bootstrap})


def send_transfer(testnet: Testnet, key: SigningKey) -> str:
    validator = testnet[1]
    who = to_checksum_address(key.address)
    nonce = int(str(validator.rpc("eth_getTransactionCount", who, "pending")), 16)
    tx = Transaction(
        TESTNET_CHAIN_ID, TxKind.TRANSFER, key.pubkey, nonce, 30_000, DEFAULT_GAS_PRICE,
        Transfer(RECIPIENT, 1),
    )  # fmt: skip
    return str(validator.rpc("aither_sendRawTransaction", "0x" + tx.signed(key).encode().hex()))


def test_a_flooding_peer_is_banned_and_finality_continues(testnet: Testnet, tmp_path: Path):
    log_path = tmp_path / "attacker.log"
    command = [sys.executable, str(ATTACKER), "--chain-id", str(TESTNET_CHAIN_ID)]
    command += ["--rpc", testnet[0].url]
    for address in multiaddrs(testnet):
        command += ["--connect", address]
    with log_path.open("wb") as log:
        attacker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: "SENT" in log_path.read_text(), 30, "the attacker to start sending")
        started_at = testnet.head()
        tx_hash = send_transfer(testnet, dev_key(3))
        banned = wait_until(
            lambda: len(testnet.log_lines("banned")) >= 2,
            BAN_SECONDS,
            f"validators to ban the attacker\n{log_path.read_text()[-2000:]}\n{testnet.tails()}",
        )
        assert banned
        wait_until(
            lambda: testnet[1].receipt(tx_hash),
            HONEST_SECONDS,
            f"an honest transfer during the attack\n{testnet.tails()}",
        )
        testnet.wait_for_height(started_at + PROGRESS_BLOCKS, timeout=60)
        assert attacker.poll() is None  # it kept trying the whole time
        assert int(log_path.read_text().split("SENT ")[-1].split()[0]) >= 20
    finally:
        attacker.kill()
        attacker.wait()
    reasons = " ".join(testnet.log_lines("banned"))
    assert "invalid messages on" in reasons, reasons
    testnet.assert_same_chain(min(h or 0 for h in testnet.heights()))
