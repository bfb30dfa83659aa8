"""`aither wallet propose|propose-params|propose-chain|propose-council|propose-policy|vote|
cancel`: council governance."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer

from avm.assembler import assemble_fragment
from avm.gas import (
    COST_NAMES,
    ScheduleError,
    schedule_from_value,
    schedule_to_json,
    schedule_with,
)
from avm.instructions import LATEST_VERSION, VERSIONS
from core.amounts import format_amount, parse_amount
from core.crypto import address_of, parse_address, to_checksum_address
from core.encoding import Value
from core.rpc import NOT_FOUND
from ledger.chain_params import NAMES as CHAIN_PARAM_NAMES
from ledger.chain_params import ChainParams, ChainParamsError
from ledger.governance.params import GovernanceParams, ProposalKind, Role
from ledger.governance.payloads import (
    AvmVersionSpec,
    ChainParamsSpec,
    Choice,
    CodeChangeSpec,
    CouncilChangeSpec,
    GasScheduleSpec,
    NewMember,
    ParamsChangeSpec,
    PolicySpec,
    RevertSpec,
    ValidatorsSpec,
)
from wallet.client import RpcClient, RpcClientError
from wallet.commands.gov import param_changes, param_text, policy_lines
from wallet.commands.roles import Callers, Holder, Period, PolicyRoles, SpendLimit, read_policy
from wallet.options import (
    Signer,
    console,
    err,
    finish,
    resolve,
    signed,
    submit,
)
from wallet.txbuilder import (
    build_cancel,
    build_propose,
    build_vote,
)

app = typer.Typer()


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(f"cannot read {what} {path}: {reason}") from None


def _full_id(client: RpcClient, text: str, kind: str = "proposal") -> bytes:
    """A proposal (or code) id, whole or by a unique prefix the node resolves."""
    if not re.fullmatch(r"0[xX][0-9a-fA-F]{4,64}", text):
        raise ValueError(f"{text!r} is not a {kind} id (0x and hex digits: whole, or a prefix)")
    return client.full_id(kind, text)


def min_deposit(client: RpcClient, kind: ProposalKind) -> int:
    """The least deposit of `kind`'s track."""
    council = client.call("aither_getCouncil")
    assert isinstance(council, dict)
    return int(str(council["tracks"][kind.value]["min_deposit"]))


def check_region(client: RpcClient, agent: bytes, region: str) -> None:
    """Refuse, before a fee is spent, a target the chain would refuse: no agent, no such region,
    a region that is not `council`. The chain checks again when it executes the proposal."""
    where = to_checksum_address(agent)
    try:
        info = client.call("aither_getAgent", where)
    except RpcClientError as exc:
        if exc.code == NOT_FOUND:
            raise ValueError(f"no agent at {where}") from None
        raise
    assert isinstance(info, dict)
    regions = {r["name"]: r["policy"] for r in info["regions"]}
    if region not in regions:
        names = ", ".join(regions) or "none"
        raise ValueError(f"the agent has no region {region} (its regions: {names})")
    if regions[region] == "locked":
        raise ValueError(f"region {region} is locked: no proposal may rewrite it")
    if regions[region] != "council":
        raise ValueError(f"region {region} is a `{regions[region]}` region: the agent rewrites it")


def _proposal(client: RpcClient, pid: bytes) -> dict[str, object]:
    """The proposal as aither_getProposal shows it; ValueError when there is none."""
    try:
        found = client.call("aither_getProposal", "0x" + pid.hex())
    except RpcClientError as exc:
        if exc.code == NOT_FOUND:
            raise ValueError(f"no proposal 0x{pid.hex()}") from None
        raise
    assert isinstance(found, dict)
    return found


def _check_voting(client: RpcClient, pid: bytes) -> None:
    """Refuse, before a fee is spent, a vote on an unknown proposal or one not in voting."""
    found = _proposal(client, pid)
    if found["status"] != "voting":
        raise ValueError(f"the proposal is {found['status']}, not in its voting period")


# A proposal may be withdrawn until its voting ends (ledger/governance/transition.py, `cancel`).
_CANCELLABLE = ("submitted", "voting")


def _check_cancellable(client: RpcClient, pid: bytes, sender: str) -> None:
    """Refuse, before a fee is spent, a cancel the chain would refuse: an unknown proposal,
    one `sender` did not file, or one past its voting period."""
    found = _proposal(client, pid)
    if found["proposer"] != sender:
        raise ValueError(
            f"only the proposer may cancel proposal 0x{pid.hex()}: it was filed by "
            f"{found['proposer']}, not {sender}"
        )
    if found["status"] not in _CANCELLABLE:
        raise ValueError(f"the proposal is {found['status']}: too late to cancel")


def submitted_id(client: RpcClient, result: dict[str, object]) -> str | None:
    if result["status"] != "ok":
        return None
    receipt = client.call("aither_getTransactionReceipt", result["hash"])
    assert isinstance(receipt, dict)
    for entry in receipt["logs"]:
        if entry["event"] == "ProposalSubmitted":
            return str(entry["args"][0])
    return None


def _deposit_units(client: RpcClient, kind: ProposalKind, deposit: str | None) -> int:
    """The deposit in base units: the minimum of `kind`'s track unless given; refused below it."""
    minimum = min_deposit(client, kind)
    units = minimum if deposit is None else parse_amount(deposit)
    if units < minimum:
        raise ValueError(
            f"the deposit is {format_amount(units)} AVM, the minimum {format_amount(minimum)} AVM"
        )
    return units


def _finish_proposal(
    as_json: bool, result: dict[str, object], what: str, summary: list[str]
) -> None:
    def details() -> None:
        for line in summary:
            console.print(f"  {line}", markup=False)
        if result.get("proposal"):
            console.print(f"  proposal {result['proposal']}")

    finish(as_json, result, what, details)


Deposit = Annotated[
    str | None, typer.Option("--deposit", help="AVM to escrow (default: the chain's minimum).")
]
Rationale = Annotated[str, typer.Option("--rationale", help="Why, for the council.")]


@app.command("propose")
@signed
def propose(
    agent: Annotated[
        str, typer.Argument(metavar="AGENT", help="Agent address, registered name or key name.")
    ],
    region: Annotated[str, typer.Argument(help="A `council` region of the agent.")],
    file: Annotated[
        Path | None,
        typer.Argument(metavar="FILE.air", help="The region's new body (IR text)."),
    ] = None,
    rationale: Rationale = "",
    tests: Annotated[
        Path | None, typer.Option("--tests", help="IR file of .test blocks to add.")
    ] = None,
    deposit: Deposit = None,
    revert_to: Annotated[
        str | None,
        typer.Option("--revert-to", help="Instead of FILE: restore the region from this code id."),
    ] = None,
    normal_track: Annotated[
        bool,
        typer.Option("--normal-track", help="With --revert-to: not the emergency track."),
    ] = False,
    *,
    signer: Signer,
) -> None:
    """Propose a new body for an agent's `council` region (or, with --revert-to, an earlier
    one); prints the proposal id. The council votes on it after the chain's sandbox run."""
    target = resolve(agent, signer.keystore, signer.rpc)
    if (file is None) == (revert_to is None):
        raise ValueError("give the new IR as FILE.air, or --revert-to CODE_ID (not both)")
    if normal_track and revert_to is None:
        raise ValueError("--normal-track applies to a revert (--revert-to)")
    new_ir = tests_ir = ""
    if file is not None:
        new_ir = _read_text(file, "IR file")
        assemble_fragment(new_ir, str(file))  # a file:line:col error before anything is sent
    if tests is not None:
        if revert_to is not None:
            raise ValueError("a revert brings back the snapshot's tests: --tests does not apply")
        tests_ir = _read_text(tests, "tests file")
    key = signer.key()
    with signer.client() as client:
        kind = ProposalKind.CODE if revert_to is None else ProposalKind.REVERT
        units = _deposit_units(client, kind, deposit)
        check_region(client, target, region)
        if revert_to is not None:
            snapshot = _full_id(client, revert_to, "code")
            spec: CodeChangeSpec | RevertSpec = RevertSpec(
                target, region, snapshot, rationale, units, not normal_track
            )
        else:
            spec = CodeChangeSpec(target, region, new_ir, rationale, tests_ir, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    result.update(agent=to_checksum_address(target), region=region, deposit=format_amount(units))
    _finish_proposal(signer.as_json, result, f"proposed a change to {region}", [])


# The parameters a `--set` may name, as aither_getCouncil shows them.
_PARAM_NAMES = tuple(
    f.name for f in fields(GovernanceParams) if f.name not in ("role_weights", "tracks")
)
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _assignment(entry: str, form: str) -> tuple[str, str]:
    """A --set entry NAME=VALUE as (name, value), both stripped; ValueError showing `form`."""
    name, sep, value = (part.strip() for part in entry.partition("="))
    if not sep or not name or not value:
        raise ValueError(f"--set {entry!r}: write {form}")
    return name, value


def _changed_params(
    current: dict[str, Any], sets: list[str], in_force: dict[str, Any]
) -> dict[str, object]:
    """The genesis-form parameters with each NAME=VALUE of `sets` applied (role weights as
    role_weights.ROLE=PPM; a kind's track as tracks.KIND.RULE=V, its other rules those
    `in_force`, as aither_getCouncil's tracks). Raises ValueError for a malformed or unknown
    entry."""
    weights = dict(current["role_weights"])
    tracks = {kind: dict(rules) for kind, rules in current.get("tracks", {}).items()}
    doc = {**current, "role_weights": weights, "tracks": tracks}
    for entry in sets:
        name, value = _assignment(entry, "NAME=VALUE, such as voting_period=20")
        if name.startswith("role_weights."):
            role = name.removeprefix("role_weights.")
            if role not in weights:
                roles = ", ".join(r.value for r in Role)
                raise ValueError(f"--set {name}: no role {role!r} (roles: {roles})")
            if not value.isdecimal():
                raise ValueError(f"--set {name}: a role weight is an integer (ppm)")
            weights[role] = int(value)
        elif name.startswith("tracks."):
            kind, _, rule = name.removeprefix("tracks.").partition(".")
            if kind not in in_force:
                raise ValueError(f"--set {name}: no proposal kind {kind!r} ({', '.join(in_force)})")
            if rule not in in_force[kind]:
                rules = ", ".join(in_force[kind])
                raise ValueError(f"--set {name}: write tracks.{kind}.RULE=V, RULE one of {rules}")
            tracks.setdefault(kind, dict(in_force[kind]))[rule] = value
        elif name == "burn_deposit_on_expiry":
            if value.lower() not in _BOOLEANS:
                raise ValueError(f"--set {name}: write true or false")
            doc[name] = _BOOLEANS[value.lower()]
        elif name in _PARAM_NAMES:
            doc[name] = value  # an integer in text; GovernanceParams.from_json checks it
        else:
            raise ValueError(f"--set {name}: no such parameter (see aither_getCouncil's params)")
    return doc


@app.command("propose-params")
@signed
def propose_params(
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="NAME=VALUE (repeatable), as aither_getCouncil's params show them: blocks, "
            "ppm, base units; role weights as role_weights.ROLE=PPM; a kind's track as "
            "tracks.KIND.RULE=V (aither gov council shows the tracks).",
        ),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    *,
    signer: Signer,
) -> None:
    """Propose new governance parameters: the current ones with each --set applied. Prints the
    proposal id; the council votes on it, and it applies when enacted."""
    if not sets:
        raise ValueError("say what changes: --set NAME=VALUE, such as --set voting_period=20")
    key = signer.key()
    with signer.client() as client:
        council = client.call("aither_getCouncil")
        assert isinstance(council, dict)
        current = council["params"]
        assert isinstance(current, dict)
        params = GovernanceParams.from_json(_changed_params(current, sets, council["tracks"]))
        changes = param_changes(current, params.to_json())
        if not changes:
            raise ValueError("nothing changes: every --set value is the current one")
        units = _deposit_units(client, ProposalKind.PARAMS, deposit)
        spec = ParamsChangeSpec(params, rationale, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    result.update(kind="params", changes=changes, deposit=format_amount(units))
    summary = [
        f"{name}: {param_text(name, old)} -> {param_text(name, new)}"
        for name, (old, new) in changes.items()
    ]
    _finish_proposal(signer.as_json, result, "proposed new parameters", summary)


def _new_member(entry: str) -> tuple[str, Role, str]:
    """An --add entry ADDRESS=ROLE as (who, role, custom role name); `who` is
    resolved to an address once the node is reached (`_member_address`)."""
    target, sep, role_text = entry.partition("=")
    if not sep or not target or not role_text:
        raise ValueError(f"--add {entry!r}: write ADDRESS=ROLE, such as 0x...=SecurityAuditor")
    kind, _, custom = role_text.partition(":")
    if kind.lower() == "custom":
        if not custom.strip() or len(custom.encode()) > 64:
            raise ValueError(f"--add {entry!r}: a custom role needs a name of 1..64 bytes")
        return target, Role.CUSTOM, custom.strip()
    found = next((r for r in Role if r.value.lower() == role_text.lower()), None)
    if found is None or found is Role.CUSTOM:
        roles = ", ".join(r.value for r in Role if r is not Role.CUSTOM)
        raise ValueError(f"--add {entry!r}: unknown role; use {roles} or custom:NAME")
    return target, found, ""


def _identity_names(client: RpcClient, add: list[NewMember]) -> list[str | None]:
    """The identity names of the members to add; refuses, before a fee is spent, one that has
    no registered identity (the chain refuses it too, when it files the proposal)."""
    names = []
    for member in add:
        where = to_checksum_address(member.address)
        found = client.call("aither_getIdentity", where)
        if not isinstance(found, dict):
            raise ValueError(
                f"{where} has no registered identity: only a registered identity can join the "
                "council (it registers first, with aither swarm register)"
            )
        names.append(found.get("name") or None)
    return names


def _check_council_change(council: dict, add: list[NewMember], remove: list[bytes]) -> None:
    """Refuse, before a fee is spent, a change the chain would refuse against the council as it
    is now. The chain checks again when it files the proposal and when it enacts it."""
    members = {parse_address(m["address"]) for m in council["members"]}
    added = [m.address for m in add]
    if len(set(added)) != len(added) or len(set(remove)) != len(remove):
        raise ValueError("a member is listed twice in the change")
    both = set(added) & set(remove)
    if both:
        raise ValueError(f"{to_checksum_address(both.pop())} cannot be added and removed at once")
    for address in added:
        if address in members:
            raise ValueError(f"{to_checksum_address(address)} is already a council member")
    for address in remove:
        if address not in members:
            raise ValueError(f"{to_checksum_address(address)} is not a council member")
    size = len(members) + len(added) - len(remove)
    if size == 0:
        raise ValueError("the council cannot be left empty")
    limit = int(council["params"]["max_council_size"])
    if size > limit:
        raise ValueError(f"the council has at most {limit} members")


def _named(member: dict[str, str | None]) -> str:
    """`0x... (name.avm)`, or the address alone when it holds no name."""
    return f"{member['address']} ({member['name']})" if member["name"] else str(member["address"])


@app.command("propose-chain")
@signed
def propose_chain(
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="NAME=VALUE (repeatable), as aither_getChainParams shows them: gas, base units "
            "per gas, bytes, milliseconds.",
        ),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    *,
    signer: Signer,
) -> None:
    """Propose new chain parameters (block gas limit, least gas price, block bytes, consensus
    timeouts): the ones in force with each --set applied. A protocol change, on the `chain`
    track. Prints the proposal id."""
    if not sets:
        raise ValueError(
            "say what changes: --set NAME=VALUE, such as --set block_gas_limit=500000000"
        )
    key = signer.key()
    with signer.client() as client:
        answer = client.call("aither_getChainParams")
        assert isinstance(answer, dict)
        current = {name: answer[name] for name in CHAIN_PARAM_NAMES}
        doc = dict(current)
        for entry in sets:
            name, value = _assignment(entry, "NAME=VALUE, such as block_gas_limit=1000")
            if name not in current:
                raise ValueError(f"--set {name}: no such chain parameter ({', '.join(current)})")
            doc[name] = value
        try:
            rules = ChainParams.from_json(doc)
        except ChainParamsError as exc:
            raise ValueError(str(exc)) from None
        changes = param_changes(current, rules.to_json())
        if not changes:
            raise ValueError("nothing changes: every --set value is the one in force")
        units = _deposit_units(client, ProposalKind.CHAIN, deposit)
        spec = ChainParamsSpec(rules, rationale, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    result.update(kind="chain", changes=changes, deposit=format_amount(units))
    summary = [f"{name}: {old} -> {new}" for name, (old, new) in changes.items()]
    _finish_proposal(signer.as_json, result, "proposed new chain parameters", summary)


@app.command("propose-gas")
@signed
def propose_gas(
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="COST=MILLIGAS (repeatable; a fraction as NUM/DEN), as aither gov gas lists them.",
        ),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version", min=2, help="The new schedule's version (default: next)."),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    *,
    signer: Signer,
) -> None:
    """Propose a new gas schedule: the one in force with each --set applied, as the next
    version. A protocol change, on the `gas` track; every node charges it from the block after
    enactment. Prints the proposal id."""
    if not sets:
        raise ValueError(
            "say what changes: --set COST=MILLIGAS, such as --set kv_store_per_byte=20"
        )
    costs: dict[str, Value] = {}
    for entry in sets:
        name, value = _assignment(entry, "COST=MILLIGAS or COST=NUM/DEN")
        num, slash, den = value.partition("/")
        if not (num.isdecimal() and (not slash or den.isdecimal())):
            raise ValueError(f"--set {entry!r}: write COST=MILLIGAS or COST=NUM/DEN")
        costs[name] = [int(num), int(den)] if slash else int(num)
    key = signer.key()
    with signer.client() as client:
        now = client.call("aither_getGasSchedule")
        assert isinstance(now, dict)
        current = schedule_from_value([now["version"], [now["costs"][n] for n in COST_NAMES]])
        try:
            schedule = schedule_with(current, version or current.version + 1, costs)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from None
        proposed = schedule_to_json(schedule)["costs"]
        changes = param_changes(now["costs"], proposed)
        if not changes:
            raise ValueError("nothing changes: every --set cost is the one in force")
        units = _deposit_units(client, ProposalKind.GAS, deposit)
        spec = GasScheduleSpec(schedule, rationale, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    result.update(kind="gas", version=schedule.version, changes=changes)
    result["deposit"] = format_amount(units)
    summary = [f"{name}: {old} -> {new} milligas" for name, (old, new) in changes.items()]
    _finish_proposal(signer.as_json, result, f"proposed gas schedule {schedule.version}", summary)


def _validator_key(text: str, current: list[dict[str, Any]]) -> bytes:
    """A validator named by its 0x public key (32 bytes), or by the address of one in the set."""
    raw = text.removeprefix("0x")
    if len(raw) == 64:
        try:
            return bytes.fromhex(raw)
        except ValueError:
            pass
    else:
        found = next((v for v in current if v["address"].lower() == text.lower()), None)
        if found is not None:
            return bytes.fromhex(found["pubkey"][2:])
    raise ValueError(
        f"{text!r} is neither a 32-byte public key (0x and 64 hex digits) nor the address of a "
        "validator in the set (aither gov validators)"
    )


@app.command("propose-validators")
@signed
def propose_validators(
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=POWER (repeatable): a validator's 0x public key (a new one) or its "
            "address (one in the set) and its voting power; 0 removes it.",
        ),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    *,
    signer: Signer,
) -> None:
    """Propose validator changes: a new key joins, a power changes, power 0 removes. At most a
    third of the voting power may change at once. A protocol change, on the `validators`
    track; the set changes from the block after enactment. Prints the proposal id."""
    if not sets:
        raise ValueError("say what changes: --set 0xPUBKEY=POWER (0 removes)")
    key = signer.key()
    with signer.client() as client:
        answer = client.call("aither_getValidators")
        assert isinstance(answer, dict)
        current = answer["validators"]
        changes: dict[bytes, int] = {}
        for entry in sets:
            who, power = _assignment(entry, "KEY=POWER, such as 0xab..=1")
            if not power.isdecimal():
                raise ValueError(f"--set {entry!r}: write KEY=POWER, such as 0xab..=1")
            changes[_validator_key(who, current)] = int(power)
        units = _deposit_units(client, ProposalKind.VALIDATORS, deposit)
        spec = ValidatorsSpec(tuple(sorted(changes.items())), rationale, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    before = {bytes.fromhex(v["pubkey"][2:]): v["power"] for v in current}
    listed = [
        {"pubkey": "0x" + k.hex(), "address": to_checksum_address(address_of(k)),
         "power": [before.get(k, 0), p]}
        for k, p in spec.changes
    ]  # fmt: skip
    result.update(kind="validators", changes=listed, deposit=format_amount(units))
    summary = [f"{v['address']}: power {v['power'][0]} -> {v['power'][1]}" for v in listed]
    _finish_proposal(signer.as_json, result, "proposed validator changes", summary)


@app.command("propose-avm")
@signed
def propose_avm(
    version: Annotated[
        int | None,
        typer.Option("--version", min=2, help="The AVM version to enable (default: the next)."),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    *,
    signer: Signer,
) -> None:
    """Propose a newer AVM version: once enacted, code assembled for it (`.avm N`) may be
    deployed; agents deployed before keep running under their own version. Every node must run
    software that knows the version, or it stops at the enactment height. A protocol change, on
    the `avm` track. Prints the proposal id."""
    key = signer.key()
    with signer.client() as client:
        rules = client.call("aither_getChainParams")
        assert isinstance(rules, dict)
        in_force = int(rules["avm_version"])
        wanted = in_force + 1 if version is None else version
        if wanted <= in_force:
            raise ValueError(f"AVM version {wanted} is not above the one in force, {in_force}")
        if wanted not in VERSIONS:
            err.print(
                f"warning: this aither knows AVM versions up to {LATEST_VERSION}; nodes must be "
                f"upgraded to run version {wanted} before it is enacted, or they stop there"
            )
        units = _deposit_units(client, ProposalKind.AVM, deposit)
        spec = AvmVersionSpec(wanted, rationale, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    result.update(kind="avm", version=wanted, current=in_force, deposit=format_amount(units))
    summary = [f"AVM version: {in_force} -> {wanted}"]
    _finish_proposal(signer.as_json, result, f"proposed AVM version {wanted}", summary)


@app.command("propose-council")
@signed
def propose_council(
    add: Annotated[
        list[str] | None,
        typer.Option(
            "--add",
            help="ADDRESS=ROLE (repeatable); ADDRESS is 0x-hex, a registered name (x.avm) or a "
            "keystore key and must have a registered identity; ROLE is SecurityAuditor, "
            "LatencyProfiler, MemoryOptimizer, RegressionHunter, StandardsEnforcer or custom:NAME.",
        ),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", help="ADDRESS of a member to remove (repeatable), as for --add."),
    ] = None,
    rationale: Rationale = "",
    deposit: Deposit = None,
    *,
    signer: Signer,
) -> None:
    """Propose council members to add (registered identities, at the initial accuracy) or
    remove. Prints the proposal id; the council votes on it, and the change applies when
    enacted."""
    if not add and not remove:
        raise ValueError("say who joins or leaves: --add ADDRESS=ROLE or --remove ADDRESS")
    entries = [_new_member(entry) for entry in add or []]
    key = signer.key()
    with signer.client() as client:
        joining = [
            NewMember(resolve(who, signer.keystore, signer.rpc), role, role_name)
            for who, role, role_name in entries
        ]
        leaving = [resolve(who, signer.keystore, signer.rpc) for who in remove or []]
        council = client.call("aither_getCouncil")
        assert isinstance(council, dict)
        _check_council_change(council, joining, leaving)
        names = _identity_names(client, joining)
        current = {parse_address(m["address"]): m.get("name") for m in council["members"]}
        units = _deposit_units(client, ProposalKind.COUNCIL, deposit)
        spec = CouncilChangeSpec(tuple(joining), tuple(leaving), rationale, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    added = [
        {
            "address": to_checksum_address(m.address),
            "name": name,
            "role": m.role.value,
            "roleName": m.role_name or m.role.value,
        }
        for m, name in zip(joining, names, strict=True)
    ]
    removed = [{"address": to_checksum_address(a), "name": current.get(a)} for a in leaving]
    result.update(kind="council", add=added, remove=removed, deposit=format_amount(units))
    summary = [f"add {_named(m)} as {m['roleName']}" for m in added]
    summary += [f"remove {_named(m)}" for m in removed]
    _finish_proposal(signer.as_json, result, "proposed a council change", summary)


@app.command("propose-policy")
@signed
def propose_policy(
    agent: Holder,
    caller: Callers = [],  # noqa: B006
    role: PolicyRoles = [],  # noqa: B006
    spend_limit: SpendLimit = "0",
    period: Period = 0,
    rationale: Rationale = "",
    deposit: Deposit = None,
    *,
    signer: Signer,
) -> None:
    """Propose the SECURITY_CHECK policy of an agent with a council region (its deployer may not
    set it). No option: a policy that lets everything pass. Prints the proposal id."""
    rules = read_policy(agent, caller, role, spend_limit, period, signer)
    key = signer.key()
    with signer.client() as client:
        now = client.call("aither_getPolicy", to_checksum_address(rules.agent))
        units = _deposit_units(client, ProposalKind.POLICY, deposit)
        spec = PolicySpec(rules, rationale, units)
        result = submit(client, build_propose(client, key, spec), signer.wait)
        result["proposal"] = submitted_id(client, result)
    result.update(kind="policy", agent=to_checksum_address(rules.agent), policy=rules.to_json())
    result.update(current=now, deposit=format_amount(units))
    summary = [f"{name}: {text}" for name, text in policy_lines(rules.to_json())]
    _finish_proposal(signer.as_json, result, "proposed a policy", summary)


ProposalId = Annotated[
    str, typer.Argument(metavar="ID", help="Proposal id (0x-hex, or a unique prefix).")
]


@app.command("vote")
@signed
def vote(
    proposal: ProposalId,
    choice: Annotated[str, typer.Argument(metavar="yes|no|abstain|veto")],
    why: Annotated[str, typer.Option("--why", help="The explanation the council reads.")] = "",
    *,
    signer: Signer,
) -> None:
    """Vote on a proposal in its voting period, as a council member (a later vote replaces an
    earlier one until the period ends)."""
    try:
        picked = Choice(choice.lower())
    except ValueError:
        raise ValueError(f"unknown choice {choice!r}; use yes, no, abstain or veto") from None
    with signer.client() as client:
        pid = _full_id(client, proposal)
        _check_voting(client, pid)
        key = signer.key()
        result = submit(client, build_vote(client, key, pid, picked, why), signer.wait)
    result.update(proposal="0x" + pid.hex(), choice=picked.value)
    finish(signer.as_json, result, f"voted {picked.value}")


@app.command("cancel")
@signed
def cancel(
    proposal: ProposalId,
    *,
    signer: Signer,
) -> None:
    """Withdraw your proposal before its voting ends (part of the deposit is burnt)."""
    with signer.client() as client:
        pid = _full_id(client, proposal)
        _check_cancellable(client, pid, signer.signer_address())
        key = signer.key()
        result = submit(client, build_cancel(client, key, pid), signer.wait)
    result.update(proposal="0x" + pid.hex())
    finish(signer.as_json, result, "cancelled the proposal")
