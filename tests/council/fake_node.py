"""A small local JSON-RPC server standing in for the node's governance API.

It serves the proposal JSON that `aither_listProposals` / `aither_getProposal` will return,
answers the account, chain id and gas price calls a vote needs, and records every raw transaction
sent to it. A vote it accepts is added to the proposal's `votes`, as the chain would after
inclusion (turn that off with `include_votes = False`). It can drop connections or refuse
transactions to exercise the service's retries.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core.crypto import address_of, hash32, to_checksum_address, verify
from core.encoding import decode, encode
from ledger.governance.payloads import VotePayload
from ledger.tx import TxKind

CHAIN_ID = 7
GAS_PRICE = 10**9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proposal_json(
    pid: str,
    old_ir: str,
    new_ir: str,
    status: str = "voting",
    sandbox: list[dict[str, object]] | None = None,
    tests: str = "",
    votes: list[dict[str, object]] | None = None,
) -> dict[str, object]:
    """A proposal object with the keys the node will serve."""
    return {
        "id": pid,
        "kind": "region",
        "status": status,
        "agent": "0x" + "11" * 20,
        "region": "STRATEGY",
        "proposer": "0x" + "22" * 20,
        "rationale": "make it better",
        "submittedHeight": "0x10",
        "votingEndHeight": "0x40",
        "enactHeight": None,
        "oldIr": old_ir,
        "newIr": new_ir,
        "tests": tests,
        "sandbox": sandbox
        if sandbox is not None
        else [{"test": "gives_one", "passed": True, "gasBefore": "0x3e8", "gasAfter": "0x3e8"}],
        "tally": {"yes": "0x0", "no": "0x0", "abstain": "0x0", "veto": "0x0", "quorum": False},
        "votes": votes or [],
    }


class DecodedVote:
    """A vote transaction as the node received it, checked like the ledger would."""

    def __init__(self, raw: bytes) -> None:
        value = decode(raw)
        assert isinstance(value, list) and len(value) == 8
        chain_id, kind, pubkey, nonce, gas_limit, gas_price, payload, signature = value
        assert verify(pubkey, encode(value[:7]), signature), "bad signature"
        assert kind == TxKind.VOTE
        self.raw = raw
        self.chain_id, self.nonce, self.gas_limit, self.gas_price = (
            chain_id,
            nonce,
            gas_limit,
            gas_price,
        )
        self.sender = to_checksum_address(address_of(pubkey))
        self.vote = VotePayload.from_value(payload)


class FakeNode:
    """Use as a context manager; `url` is the JSON-RPC endpoint."""

    def __init__(self, proposals: list[dict[str, object]], port: int = 0) -> None:
        self.proposals = {str(p["id"]): p for p in proposals}
        self.received: list[DecodedVote] = []
        self.nonces: dict[str, int] = {}
        self.calls: list[str] = []
        self.include_votes = True
        self.drop_sends = 0  # close the connection on this many sendRawTransaction calls
        self.reject_with: str | None = None  # refuse transactions with this message
        # What aither_getProposal answers instead of the listed object (a proposal that moved on).
        self.detail_overrides: dict[str, dict[str, object]] = {}
        self.council: list[dict[str, object]] | None = None  # None: no aither_getCouncil
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeNode:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def votes_by(self, address: str) -> list[DecodedVote]:
        return [v for v in self.received if v.sender.lower() == address.lower()]

    def _call(self, method: str, params: list[object]) -> object:
        self.calls.append(method)
        if method == "aither_listProposals":
            status = params[0] if params else None
            return [p for p in self.proposals.values() if status in (None, p["status"])]
        if method == "aither_getProposal":
            pid = str(params[0])
            return self.detail_overrides.get(pid, self.proposals[pid])
        if method == "aither_getCouncil" and self.council is not None:
            return self.council
        if method == "aither_chainId":
            return hex(CHAIN_ID)
        if method == "eth_gasPrice":
            return hex(GAS_PRICE)
        if method == "aither_getAccount":
            address = str(params[0])
            return {"address": address, "pendingNonce": hex(self.nonces.get(address.lower(), 0))}
        if method == "aither_sendRawTransaction":
            return self._receive(bytes.fromhex(str(params[0])[2:]))
        if method == "aither_getTransactionReceipt":
            if not any("0x" + hash32(v.raw).hex() == params[0] for v in self.received):
                raise FileNotFoundError(f"transaction {params[0]}")
            return None  # sent, and (as far as this stand-in knows) pending
        raise LookupError(method)

    def _receive(self, raw: bytes) -> str:
        if self.reject_with is not None:
            raise PermissionError(self.reject_with)
        tx = DecodedVote(raw)
        tx_hash = "0x" + hash32(raw).hex()
        if any(v.raw == raw for v in self.received):
            return tx_hash  # the same bytes again: already known, nothing new
        self.received.append(tx)
        self.nonces[tx.sender.lower()] = tx.nonce + 1
        if self.include_votes:
            votes = self.proposals["0x" + tx.vote.proposal_id.hex()]["votes"]
            assert isinstance(votes, list)
            votes.append(
                {
                    "member": tx.sender,
                    "role": "SecurityAuditor",
                    "choice": tx.vote.choice.value,
                    "explanation": tx.vote.explanation,
                    "height": "0x20",
                }
            )
        return tx_hash

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        node = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                method, params = body["method"], body.get("params") or []
                with node._lock:
                    if method == "aither_sendRawTransaction" and node.drop_sends > 0:
                        node.drop_sends -= 1
                        node.calls.append(method)
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    try:
                        reply = {"result": node._call(method, params)}
                    except LookupError as exc:
                        reply = {"error": {"code": -32601, "message": f"no method {exc}"}}
                    except PermissionError as exc:
                        reply = {"error": {"code": -32010, "message": str(exc)}}
                    except FileNotFoundError as exc:
                        reply = {"error": {"code": -32001, "message": str(exc)}}
                data = json.dumps({"jsonrpc": "2.0", "id": body["id"], **reply}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
