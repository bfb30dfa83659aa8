"""JSON-RPC methods for governance: proposals, votes, the council and the evolution archive.

Every answer is read from one consistent head state (`Ledger.governance_state`); shapes are the
`to_json` of ledger/governance/views.py (ids 0x-hex, addresses EIP-55, gas and weights as JSON
integers, ratios in ppm). An unknown proposal is -32001 (not found); a malformed id, status or
address is -32602.
"""

from __future__ import annotations

from avm.gas import MAX_SCHEDULE_VERSION, GasSchedule, ScheduleError, schedule_with
from avm.instructions import MAX_AVM_VERSION
from core.amounts import MAX_AMOUNT
from core.crypto import PUBKEY_SIZE
from core.encoding import Value
from core.errors import DecodeError, InvalidTransaction
from core.schema import MAX_U64
from ledger.chain_params import ChainParams, ChainParamsError
from ledger.governance.errors import InvalidSpec, UnknownProposal
from ledger.governance.params import GovernanceParams, ProposalKind, Role
from ledger.governance.payloads import (
    MAX_COUNCIL_CHANGE,
    MAX_POWER,
    MAX_VALIDATOR_CHANGES,
    AvmVersionSpec,
    CancelPayload,
    ChainParamsSpec,
    Choice,
    CodeChangeSpec,
    CouncilChangeSpec,
    GasScheduleSpec,
    NewMember,
    ParamsChangeSpec,
    PolicySpec,
    ProposalSpec,
    ProposePayload,
    RevertSpec,
    ValidatorsSpec,
    VotePayload,
)
from ledger.governance.proposals import Status, proposal_count
from ledger.governance.views import get_council, get_proposal, get_votes, list_proposals
from ledger.policy import MAX_POLICY_CALLERS, MAX_POLICY_ROLES, AgentPolicy
from node.node import Node
from node.rpc import params, views
from node.rpc.errors import invalid_params, not_found
from node.rpc.method_table import MethodTable
from node.rpc.params import Params, arg, max_args
from node.rpc.prefixes import Kind, full_id

ARCHIVE_PAGE = 20  # proposals per archive page unless the caller says
MAX_ARCHIVE_PAGE = 100
STATUSES = ", ".join(s.value for s in Status)
TABLE = MethodTable()


def _proposal_id(node: Node, args: Params) -> bytes:
    return full_id(node, Kind.PROPOSAL, arg(args, 0, "proposal id"), "proposal id")


@TABLE.method("aither_getProposal")
def get_proposal_method(node: Node, args: Params) -> dict[str, object]:
    """A proposal with its spec, old and new IR of the region, sandbox results, votes with
    their explanations and the tally (see ProposalView.to_json)."""
    max_args(args, 1)
    pid = _proposal_id(node, args)
    _, state, agents = node.ledger.governance_state()
    try:
        return get_proposal(state, pid, agents).to_json()
    except UnknownProposal:
        raise not_found(f"proposal {views.hexbytes(pid)}") from None


@TABLE.method("aither_listProposals")
def list_proposals_method(node: Node, args: Params) -> list[dict[str, object]]:
    """Proposals in submission order, optionally only those with `status` (submitted, voting,
    passed, enacted, rejected, vetoed, expired, cancelled, failed) and for `agent`."""
    max_args(args, 2)
    raw_status = arg(args, 0, "status", None)
    status = None
    if raw_status is not None:
        try:
            status = Status(raw_status)
        except ValueError:
            raise invalid_params(f"status must be one of {STATUSES}") from None
    raw_agent = arg(args, 1, "agent", None)
    agent = None if raw_agent is None else params.address(raw_agent, "agent")
    _, state, agents = node.ledger.governance_state()
    return [v.to_json() for v in list_proposals(state, status, agent, agents=agents)]


@TABLE.method("aither_getVotes")
def get_votes_method(node: Node, args: Params) -> list[dict[str, object]]:
    """The votes cast on a proposal (each member's last), with roles, weights and
    explanations."""
    max_args(args, 1)
    pid = _proposal_id(node, args)
    _, state, _ = node.ledger.governance_state()
    try:
        return [v.to_json() for v in get_votes(state, pid)]
    except UnknownProposal:
        raise not_found(f"proposal {views.hexbytes(pid)}") from None


@TABLE.method("aither_getCouncil")
def get_council_method(node: Node, args: Params) -> dict[str, object]:
    """The members (role, accuracy, weight), their total weight and the governance rules."""
    max_args(args, 0)
    head, state, _ = node.ledger.governance_state()
    doc = get_council(state).to_json()
    doc["blockNumber"] = views.hx(head.height)
    return doc


@TABLE.method("aither_getArchive")
def get_archive(node: Node, args: Params) -> dict[str, object]:
    """Every proposal ever filed, oldest first, a page at a time: {total, offset, limit,
    proposals}. `limit` is 1..100 (default 20)."""
    max_args(args, 2)
    offset = params.quantity(arg(args, 0, "offset", 0), "offset")
    limit = params.quantity(arg(args, 1, "limit", ARCHIVE_PAGE), "limit")
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


# ---- gas estimates (aither_estimateGas for propose, vote and cancel) ---------------------------

GovernancePayload = ProposePayload | VotePayload | CancelPayload
CHOICES = ", ".join(c.value for c in Choice)
KINDS = ", ".join(k.value for k in ProposalKind)
ROLES = ", ".join(r.value for r in Role)


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_params(f"{name} must be text")
    return value


def _list(value: object, name: str, limit: int) -> list[object]:
    """A list of at most `limit` entries, refused before any entry is read."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_params(f"{name} must be a list")
    if len(value) > limit:
        raise invalid_params(f"{name} lists at most {limit}")
    return value


def _new_member(entry: object) -> NewMember:
    if not isinstance(entry, dict):
        raise invalid_params("council.add entries must be objects {address, role, roleName?}")
    try:
        role = Role(entry.get("role"))
    except ValueError:
        raise invalid_params(f"council.add role must be one of {ROLES}") from None
    name = _text(entry.get("roleName"), "council.add roleName")
    return NewMember(params.address(entry.get("address"), "council.add address"), role,
                     "" if name == role.value else name)  # fmt: skip


def _policy(agent: bytes, doc: object) -> AgentPolicy:
    """{callers?, roles?, spendLimit?, periodSec?}, as aither_getPolicy shows one."""
    if not isinstance(doc, dict):
        raise invalid_params("policy must be an object {callers?, roles?, spendLimit?, periodSec?}")
    listed = _list(doc.get("callers", []), "policy.callers", MAX_POLICY_CALLERS)
    callers = sorted({params.address(c, "policy.callers") for c in listed})
    roles = _list(doc.get("roles", []), "policy.roles", MAX_POLICY_ROLES)
    if not all(isinstance(r, str) for r in roles):
        raise invalid_params("policy.roles must be role names")
    limit = params.quantity(doc.get("spendLimit", 0), "policy.spendLimit")
    period = params.quantity(doc.get("periodSec", 0), "policy.periodSec", MAX_U64)
    names: list[Value] = [r for r in sorted({str(r) for r in roles})]
    rules: list[Value] = [list(callers), names, limit, period]
    try:
        return AgentPolicy.from_rules(agent, rules)
    except (InvalidTransaction, DecodeError) as exc:
        raise invalid_params(f"policy: {exc}") from None


def proposal_spec(doc: object, in_force: GasSchedule) -> ProposalSpec:
    """A proposal described with the field names of `aither_getProposal`'s view:

    {kind: "code", agent, region, newIr, tests?, rationale?, deposit?}
    {kind: "params", params (the genesis form, as aither_getCouncil shows it), rationale?, deposit?}
    {kind: "council", council: {add: [{address, role, roleName?}], remove: [address]}, ...}
    {kind: "revert", agent, region, snapshot (a code id), emergency? (default true), ...}
    {kind: "policy", agent, policy: {callers?, roles?, spendLimit?, periodSec?}, ...}
    {kind: "chain", chainParams (the genesis form, as aither_getChainParams shows it), ...}
    {kind: "gas", gasSchedule: {version, costs: {name: milligas | [num, den]}}, ...}: the costs
      not named are those of `in_force`, the schedule in force
    {kind: "validators", validators: [{pubkey, power}] (power 0 removes), ...}
    {kind: "avm", avmVersion, ...}

    A missing deposit is taken at its widest (2**128 - 1), so an estimate is never short.
    Raises RpcError (invalid params) naming the bad field.
    """
    if not isinstance(doc, dict):
        raise invalid_params("spec must be an object, as aither_getProposal shows a proposal")
    rationale = _text(doc.get("rationale"), "rationale")
    raw_deposit = doc.get("deposit")
    deposit = MAX_AMOUNT if raw_deposit is None else params.quantity(raw_deposit, "deposit")
    kind = doc.get("kind")
    if kind == ProposalKind.CODE.value:
        return CodeChangeSpec(
            params.address(doc.get("agent"), "agent"),
            _text(doc.get("region"), "region"),
            _text(doc.get("newIr"), "newIr"),
            rationale,
            _text(doc.get("tests"), "tests"),
            deposit,
        )
    if kind == ProposalKind.PARAMS.value:
        rules = doc.get("params")
        if not isinstance(rules, dict):
            raise invalid_params("params must be an object (the genesis form)")
        try:
            return ParamsChangeSpec(GovernanceParams.from_json(rules), rationale, deposit)
        except InvalidSpec as exc:
            raise invalid_params(f"params: {exc}") from None
    if kind == ProposalKind.COUNCIL.value:
        change = doc.get("council")
        if not isinstance(change, dict):
            raise invalid_params("council must be an object {add, remove}")
        return CouncilChangeSpec(
            tuple(
                _new_member(m) for m in _list(change.get("add"), "council.add", MAX_COUNCIL_CHANGE)
            ),
            tuple(
                params.address(a, "council.remove address")
                for a in _list(change.get("remove"), "council.remove", MAX_COUNCIL_CHANGE)
            ),
            rationale,
            deposit,
        )
    if kind == ProposalKind.REVERT.value:
        emergency = doc.get("emergency", True)
        return RevertSpec(
            params.address(doc.get("agent"), "agent"),
            _text(doc.get("region"), "region"),
            params.hash32(doc.get("snapshot"), "snapshot"),
            rationale,
            deposit,
            params.flag(emergency, "emergency"),
        )
    if kind == ProposalKind.CHAIN.value:
        rules = doc.get("chainParams")
        if not isinstance(rules, dict):
            raise invalid_params("chainParams must be an object (as aither_getChainParams shows)")
        try:
            return ChainParamsSpec(ChainParams.from_json(rules), rationale, deposit)
        except ChainParamsError as exc:
            raise invalid_params(f"chainParams: {exc}") from None
    if kind == ProposalKind.GAS.value:
        schedule = doc.get("gasSchedule")
        if not (isinstance(schedule, dict) and isinstance(schedule.get("costs", {}), dict)):
            raise invalid_params("gasSchedule must be an object {version, costs: {name: cost}}")
        version = params.quantity(
            schedule.get("version"), "gasSchedule.version", MAX_SCHEDULE_VERSION
        )
        try:
            new = schedule_with(in_force, version, dict(schedule.get("costs", {})))
        except ScheduleError as exc:
            raise invalid_params(f"gasSchedule: {exc}") from None
        return GasScheduleSpec(new, rationale, deposit)
    if kind == ProposalKind.AVM.value:
        version = params.quantity(doc.get("avmVersion"), "avmVersion", MAX_AVM_VERSION)
        if version < 2:
            raise invalid_params(f"avmVersion must be in 2..{MAX_AVM_VERSION}")
        return AvmVersionSpec(version, rationale, deposit)
    if kind == ProposalKind.VALIDATORS.value:
        listed = _list(doc.get("validators"), "validators", MAX_VALIDATOR_CHANGES)
        changes: dict[bytes, int] = {}
        for entry in listed:
            if not isinstance(entry, dict):
                raise invalid_params("validators entries are objects {pubkey, power}")
            key = params.data(entry.get("pubkey"), "validators pubkey", PUBKEY_SIZE)
            if len(key) != PUBKEY_SIZE or key in changes:
                raise invalid_params("a validator is named once, by its 32-byte public key")
            changes[key] = params.quantity(entry.get("power"), "validators power", MAX_POWER)
        if not 0 < len(changes) <= MAX_VALIDATOR_CHANGES:
            raise invalid_params(f"validators lists 1..{MAX_VALIDATOR_CHANGES} changes")
        return ValidatorsSpec(tuple(sorted(changes.items())), rationale, deposit)
    if kind == ProposalKind.POLICY.value:
        agent = params.address(doc.get("agent"), "agent")
        return PolicySpec(_policy(agent, doc.get("policy")), rationale, deposit)
    raise invalid_params(f"spec.kind must be one of {KINDS}")


def governance_payload(
    kind: str, spec: dict[str, object], in_force: GasSchedule
) -> GovernancePayload:
    """The payload of a `propose` ({spec}), `vote` ({proposal, choice, explanation?}) or `cancel`
    ({proposal}) transaction described in an aither_estimateGas object. Raises RpcError."""
    if kind == "propose":
        return ProposePayload(proposal_spec(spec.get("spec"), in_force))
    proposal = params.hash32(spec.get("proposal"), "proposal")
    if kind == "cancel":
        return CancelPayload(proposal)
    try:
        choice = Choice(spec.get("choice"))
    except ValueError:
        raise invalid_params(f"choice must be one of {CHOICES}") from None
    return VotePayload(proposal, choice, _text(spec.get("explanation"), "explanation"))
