"""JSON-RPC methods for governance: proposals, votes, the council and the evolution archive.

Every answer is read from one consistent head state (`Ledger.governance_state`); shapes are the
`to_json` of ledger/governance_views.py (ids 0x-hex, addresses EIP-55, gas and weights as JSON
integers, ratios in ppm). An unknown proposal is -32001 (not found); a malformed id, status or
address is -32602.
"""

from __future__ import annotations

from ledger.governance import proposal_count
from ledger.governance_types import Status, UnknownProposal
from ledger.governance_views import (
    get_council,
    get_proposal,
    get_votes,
    list_proposals,
)
from node.node import Node
from node.rpc import params, views
from node.rpc.errors import invalid_params, not_found
from node.rpc.methods import Params, _arg, _max_args, method

ARCHIVE_PAGE = 20  # proposals per archive page unless the caller says
MAX_ARCHIVE_PAGE = 100
STATUSES = ", ".join(s.value for s in Status)


def _proposal_id(args: Params) -> bytes:
    return params.hash32(_arg(args, 0, "proposal id"), "proposal id")


@method("aither_getProposal")
def get_proposal_method(node: Node, args: Params) -> dict[str, object]:
    """A proposal with its spec, old and new IR of the region, sandbox results, votes with
    their explanations and the tally (see ProposalView.to_json)."""
    _max_args(args, 1)
    pid = _proposal_id(args)
    _, state, agents = node.ledger.governance_state()
    try:
        return get_proposal(state, pid, agents).to_json()
    except UnknownProposal:
        raise not_found(f"proposal {views.hexbytes(pid)}") from None


@method("aither_listProposals")
def list_proposals_method(node: Node, args: Params) -> list[dict[str, object]]:
    """Proposals in submission order, optionally only those with `status` (submitted, voting,
    passed, enacted, rejected, vetoed, expired, cancelled, failed) and for `agent`."""
    _max_args(args, 2)
    raw_status = _arg(args, 0, "status", None)
    status = None
    if raw_status is not None:
        try:
            status = Status(raw_status)
        except ValueError:
            raise invalid_params(f"status must be one of {STATUSES}") from None
    raw_agent = _arg(args, 1, "agent", None)
    agent = None if raw_agent is None else params.address(raw_agent, "agent")
    _, state, agents = node.ledger.governance_state()
    return [v.to_json() for v in list_proposals(state, status, agent, agents=agents)]


@method("aither_getVotes")
def get_votes_method(node: Node, args: Params) -> list[dict[str, object]]:
    """The votes cast on a proposal (each member's last), with roles, weights and
    explanations."""
    _max_args(args, 1)
    pid = _proposal_id(args)
    _, state, _ = node.ledger.governance_state()
    try:
        return [v.to_json() for v in get_votes(state, pid)]
    except UnknownProposal:
        raise not_found(f"proposal {views.hexbytes(pid)}") from None


@method("aither_getCouncil")
def get_council_method(node: Node, args: Params) -> dict[str, object]:
    """The members (role, accuracy, weight), their total weight and the governance rules."""
    _max_args(args, 0)
    head, state, _ = node.ledger.governance_state()
    doc = get_council(state).to_json()
    doc["blockNumber"] = views.hx(head.height)
    return doc


@method("aither_getArchive")
def get_archive(node: Node, args: Params) -> dict[str, object]:
    """Every proposal ever filed, oldest first, a page at a time: {total, offset, limit,
    proposals}. `limit` is 1..100 (default 20)."""
    _max_args(args, 2)
    offset = params.quantity(_arg(args, 0, "offset", 0), "offset")
    limit = params.quantity(_arg(args, 1, "limit", ARCHIVE_PAGE), "limit")
    if not 1 <= limit <= MAX_ARCHIVE_PAGE:
        raise invalid_params(f"limit must be 1..{MAX_ARCHIVE_PAGE}")
    head, state, agents = node.ledger.governance_state()
    page = list_proposals(state, offset=offset, limit=limit, agents=agents)
    return {
        "total": proposal_count(state),
        "offset": offset,
        "limit": limit,
        "proposals": [v.to_json() for v in page],
        "blockNumber": views.hx(head.height),
    }
