"""Read-only views of governance state for RPC, the CLI and the reviewer service.

Each view has `to_json()`: camelCase names, ids and code ids as 0x-hex, addresses EIP-55,
heights and gas (milligas) and weights as JSON integers, amounts as 0x-hex quantities (as
`eth_getBalance`), ratios in ppm. No floats. Shapes are in each `to_json` docstring. A council
member's address comes with its identity's name (`name`, null when it holds none).
"""

from __future__ import annotations

from dataclasses import dataclass

from avm.disassembler import disassemble_region
from avm.gas import schedule_to_json
from core.crypto import address_of, to_checksum_address
from ledger.governance.code_change import AgentCode
from ledger.governance.council import CouncilMember, load_council
from ledger.governance.params import GovernanceParams, Role, load_params
from ledger.governance.payloads import (
    AvmVersionSpec,
    ChainParamsSpec,
    CodeChangeSpec,
    CouncilChangeSpec,
    GasScheduleSpec,
    ParamsChangeSpec,
    PolicySpec,
    RevertSpec,
    ValidatorsSpec,
)
from ledger.governance.proposals import (
    LineageEdge,
    Proposal,
    Status,
    Tally,
    Vote,
    agent_proposal_ids,
    current_tally,
    lineage_edges,
    load_proposal,
    load_votes,
    proposal_count,
    proposal_id_at,
)
from ledger.identity import load_identity
from ledger.state import Store


def _validator_changes(spec: object) -> list[dict[str, object]] | None:
    if not isinstance(spec, ValidatorsSpec):
        return None
    return [
        {
            "pubkey": "0x" + key.hex(),
            "address": to_checksum_address(address_of(key)),
            "power": power,
        }
        for key, power in spec.changes
    ]


def _hex(raw: bytes | None) -> str | None:
    return None if raw is None else "0x" + raw.hex()


def _address(raw: bytes | None) -> str | None:
    return None if raw is None else to_checksum_address(raw)


def identity_name(store: Store, address: bytes) -> str | None:
    """The name `address`'s identity holds, None when it holds none or never registered."""
    found = load_identity(store, address)
    return None if found is None or not found.name else found.name


@dataclass(frozen=True, slots=True)
class VoteView:
    vote: Vote
    role: Role | None  # None: no longer on the council
    role_name: str
    weight: int  # as fixed at the proposal's submission
    name: str | None = None  # the member's identity name

    def to_json(self) -> dict[str, object]:
        """{member, name, role, roleName, weight, choice, explanation, height}"""
        return {
            "member": to_checksum_address(self.vote.member),
            "name": self.name,
            "role": None if self.role is None else self.role.value,
            "roleName": self.role_name,
            "weight": self.weight,
            "choice": self.vote.choice.value,
            "explanation": self.vote.explanation,
            "height": self.vote.height,
        }


@dataclass(frozen=True, slots=True)
class ProposalView:
    proposal: Proposal
    tally: Tally  # final, or the votes so far
    votes: tuple[VoteView, ...]
    old_ir: str | None  # the region's body before the change (None when unknown)
    new_ir: str | None  # the region's body the proposal brings
    # The identity names of the members a council change adds and removes, in its order.
    added_names: tuple[str | None, ...] = ()
    removed_names: tuple[str | None, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The whole record, for `aither_getProposal` and the reviewer service:

        {id, number, kind ("code"|"params"|"council"|"revert"|"policy"|"chain"|"gas"|
         "validators"|"avm"), status
         ("submitted"|"voting"|"passed"|"enacted"|"rejected"|"vetoed"|"expired"|"cancelled"|
         "failed"), emergency,
         proposer, agent, region, rationale, deposit, submittedHeight, votingEndHeight,
         enactHeight, closedHeight, baseCodeId, newCodeId, enactedCodeId, snapshot,
         oldIr, newIr, tests,
         params (GovernanceParams.to_json, for "params") | null,
         policy (AgentPolicy.to_json: {callers, roles, spendLimit, periodSec}, for "policy") | null,
         chainParams (ChainParams.to_json, the genesis form, for "chain") | null,
         gasSchedule ({version, costs: {name: milligas | [num, den]}}, for "gas") | null,
         validators ([{pubkey, address, power (0: removed)}], for "validators") | null,
         avmVersion (the version it enables, for "avm") | null,
         council: {add: [{address, name, role, roleName}], remove: [{address, name}]} | null,
         sandbox: [{test, passed, gasBefore, gasAfter, reason}],
         shadow (ShadowSummary.to_json: the replay of recent blocks, for "gas") | null,
         tally: {yes, no, abstain, veto, voted, total, quorum (the weight needed),
                 quorumPpm, thresholdPpm, vetoPpm, final},
         votes: [VoteView.to_json], revertedBy, undoes: [id], reason}
        Heights not reached yet are null.
        """
        p = self.proposal
        spec = p.spec
        tests = spec.tests_ir if isinstance(spec, CodeChangeSpec) else ""
        council = None
        if isinstance(spec, CouncilChangeSpec):
            council = {
                "add": [
                    {
                        "address": to_checksum_address(m.address),
                        "name": name,
                        "role": m.role.value,
                        "roleName": m.role_name or m.role.value,
                    }
                    for m, name in zip(spec.add, self.added_names, strict=True)
                ],
                "remove": [
                    {"address": to_checksum_address(a), "name": name}
                    for a, name in zip(spec.remove, self.removed_names, strict=True)
                ],
            }
        t = self.tally
        return {
            "id": _hex(p.id),
            "number": p.number,
            "kind": p.kind.value,
            "status": p.status.value,
            "emergency": p.emergency,
            "proposer": to_checksum_address(p.proposer),
            "agent": _address(p.agent),
            "region": p.region,
            "rationale": spec.rationale,
            "deposit": hex(spec.deposit),
            "submittedHeight": p.submitted_height,
            "votingEndHeight": p.voting_end_height,
            "enactHeight": p.enact_height,
            "closedHeight": p.closed_height,
            "baseCodeId": _hex(p.base_code_id),
            "newCodeId": _hex(p.new_code_id),
            "enactedCodeId": _hex(p.enacted_code_id),
            "snapshot": _hex(spec.snapshot) if isinstance(spec, RevertSpec) else None,
            "oldIr": self.old_ir,
            "newIr": self.new_ir,
            "tests": tests,
            "params": spec.params.to_json() if isinstance(spec, ParamsChangeSpec) else None,
            "policy": spec.policy.to_json() if isinstance(spec, PolicySpec) else None,
            "chainParams": spec.params.to_json() if isinstance(spec, ChainParamsSpec) else None,
            "gasSchedule": (
                schedule_to_json(spec.schedule) if isinstance(spec, GasScheduleSpec) else None
            ),
            "validators": _validator_changes(spec),
            "avmVersion": spec.version if isinstance(spec, AvmVersionSpec) else None,
            "council": council,
            "sandbox": [s.to_json() for s in p.sandbox],
            "shadow": None if p.shadow is None else p.shadow.to_json(),
            "tally": {
                "yes": t.yes,
                "no": t.no,
                "abstain": t.abstain,
                "veto": t.veto,
                "voted": t.voted,
                "total": t.total,
                "quorum": t.quorum_weight(p.rules),
                "quorumPpm": p.rules.quorum_ppm,
                "thresholdPpm": p.rules.threshold_ppm,
                "vetoPpm": p.rules.veto_ppm,
                "final": p.tally is not None,
            },
            "votes": [v.to_json() for v in self.votes],
            "revertedBy": _hex(p.reverted_by),
            "undoes": [_hex(i) for i in p.undoes],
            "reason": p.reason,
        }


@dataclass(frozen=True, slots=True)
class CouncilView:
    params: GovernanceParams
    members: tuple[CouncilMember, ...]
    names: tuple[str | None, ...]  # each member's identity name, in the members' order

    def to_json(self) -> dict[str, object]:
        """{members: [{address, name, role, roleName, accuracyPpm, weight, since}],
        totalWeight, params (GovernanceParams.to_json), tracks (each kind's track in force:
        {kind: {min_deposit, voting_period, quorum_ppm, threshold_ppm, enactment_delay}})}"""
        return {
            "members": [
                {**m.to_json(self.params), "name": name}
                for m, name in zip(self.members, self.names, strict=True)
            ],
            "totalWeight": sum(m.weight(self.params) for m in self.members),
            "params": self.params.to_json(),
            "tracks": self.params.track_table(),
        }


@dataclass(frozen=True, slots=True)
class LineageView:
    agent: bytes
    edges: tuple[tuple[LineageEdge, ProposalView], ...]  # oldest first

    def to_json(self) -> dict[str, object]:
        """{agent, edges: [{from, to, proposalId, kind, region, enactedHeight, tally, votes,
        sandbox, gasBefore, gasAfter}]}: code ids as a tree (each edge from the code it
        replaced), gasBefore/gasAfter the sums over the sandbox tests that ran on both."""
        edges = []
        for edge, view in self.edges:
            p = view.proposal
            doc = view.to_json()
            both = [s for s in p.sandbox if s.gas_before is not None]
            edges.append(
                {
                    "from": _hex(edge.parent_code_id),
                    "to": _hex(edge.code_id),
                    "proposalId": doc["id"],
                    "kind": doc["kind"],
                    "region": p.region,
                    "enactedHeight": edge.height,
                    "revertedBy": doc["revertedBy"],
                    "tally": doc["tally"],
                    "votes": doc["votes"],
                    "sandbox": doc["sandbox"],
                    "gasBefore": sum(s.gas_before or 0 for s in both),
                    "gasAfter": sum(s.gas_after for s in both),
                }
            )
        return {"agent": to_checksum_address(self.agent), "edges": edges}


def get_votes(store: Store, proposal_id: bytes) -> list[VoteView]:
    """Votes in electorate (address) order. Raises UnknownProposal."""
    return _vote_views(store, load_proposal(store, proposal_id))


def _vote_views(store: Store, proposal: Proposal) -> list[VoteView]:
    members = {m.address: m for m in load_council(store)}
    weights = dict(proposal.electorate)
    views = []
    for v in load_votes(store, proposal):
        member = members.get(v.member)
        role = None if member is None else member.role
        role_name = "" if member is None else (member.role_name or member.role.value)
        name = identity_name(store, v.member)
        views.append(VoteView(v, role, role_name, weights[v.member], name))
    return views


def get_proposal(store: Store, proposal_id: bytes, agents: AgentCode | None = None) -> ProposalView:
    """A proposal with its votes and tally. With `agents`, the old and new IR of the region
    are filled in. Raises UnknownProposal."""
    return _view(store, load_proposal(store, proposal_id), agents)


def _view(store: Store, p: Proposal, agents: AgentCode | None) -> ProposalView:
    old_ir = new_ir = None
    spec = p.spec
    if isinstance(spec, CodeChangeSpec):
        new_ir = spec.new_ir
    if isinstance(spec, CodeChangeSpec | RevertSpec) and agents is not None:
        base = None if p.base_code_id is None else agents.code_by_id(p.base_code_id)
        if base is not None and base.region(spec.region) is not None:
            old_ir = disassemble_region(base, spec.region)
        if isinstance(spec, RevertSpec):
            snapshot = agents.code_by_id(spec.snapshot)
            if snapshot is not None and snapshot.region(spec.region) is not None:
                new_ir = disassemble_region(snapshot, spec.region)
    votes = tuple(_vote_views(store, p))
    added: tuple[str | None, ...] = ()
    removed: tuple[str | None, ...] = ()
    if isinstance(spec, CouncilChangeSpec):
        added = tuple(identity_name(store, m.address) for m in spec.add)
        removed = tuple(identity_name(store, a) for a in spec.remove)
    return ProposalView(p, current_tally(store, p), votes, old_ir, new_ir, added, removed)


def list_proposals(
    store: Store,
    status: Status | None = None,
    agent: bytes | None = None,
    offset: int = 0,
    limit: int | None = None,
    agents: AgentCode | None = None,
) -> list[ProposalView]:
    """Proposals in submission order, filtered by status and target agent, then paged
    (`aither_listProposals`, and `aither_getArchive` with offset and limit)."""
    end = None if limit is None else offset + limit
    if agent is not None:
        ids = agent_proposal_ids(store, agent)
    elif status is None:  # the archive's pages: read only the page
        numbers = range(proposal_count(store))[offset:end]
        ids = [proposal_id_at(store, n) for n in numbers]
        offset, end = 0, None
    else:
        ids = [proposal_id_at(store, n) for n in range(proposal_count(store))]
    chosen = [load_proposal(store, pid) for pid in ids]
    if status is not None:
        chosen = [p for p in chosen if p.status is status]
    return [_view(store, p, agents) for p in chosen[offset:end]]


def get_council(store: Store) -> CouncilView:
    members = load_council(store)
    names = tuple(identity_name(store, m.address) for m in members)
    return CouncilView(load_params(store), members, names)


def get_lineage(store: Store, agent: bytes, agents: AgentCode | None = None) -> LineageView:
    """The code changes governance enacted on `agent`, oldest first, each with its proposal."""
    edges = tuple(
        (edge, _view(store, load_proposal(store, edge.proposal_id), agents))
        for edge in lineage_edges(store, agent)
    )
    return LineageView(agent, edges)
