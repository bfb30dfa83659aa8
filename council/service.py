"""The reviewer service: watch proposals in `voting`, review each once, sign and send the vote.

Never voting twice rests on two checks made before every vote: the state file (what this member
signed, written before the transaction leaves, so a crash between signing and sending cannot lead
to a second, different vote) and the proposal's own `votes` list (so a vote cast by another copy
of the service, or before the state file was lost, also counts). A vote signed but not confirmed
is re-sent as the same bytes (same nonce, same hash), which the node can only accept once.

The node is reached over JSON-RPC; when it is down the service waits and retries with backoff.

The model (when the service has one) is given the member's own recent votes and how those
proposals ended, read back from the node at each review: the state file is its memory.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.crypto import SigningKey, to_checksum_address
from core.rpc import NOT_FOUND
from council.analysis import analyze
from council.llm import MAX_MEMORY, ModelConfig, ModelReviewer, ModelUnavailable, PastVote
from council.proposal import Proposal, ProposalFormatError
from council.review import Review, combine
from ledger.governance.params import Role
from ledger.governance.payloads import VotePayload
from ledger.tx import Transaction, TxKind
from wallet.client import RpcClient, RpcClientError
from wallet.txbuilder import static_gas

STATE_VERSION = 1
DEFAULT_POLL_INTERVAL = 5.0
MAX_BACKOFF = 30.0

EventSink = Callable[[str, dict[str, object]], None]


@dataclass(frozen=True, slots=True)
class VoteRecord:
    """What the state file remembers about one proposal."""

    status: str  # "pending" (signed, maybe sent), "sent" (node accepted), "rejected", "seen"
    choice: str
    tx_hash: str
    raw: str  # 0x-hex of the signed transaction, to re-send the same bytes
    reason: str = ""
    subject: str = ""  # what the proposal changed, for the model's memory of this vote

    def to_json(self) -> dict[str, str]:
        return {
            "status": self.status,
            "choice": self.choice,
            "txHash": self.tx_hash,
            "raw": self.raw,
            "reason": self.reason,
            "subject": self.subject,
        }


class VoteState:
    """The proposals this member has voted on, in a small JSON file written atomically."""

    def __init__(self, path: Path, address: str) -> None:
        self.path = path
        self.address = address
        self.records: dict[str, VoteRecord] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
            if data.get("address", "").lower() != self.address.lower():
                raise ValueError(f"it belongs to {data.get('address')}, not {self.address}")
            for pid, rec in data["votes"].items():
                self.records[pid] = VoteRecord(
                    rec["status"],
                    rec["choice"],
                    rec["txHash"],
                    rec["raw"],
                    rec.get("reason", ""),
                    rec.get("subject", ""),
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"state file {self.path} is unreadable: {exc}") from None

    def get(self, proposal_id: str) -> VoteRecord | None:
        return self.records.get(proposal_id.lower())

    def recent(self, count: int) -> list[tuple[str, VoteRecord]]:
        """The last `count` votes this member sent, oldest first (the file keeps their order)."""
        sent = [(pid, r) for pid, r in self.records.items() if r.status == "sent"]
        return sent[-count:]

    def put(self, proposal_id: str, record: VoteRecord) -> None:
        self.records[proposal_id.lower()] = record
        self._save()

    def _save(self) -> None:
        data = {
            "version": STATE_VERSION,
            "address": self.address,
            "votes": {pid: rec.to_json() for pid, rec in self.records.items()},  # in order
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".council-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def default_state_path(address: str) -> Path:
    return Path("~/.aither/council").expanduser() / f"{address.lower()}.json"


def sign_vote(
    key: SigningKey,
    chain_id: int,
    nonce: int,
    gas_price: int,
    proposal_id: bytes,
    review: Review,
) -> bytes:
    """The wire bytes of a signed vote transaction. Raises InvalidTransaction for a payload the
    ledger would refuse (an explanation over the bound)."""
    vote = VotePayload(proposal_id, review.choice, review.explanation)
    payload = VotePayload.from_value(vote.to_value())  # refuses what the ledger would refuse
    gas_limit = static_gas(TxKind.VOTE, payload)
    tx = Transaction(chain_id, TxKind.VOTE, key.pubkey, nonce, gas_limit, gas_price, payload)
    return tx.signed(key).encode()


def _ignore(event: str, fields: dict[str, object]) -> None:
    """The default sink: nothing (the CLI passes its own printer)."""


class ReviewerService:
    """One council member's reviewer: `poll_once` for one pass, `run` to keep watching."""

    def __init__(
        self,
        rpc_url: str,
        key: SigningKey,
        role: Role,
        model: ModelConfig | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        state_path: Path | None = None,
        events: EventSink = _ignore,
    ) -> None:
        self.key = key
        self.role = role
        self.address = to_checksum_address(key.address)
        self.poll_interval = poll_interval
        self.events = events
        self.rpc = RpcClient(rpc_url, timeout=10.0)
        self.state = VoteState(state_path or default_state_path(self.address), self.address)
        self.reviewer = ModelReviewer(model) if model is not None else None
        self._stop = threading.Event()

    def close(self) -> None:
        self.rpc.close()
        if self.reviewer is not None:
            self.reviewer.close()

    def stop(self) -> None:
        self._stop.set()

    def review(self, proposal: Proposal) -> Review:
        """This member's verdict on `proposal` (the model is asked only when configured)."""
        analysis = analyze(self.role, proposal)
        if self.reviewer is None:
            return combine(analysis)
        try:
            verdict = self.reviewer.review(self.role, proposal, analysis, self.memory())
        except ModelUnavailable as exc:
            self.events("model-fallback", {"proposal": proposal.id, "reason": exc.reason})
            return combine(analysis, model_error=exc.reason)
        return combine(analysis, verdict)

    def memory(self) -> list[PastVote]:
        """This member's last votes and how each proposal ended, as the node tells it now."""
        past = []
        for pid, record in self.state.recent(MAX_MEMORY):
            try:
                found = self.rpc.call("aither_getProposal", pid)
                outcome = str(found.get("status")) if isinstance(found, dict) else "unknown"
            except RpcClientError:
                outcome = "unknown"
            past.append(PastVote(pid, record.subject or "-", record.choice, outcome))
        return past

    def poll_once(self) -> int:
        """One pass over the proposals in voting. Returns how many votes were sent.

        Raises RpcClientError when the node cannot be reached (the caller backs off)."""
        return self._process(self._voting())

    def _voting(self) -> list[object]:
        listed = self.rpc.call("aither_listProposals", "voting")
        if not isinstance(listed, list):
            raise RpcClientError("aither_listProposals did not answer a list")
        return listed

    def _process(self, listed: list[object]) -> int:
        sent = 0
        for obj in listed:
            try:
                proposal = Proposal.from_json(obj)
                if proposal.status == "voting" and self._vote_on(proposal):
                    sent += 1
            except ProposalFormatError as exc:
                self.events("bad-proposal", {"error": str(exc)})
        return sent

    def _vote_on(self, proposal: Proposal) -> bool:
        record = self.state.get(proposal.id)
        on_chain = proposal.voted_by(self.address)
        stale = record is not None and record.status == "sent" and not on_chain
        if stale and record is not None and self._never_seen(record.tx_hash):
            # A vote this file remembers and this chain never saw: a dev chain started again
            # from the same genesis has the same proposal ids. Review it afresh.
            self.events("stale-record", {"proposal": proposal.id, "tx": record.tx_hash})
            record = None
        if record is not None:
            if record.status == "pending" and not on_chain:
                self._send(proposal.id, record)  # the same bytes again: at most one vote
                return False
            if record.status == "pending" and on_chain:
                self.state.put(proposal.id, _with_status(record, "sent"))
            return False
        if on_chain:
            self.state.put(proposal.id, VoteRecord("seen", "", "", ""))
            self.events("already-voted", {"proposal": proposal.id})
            return False
        review = self.review(proposal)
        self.events(
            "reviewed",
            {
                "proposal": proposal.id,
                "choice": review.choice.value,
                "findings": len(review.analysis.findings),
                "model": "unavailable"
                if review.model_error
                else ("used" if review.model_verdict else "none"),
            },
        )
        # The review may have taken a while (a model call): look again just before signing.
        fresh = Proposal.from_json(self.rpc.call("aither_getProposal", proposal.id))
        if fresh.status != "voting" or fresh.voted_by(self.address):
            self.events("skipped", {"proposal": proposal.id, "status": fresh.status})
            return False
        raw = self._sign(proposal, review)
        record = VoteRecord(
            "pending", review.choice.value, "", "0x" + raw.hex(), subject=_subject(proposal)
        )
        self.state.put(proposal.id, record)  # before sending: see the module docstring
        return self._send(proposal.id, record)

    def _never_seen(self, tx_hash: str) -> bool:
        """Whether the node knows no transaction `tx_hash`, neither included nor pending."""
        try:
            self.rpc.call("aither_getTransactionReceipt", tx_hash)
        except RpcClientError as exc:
            return exc.code == NOT_FOUND
        return False

    def _sign(self, proposal: Proposal, review: Review) -> bytes:
        chain_id = int(str(self.rpc.call("aither_chainId")), 16)
        account = self.rpc.call("aither_getAccount", self.address)
        if not isinstance(account, dict) or "pendingNonce" not in account:
            raise RpcClientError("aither_getAccount did not answer an account with pendingNonce")
        nonce = int(str(account["pendingNonce"]), 16)
        gas_price = int(str(self.rpc.call("eth_gasPrice")), 16)
        return sign_vote(self.key, chain_id, nonce, gas_price, proposal.id_bytes, review)

    def _send(self, proposal_id: str, record: VoteRecord) -> bool:
        try:
            tx_hash = self.rpc.call("aither_sendRawTransaction", record.raw)
        except RpcClientError as exc:
            if exc.code is None:
                raise  # unreachable: stays pending, re-sent on the next pass
            self.state.put(proposal_id, _with_status(record, "rejected", str(exc)))
            self.events("vote-rejected", {"proposal": proposal_id, "error": str(exc)})
            return False
        self.state.put(proposal_id, _with_status(record, "sent", tx_hash=str(tx_hash)))
        self.events(
            "vote-sent", {"proposal": proposal_id, "choice": record.choice, "tx": str(tx_hash)}
        )
        return True

    def check_membership(self) -> None:
        """Say (as an event) whether this key is on the council, and under which role. A key that
        is not a member still runs: membership may change by proposal while it waits."""
        try:
            council = self.rpc.call("aither_getCouncil")
        except RpcClientError as exc:
            self.events("council-unknown", {"error": str(exc)})
            return
        if isinstance(council, dict):  # {members, totalWeight, params, blockNumber}
            council = council.get("members", [])
        members = council if isinstance(council, list) else []
        me = next(
            (
                m
                for m in members
                if isinstance(m, dict) and str(m.get("address", "")).lower() == self.address.lower()
            ),
            None,
        )
        if me is None:
            self.events("not-a-member", {"address": self.address})
        elif me.get("role") != self.role.value:
            self.events("role-mismatch", {"onChain": me.get("role"), "serving": self.role.value})
        else:
            self.events("member", {"role": me.get("role"), "weight": me.get("weight")})

    def run(self, once: bool = False) -> None:
        """Poll until `stop()`, backing off while the node is unreachable (the wait doubles up to
        MAX_BACKOFF seconds). With `once`: one pass, and an unreachable node raises."""
        backoff = 0.0
        checked = False
        self.events("started", {"address": self.address, "role": self.role.value})
        while not self._stop.is_set():
            try:
                listed = self._voting()
                if backoff:
                    self.events("node-reachable", {})
                    backoff = 0.0
                if not checked:
                    self.check_membership()  # once, at the first contact with the node
                    checked = True
                self._process(listed)
            except RpcClientError as exc:
                if once:
                    raise
                backoff = min(MAX_BACKOFF, backoff * 2 or 1.0)
                # A JSON-RPC error (an older node without the governance methods) is retried too.
                event = "node-unreachable" if exc.code is None else "rpc-error"
                self.events(event, {"error": str(exc), "retryIn": backoff})
                self._stop.wait(backoff)
                continue
            if once:
                return
            self._stop.wait(self.poll_interval)


def _subject(proposal: Proposal) -> str:
    """What a proposal changes, in a few words: `code on AGENT region R`, or its kind."""
    if proposal.agent:
        return f"{proposal.kind} on {proposal.agent} region {proposal.region or '-'}"
    return proposal.kind


def _with_status(
    record: VoteRecord, status: str, reason: str = "", tx_hash: str | None = None
) -> VoteRecord:
    tx = record.tx_hash if tx_hash is None else tx_hash
    return VoteRecord(status, record.choice, tx, record.raw, reason, record.subject)
