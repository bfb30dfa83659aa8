"""The reviewer service against a local JSON-RPC server serving the proposal JSON shape."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from chat_server import ChatServer, Scripted
from fake_node import CHAIN_ID, GAS_PRICE, FakeNode, free_port, proposal_json

from core.crypto import SigningKey, to_checksum_address
from council.review import MAX_EXPLANATION_BYTES
from council.service import ReviewerService
from ledger.governance.params import Role
from ledger.governance.payloads import Choice
from ledger.tx import TxKind
from model.chat import ModelConfig
from wallet.client import RpcClientError
from wallet.txbuilder import static_gas

OLD = ':strategy\n  KV_FETCH "price" -> Rprice\n  RETURN Rprice\n'
HARMLESS = ':strategy\n  ;; unchanged logic\n  KV_FETCH "price" -> Rprice\n  RETURN Rprice\n'
PAYS = ':strategy\n  KV_FETCH "price" -> Rprice\n  PAY_AGENT "bot", 10, "AVM"\n  RETURN Rprice\n'
P1, P2, P3 = ("0x" + c * 64 for c in "123")


class Events:
    """Collects the service's events (the CLI prints them one line each)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, object]]] = []

    def __call__(self, event: str, fields: dict[str, object]) -> None:
        self.seen.append((event, fields))

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]


def service(node_url: str, key: SigningKey, state: Path, **kwargs: object) -> ReviewerService:
    return ReviewerService(
        node_url,
        key,
        Role.SECURITY_AUDITOR,
        poll_interval=0.05,
        state_path=state,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(bytes(range(32)))


def test_votes_once_on_each_proposal_in_voting(key: SigningKey, tmp_path: Path) -> None:
    proposals = [
        proposal_json(P1, OLD, HARMLESS),
        proposal_json(P2, OLD, PAYS),
        proposal_json(P3, OLD, PAYS, status="passed"),
    ]
    events = Events()
    with FakeNode(proposals) as node:
        svc = service(node.url, key, tmp_path / "state.json", events=events)
        assert svc.poll_once() == 2
        votes = {"0x" + v.vote.proposal_id.hex(): v for v in node.received}
        assert set(votes) == {P1, P2}
        yes, no = votes[P1], votes[P2]
        assert (yes.vote.choice, no.vote.choice) == (Choice.YES, Choice.NO)
        assert yes.sender == to_checksum_address(key.address)
        assert {yes.nonce, no.nonce} == {0, 1}  # each from the node's pendingNonce
        assert yes.chain_id == CHAIN_ID and yes.gas_price == GAS_PRICE
        assert yes.gas_limit == static_gas(TxKind.VOTE, yes.vote)  # what every client signs for
        assert no.vote.explanation.startswith("deterministic analysis: SecurityAuditor votes no")
        assert "PAY_AGENT" in no.vote.explanation
        assert len(no.vote.explanation.encode()) <= MAX_EXPLANATION_BYTES
        # A second pass, and a second service with the same state file, send nothing.
        assert svc.poll_once() == 0
        again = service(node.url, key, tmp_path / "state.json")
        assert again.poll_once() == 0
        assert len(node.received) == 2
        svc.close()
        again.close()
    assert events.names().count("vote-sent") == 2
    assert events.names().count("reviewed") == 2
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["address"] == to_checksum_address(key.address)
    assert {pid: rec["status"] for pid, rec in state["votes"].items()} == {P1: "sent", P2: "sent"}


def test_a_vote_on_chain_is_respected_without_a_state_file(key: SigningKey, tmp_path: Path) -> None:
    """The proposal's votes list is checked too, so a lost state file cannot cause a re-vote."""
    mine = {"member": to_checksum_address(key.address).lower(), "role": "SecurityAuditor",
            "choice": "yes", "explanation": "earlier", "height": "0x11"}  # fmt: skip
    with FakeNode([proposal_json(P1, OLD, PAYS, votes=[mine])]) as node:
        events = Events()
        svc = service(node.url, key, tmp_path / "fresh.json", events=events)
        assert svc.poll_once() == 0
        svc.close()
    assert node.received == []
    assert "already-voted" in events.names()


def test_vote_signed_but_not_delivered_is_resent_as_the_same_bytes(
    key: SigningKey, tmp_path: Path
) -> None:
    with FakeNode([proposal_json(P1, OLD, HARMLESS)]) as node:
        node.drop_sends = 1
        svc = service(node.url, key, tmp_path / "state.json")
        with pytest.raises(RpcClientError):
            svc.poll_once()  # the connection drops while sending: the vote stays pending
        state = json.loads((tmp_path / "state.json").read_text())
        pending = state["votes"][P1]
        assert pending["status"] == "pending"
        # A restarted service finds the pending vote and sends the very same transaction.
        restarted = service(node.url, key, tmp_path / "state.json")
        restarted.poll_once()
        restarted.poll_once()
        assert [v.raw.hex() for v in node.received] == [pending["raw"][2:]]
        svc.close()
        restarted.close()
    final = json.loads((tmp_path / "state.json").read_text())["votes"][P1]
    assert final["status"] == "sent"


def test_a_refused_vote_is_recorded_and_not_retried(key: SigningKey, tmp_path: Path) -> None:
    with FakeNode([proposal_json(P1, OLD, HARMLESS)]) as node:
        node.reject_with = "transaction rejected: not a council member"
        events = Events()
        svc = service(node.url, key, tmp_path / "state.json", events=events)
        assert svc.poll_once() == 0
        assert svc.poll_once() == 0
        svc.close()
        sends = node.calls.count("aither_sendRawTransaction")
    assert sends == 1
    assert ("vote-rejected", {"proposal": P1, "error": node.reject_with}) in events.seen
    record = json.loads((tmp_path / "state.json").read_text())["votes"][P1]
    assert record["status"] == "rejected" and "not a council member" in record["reason"]


def test_model_failure_is_stated_in_the_vote(key: SigningKey, tmp_path: Path) -> None:
    with (
        ChatServer(Scripted("definitely not json")) as chat,
        FakeNode([proposal_json(P1, OLD, HARMLESS)]) as node,
    ):
        svc = service(
            node.url, key, tmp_path / "s.json", model=ModelConfig("m", chat.base_url, max_retries=0)
        )
        svc.poll_once()
        svc.close()
    (vote,) = node.received
    assert vote.vote.choice is Choice.YES
    assert vote.vote.explanation.startswith("model review unavailable: reply is not JSON")


def test_model_verdict_is_in_the_vote(key: SigningKey, tmp_path: Path) -> None:
    reply = '{"choice": "no", "explanation": "pays a bot with no check", "confidence": 95}'
    with ChatServer(Scripted(reply)) as chat, FakeNode([proposal_json(P1, OLD, HARMLESS)]) as node:
        svc = service(node.url, key, tmp_path / "s.json", model=ModelConfig("m", chat.base_url))
        svc.poll_once()
        svc.close()
    (vote,) = node.received
    assert vote.vote.choice is Choice.NO
    assert "model m says no (confidence 95): pays a bot with no check" in vote.vote.explanation


def test_waits_for_the_node_and_votes_once_it_is_up(key: SigningKey, tmp_path: Path) -> None:
    port = free_port()
    events = Events()
    svc = service(f"http://127.0.0.1:{port}", key, tmp_path / "state.json", events=events)
    runner = threading.Thread(target=svc.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while "node-unreachable" not in events.names() and time.monotonic() < deadline:
            time.sleep(0.02)
        with FakeNode([proposal_json(P1, OLD, HARMLESS)], port=port) as node:
            deadline = time.monotonic() + 8
            while not node.received and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)  # more polls: still one vote
            assert len(node.received) == 1
    finally:
        svc.stop()
        runner.join(5)
        svc.close()
    names = events.names()
    assert names[0] == "started"
    assert (
        names.index("node-unreachable") < names.index("node-reachable") < names.index("vote-sent")
    )


def test_once_with_no_node_raises(key: SigningKey, tmp_path: Path) -> None:
    svc = service(f"http://127.0.0.1:{free_port()}", key, tmp_path / "state.json")
    with pytest.raises(RpcClientError, match="cannot reach a node"):
        svc.run(once=True)
    svc.close()


def test_state_file_of_another_member_is_refused(key: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "address": "0x" + "00" * 20, "votes": {}}))
    with pytest.raises(ValueError, match="belongs to"):
        service("http://127.0.0.1:1", key, path)


def test_proposal_that_leaves_voting_during_review_is_skipped(
    key: SigningKey, tmp_path: Path
) -> None:
    with FakeNode([proposal_json(P1, OLD, HARMLESS)]) as node:
        node.detail_overrides[P1] = proposal_json(P1, OLD, HARMLESS, status="expired")
        events = Events()
        svc = service(node.url, key, tmp_path / "state.json", events=events)
        assert svc.poll_once() == 0
        svc.close()
    assert node.received == []
    assert ("skipped", {"proposal": P1, "status": "expired"}) in events.seen


def test_a_malformed_proposal_is_reported_and_the_rest_voted(
    key: SigningKey, tmp_path: Path
) -> None:
    with FakeNode([proposal_json(P1, OLD, HARMLESS)]) as node:
        node.proposals["junk"] = {"id": "junk", "status": "voting"}
        events = Events()
        svc = service(node.url, key, tmp_path / "state.json", events=events)
        assert svc.poll_once() == 1
        svc.close()
    (bad,) = [fields for name, fields in events.seen if name == "bad-proposal"]
    assert "is not 0x-hex of 32 bytes" in str(bad["error"])
    assert len(node.received) == 1


@pytest.mark.parametrize(
    ("council", "event"),
    [
        (None, "council-unknown"),  # a node without aither_getCouncil yet
        ([], "not-a-member"),
        ([{"role": "LatencyProfiler", "weight": 10, "accuracy": 100}], "role-mismatch"),
        ([{"role": "SecurityAuditor", "weight": 10, "accuracy": 100}], "member"),
    ],
)
def test_membership_is_reported_at_start(
    key: SigningKey, tmp_path: Path, council: list[dict[str, object]] | None, event: str
) -> None:
    with FakeNode([]) as node:
        if council is not None:
            address = to_checksum_address(key.address)
            node.council = [dict(m, address=address) for m in council]
        events = Events()
        svc = service(node.url, key, tmp_path / "state.json", events=events)
        svc.run(once=True)
        svc.close()
    assert events.names() == ["started", event]


def test_the_model_is_reminded_of_the_members_past_votes_and_their_outcomes(
    key: SigningKey, tmp_path: Path
) -> None:
    reply = '{"choice": "yes", "explanation": "Fine by me.", "confidence": 90}'
    first = proposal_json(P1, OLD, HARMLESS)
    with ChatServer(Scripted(reply)) as chat, FakeNode([first]) as node:
        svc = service(node.url, key, tmp_path / "s.json", model=ModelConfig("m", chat.base_url))
        svc.poll_once()  # votes on P1 with nothing to remember yet
        first["status"] = "enacted"  # the chain decided it
        node.proposals[P2] = proposal_json(P2, OLD, HARMLESS)
        svc.poll_once()
        svc.close()
        prompts = [r["messages"][1]["content"] for r in chat.requests]  # type: ignore[index]
    assert "your recent votes and how those proposals ended ---\n(none yet)" in prompts[0]
    assert f"{P1[:10]} (region on " in prompts[1]
    assert "): you voted yes; enacted" in prompts[1]
    state = json.loads((tmp_path / "s.json").read_text())
    assert list(state["votes"]) == [P1, P2]  # kept in the order voted: the memory's order


def test_a_vote_remembered_from_a_chain_started_again_is_cast_anew(
    key: SigningKey, tmp_path: Path
) -> None:
    """The dev chain's proposal ids repeat after a reset; a `sent` record whose transaction this
    node never saw does not stop the member from voting."""
    state = tmp_path / "s.json"
    with FakeNode([proposal_json(P1, OLD, HARMLESS)]) as node:
        svc = service(node.url, key, state)
        svc.poll_once()
        svc.close()
    events = Events()
    with FakeNode([proposal_json(P1, OLD, HARMLESS)]) as again:  # the same proposal, a new chain
        svc = service(again.url, key, state, events=events)
        assert svc.poll_once() == 1
        svc.close()
    assert len(again.received) == 1 and "stale-record" in events.names()
