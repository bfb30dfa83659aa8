"""The council governs the protocol on a live testnet: gas schedule, AVM version, validators.

Four genesis validators and a fifth node holding a validator key outside the set (it follows the
chain). One round of proposals puts a new gas schedule in force, enables AVM version 2 and adds
the fifth validator; a second removes one of the first four. Every node charges the new costs
from the same block (the same state roots), an agent deployed after the enactment uses version
2's ISQRT while one deployed before keeps version 1's DIV, the newcomer signs the blocks after
its enactment, and finality goes on once a validator is gone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testnet_fixture import Testnet

from avm.assembler import assemble
from avm.code import CodeObject
from avm.gas import V1, schedule_with
from core.crypto import SigningKey, address_of, to_checksum_address
from genesis.dev import DEV_GOVERNANCE, dev_key
from genesis.keyfile import read_key_file
from genesis.testnet import TESTNET_CHAIN_ID
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.governance.payloads import (
    AvmVersionSpec,
    Choice,
    GasScheduleSpec,
    ProposalSpec,
    ProposePayload,
    ValidatorsSpec,
    VotePayload,
)
from ledger.tx import Call, Deploy, Payload, Transaction, TxKind
from node.process import wait_until

PROPOSER = dev_key(1)
VOTERS = (5, 6, 7, 8)  # two thirds of the dev council's weight and more, all yes
AGENT = assemble(":main\n  SET x = 2\n  MUL x, 21 -> ACC\n  RETURN ACC\n").code
DIVIDES = assemble(":main\n  DIV -7, 2 -> q\n  RETURN q\n").code  # AVM 1: floors
ROOTS = assemble(".avm 2\n:main\n  ISQRT 17 -> r\n  DIV -7, 2 -> q\n  RETURN [r, q]\n").code
# A protocol track: twice the voting period and the enactment delay, plus the blocks around.
ENACTED_WITHIN = 30.0 + 2 * (DEV_GOVERNANCE.voting_period + DEV_GOVERNANCE.enactment_delay)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testnet]:
    testnet = Testnet(tmp_path_factory.mktemp("protocol"), 4, seed=7341, standby=1)
    testnet.start()
    try:
        testnet.wait_for_height(2)
        yield testnet
    finally:
        testnet.close()


def send(net: Testnet, key: SigningKey, kind: TxKind, payload: Payload) -> dict:
    """Sign and send through the first node; the receipt once every node has it."""
    first = net[0]
    nonce = int(str(first.rpc("eth_getTransactionCount", to_checksum_address(key.address),
                              "pending")), 16)  # fmt: skip
    tx = Transaction(TESTNET_CHAIN_ID, kind, key.pubkey, nonce, 5_000_000, DEFAULT_GAS_PRICE,
                     payload)  # fmt: skip
    tx_hash = str(first.rpc("aither_sendRawTransaction", "0x" + tx.signed(key).encode().hex()))
    wait_until(lambda: all(v.receipt(tx_hash) for v in net.validators), 30.0,
               f"transaction {tx_hash} on every node\n{net.tails()}")  # fmt: skip
    receipts = [v.receipt(tx_hash) for v in net.validators]
    assert all(r == receipts[0] for r in receipts), receipts
    receipt = receipts[0]
    assert receipt is not None and receipt["status"] == "0x1", receipt
    return receipt


def file_and_pass(net: Testnet, *specs: ProposalSpec) -> list[dict]:
    """File each proposal, vote them through, wait until every node has enacted them all."""
    ids = []
    for spec in specs:
        receipt = send(net, PROPOSER, TxKind.PROPOSE, ProposePayload(spec))
        ids.append(next(e["args"][0] for e in receipt["logs"] if e["event"] == "ProposalSubmitted"))
    for pid in ids:
        for member in VOTERS:
            vote = VotePayload(bytes.fromhex(pid[2:]), Choice.YES, "the replay looks right")
            send(net, dev_key(member), TxKind.VOTE, vote)

    def enacted() -> bool:
        return all(
            v.rpc("aither_getProposal", pid)["status"] == "enacted"
            for v in net.validators
            for pid in ids
        )

    wait_until(enacted, ENACTED_WITHIN, f"proposals {ids} enacted everywhere\n{net.tails()}")
    return [net[0].rpc("aither_getProposal", pid) for pid in ids]


def signers(net: Testnet, height: int) -> set[str]:
    """The validators whose precommits committed block `height` (its successor's last commit)."""
    net.wait_for_height(height + 1)
    block = net[0].rpc("eth_getBlockByNumber", hex(height + 1), False)
    return set(block["lastCommit"]["signers"])


def deploy(net: Testnet, code: CodeObject) -> bytes:
    deployed = send(net, dev_key(2), TxKind.DEPLOY, Deploy(code.to_bytes(), (), 0))
    return bytes.fromhex(str(deployed["contractAddress"])[2:])


def test_gas_avm_and_validator_changes_are_enacted_alike_on_every_node(net: Testnet) -> None:
    agent, old = deploy(net, AGENT), deploy(net, DIVIDES)
    before = send(net, dev_key(2), TxKind.CALL, Call(agent, "main", (), 0))
    newcomer = read_key_file(net[4].directory / "validator_key.json")
    assert net[0].rpc("aither_getValidators")["totalPower"] == 4

    dearer = schedule_with(V1, 2, {"simple": 3 * V1.simple})
    deposit = DEV_GOVERNANCE.min_deposit
    gas, joined, _ = file_and_pass(
        net,
        GasScheduleSpec(dearer, "arithmetic costs more", deposit),
        ValidatorsSpec(((newcomer.pubkey, 1),), "a fifth validator", deposit),
        AvmVersionSpec(2, "ISQRT, and DIV that truncates", deposit),
    )
    assert gas["shadow"] is not None and gas["shadow"]["transactions"] >= 2
    assert gas["shadow"]["outcomeChanges"] == 0
    for node in net.validators:
        assert node.rpc("aither_getGasSchedule")["version"] == 2
        assert node.rpc("aither_getValidators")["totalPower"] == 5
        assert node.rpc("aither_getChainParams")["avm_version"] == 2
    after = send(net, dev_key(2), TxKind.CALL, Call(agent, "main", (), 0))
    # SET and MUL are simple opcodes: each costs 200 milligas more from the enactment height
    assert int(after["gasUsed"], 16) - int(before["gasUsed"], 16) == 2 * 2 * V1.simple
    # An agent deployed now uses version 2; one deployed before keeps version 1's DIV.
    roots = deploy(net, ROOTS)
    assert send(net, dev_key(2), TxKind.CALL, Call(roots, "main", (), 0))["returnValue"] == [4, -3]
    assert send(net, dev_key(2), TxKind.CALL, Call(old, "main", (), 0))["returnValue"] == -4
    # The newcomer signs: the blocks after its enactment carry its precommit.
    address = to_checksum_address(address_of(newcomer.pubkey))

    def newcomer_signs() -> bool:
        return address in signers(net, net.head() - 1)

    wait_until(newcomer_signs, 20.0, f"a block signed by the newcomer\n{net.tails()}")
    assert address not in signers(net, int(joined["enactHeight"]))  # not before it joined
    net.assert_same_chain(net.head() - 1)


def test_a_validator_removed_by_proposal_stops_signing_and_finality_goes_on(net: Testnet) -> None:
    gone = read_key_file(net[0].directory / "validator_key.json")
    validators = net[1].rpc("aither_getValidators")
    if validators["totalPower"] != 5:
        pytest.skip("needs the fifth validator the previous test adds")
    (removed,) = file_and_pass(
        net, ValidatorsSpec(((gone.pubkey, 0),), "rotate node0 out", DEV_GOVERNANCE.min_deposit)
    )
    assert removed["validators"][0]["power"] == 0
    address = to_checksum_address(address_of(gone.pubkey))
    for node in net.validators:
        listed = node.rpc("aither_getValidators")["validators"]
        assert address not in [v["address"] for v in listed] and len(listed) == 4
    height = net.head()
    net.wait_for_height(height + 3)  # four validators of power 1: the quorum is three
    assert address not in signers(net, height + 1)
    net.assert_same_chain(height + 2)


def test_a_double_signing_validator_is_jailed_and_the_others_go_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    net = Testnet(tmp_path_factory.mktemp("double-sign"), 4, seed=7343)
    honest, rogue = net.validators[:3], net[3]
    net.start(honest)
    rogue.spawn("--double-sign-for-tests")
    rogue.wait_serving()
    try:
        offender = read_key_file(rogue.directory / "validator_key.json")
        address = to_checksum_address(address_of(offender.pubkey))

        def jailed_everywhere() -> bool:
            return all(v.rpc("aither_getValidators")["jailed"] for v in honest)

        wait_until(jailed_everywhere, 60.0, f"the double signer jailed\n{net.tails()}")
        for node in honest:
            validators = node.rpc("aither_getValidators")
            (jail,) = validators["jailed"]
            assert jail["address"] == address and jail["slashed"] == 1
            assert validators["totalPower"] == 3
            assert address not in [v["address"] for v in validators["validators"]]
        height = net.head(honest)
        net.wait_for_height(height + 3, honest)  # three honest validators of three: finality
        assert address not in signers(net, height + 2)
        net.assert_same_chain(height + 2, honest)
    finally:
        net.close()
