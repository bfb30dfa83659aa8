"""`aither gov`: read governance over JSON-RPC: proposals, votes, an agent's lineage.

    aither gov list [--status S] [--agent A]
    aither gov show ID          what it changes (the diff, or each parameter: in force ->
                                proposed), the sandbox table, the votes and the tally
    aither gov council          the members (address and identity name), roles and weights
    aither gov lineage AGENT    the agent's code versions as a tree
    aither gov export AGENT --html FILE [--metric LABEL] [--archive FILE]
                                a self-contained page: the lineage tree, the gas trend, each
                                version's score and, from an evolve archive, the generations'
    aither gov leaderboard [--metric LABEL] [--archive FILE]
                                the reviewers by agreement with outcomes, the agents' versions
                                by score and, from an evolve archive, its generations

Every command takes `--rpc URL` and `--json`; errors print one line and exit 1.
"""

from __future__ import annotations

import functools
import html
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from avm.disassembler import ir_diff
from avm.gas import schedule_from_json
from avm.metric import GAS_METRIC, Score, measure
from avm.validation import decode_code
from core.amounts import NATIVE_SYMBOL, format_amount
from ledger.chain_params import NAMES as CHAIN_PARAM_NAMES
from wallet.archive import read_archive
from wallet.options import Reader, console, reads

app = typer.Typer(help="Proposals, votes and agents' lineage.", no_args_is_help=True)

PPM = 1_000_000


def _short(hex_id: object) -> str:
    """An id as a prefix that commands take back (`aither gov show 0x5bff276a`)."""
    return "-" if not isinstance(hex_id, str) else hex_id[:10]


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _name(member: dict) -> str:
    """A member's identity name, or "-" when it holds none."""
    return member.get("name") or "-"


def _named(member: dict) -> str:
    """`0x... (name.avm)`, or the address alone when it holds no name."""
    name = member.get("name")
    return f"{member['address']} ({name})" if name else member["address"]


def _gas_change(before: object, after: object) -> str:
    if not isinstance(before, int) or not isinstance(after, int) or before == 0:
        return "new" if before is None else "-"
    return f"{100 * (after - before) / before:+.1f}%"


# ---- list ----------------------------------------------------------------------------------------


@app.command("list")
@reads
def list_proposals(
    status: Annotated[
        str | None, typer.Option("--status", help="voting, passed, enacted, rejected, ...")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's.")] = None,
    *,
    reader: Reader,
) -> None:
    """List proposals in submission order."""
    proposals = reader.call_list("aither_listProposals", status, agent)

    def human() -> None:
        if not proposals:
            console.print("no proposals")
            return
        table = Table(
            "#", "id", "kind", "status", "agent", "region", "submitted", "turnout", "yes share"
        )
        for p in proposals:
            tally = p["tally"]
            table.add_row(
                str(p["number"]),
                p["id"],
                p["kind"] + (" (emergency)" if p["emergency"] else ""),
                p["status"],
                p["agent"] or "-",
                p["region"] or "-",
                str(p["submittedHeight"]),
                _pct(tally["voted"], tally["total"]),
                _pct(tally["yes"], tally["yes"] + tally["no"] + tally["veto"]),
            )
        console.print(table)

    reader.emit(proposals, human)


# ---- parameters --------------------------------------------------------------------------------


def param_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[object]]:
    """The governance parameters (as aither_getCouncil shows them) that differ between `old` and
    `new`: name -> [old value, new value]; role weights as role_weights.ROLE."""
    changes: dict[str, list[object]] = {}
    for name, value in new.items():
        if isinstance(value, dict):
            before = old[name]
            for key, weight in value.items():
                if before.get(key) != weight:
                    changes[f"{name}.{key}"] = [before.get(key), weight]
        elif old.get(name) != value:
            changes[name] = [old.get(name), value]
    return changes


def param_text(name: str, value: object) -> str:
    """A parameter's value for people: the deposit in AVM, the rest as the chain counts them."""
    if name == "min_deposit" and value is not None:
        return f"{format_amount(int(str(value)))} {NATIVE_SYMBOL}"
    return json.dumps(value)


def policy_lines(policy: dict[str, Any] | None) -> list[tuple[str, str]]:
    """An agent's policy (as aither_getPolicy shows it; None, no policy, lets everything pass
    as an empty one does) for people."""
    policy = policy or {"callers": [], "roles": [], "spendLimit": "0x0", "periodSec": 0}
    limit = int(policy["spendLimit"], 16)
    spend = f"{format_amount(limit)} {NATIVE_SYMBOL} per {policy['periodSec']} s"
    return [
        ("callers", ", ".join(policy["callers"]) or "any"),
        ("roles", ", ".join(policy["roles"]) or "none needed"),
        ("spend limit", spend if limit else "none"),
    ]


# ---- show ----------------------------------------------------------------------------------------


@app.command("show")
@reads
def show(
    proposal: Annotated[str, typer.Argument(metavar="ID", help="Proposal id (0x-hex).")],
    html_file: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a page: a gas proposal's shadow replay chart."),
    ] = None,
    *,
    reader: Reader,
) -> None:
    """A proposal: status and heights, what it changes (the diff, each parameter in force ->
    proposed, the council's members), the sandbox table, the shadow replay, votes and tally."""
    p = reader.call_object("aither_getProposal", proposal)
    if html_file is not None:
        _write_page(html_file, render_proposal_html(p))
        p["file"] = str(html_file)
    if p["params"] is not None:  # what it changes: the parameters in force -> the proposed ones
        current = reader.call_object("aither_getCouncil")["params"]
        p["paramChanges"] = param_changes(current, p["params"])
    if p["chainParams"] is not None:  # the chain parameters in force -> the proposed ones
        answer = reader.call_object("aither_getChainParams")
        current = {name: answer[name] for name in CHAIN_PARAM_NAMES}
        p["chainParamChanges"] = param_changes(current, p["chainParams"])
    if p["gasSchedule"] is not None:  # each cost in force -> proposed
        now = reader.call_object("aither_getGasSchedule")
        p["gasChanges"] = param_changes(now["costs"], p["gasSchedule"]["costs"])
        p["gasVersionNow"] = now["version"]
    if p["validators"] is not None:  # each validator's power in force -> proposed
        now = reader.call_object("aither_getValidators")["validators"]
        powers = {v["pubkey"]: v["power"] for v in now}
        for v in p["validators"]:
            v["powerNow"] = powers.get(v["pubkey"], 0)
    if p["avmVersion"] is not None:
        p["avmNow"] = reader.call_object("aither_getChainParams")["avm_version"]
    if p["policy"] is not None:  # the agent's policy in force, to compare with the proposed one
        p["policyNow"] = reader.call("aither_getPolicy", p["agent"])
    reader.emit(p, lambda: _print_proposal(p))


def _print_shadow(shadow: dict | None) -> None:
    """A `gas` proposal's replay of the recent blocks: the totals, then each difference."""
    console.print("\n[bold]shadow replay[/bold] (the recent blocks under the proposed schedule)")
    if shadow is None:
        console.print("  not run yet")
        return
    if not shadow["transactions"]:
        console.print("  no transaction to replay in the blocks it covers")
        return
    console.print(
        f"  blocks {shadow['firstBlock']}..{shadow['lastBlock']}: {shadow['transactions']} "
        f"transactions, {shadow['outcomeChanges']} outcome changes, {shadow['gasChanges']} "
        f"gas changes; milligas {shadow['gasBefore']} -> {shadow['gasAfter']} "
        f"({_gas_change(shadow['gasBefore'], shadow['gasAfter'])})"
    )
    if shadow["diffs"]:
        table = Table("block", "tx", "before", "after", "milligas before", "milligas after",
                      "change", "error now")  # fmt: skip
        for d in shadow["diffs"]:
            table.add_row(
                str(d["block"]),
                d["tx"][:10],
                "ok" if d["okBefore"] else "failed",
                "ok" if d["okAfter"] else "FAILS",
                str(d["gasBefore"]),
                str(d["gasAfter"]),
                _gas_change(d["gasBefore"], d["gasAfter"]),
                d["error"] or "",
            )
        console.print(table)


def _print_proposal(p: dict) -> None:
    kind = p["kind"] + (" (emergency)" if p["emergency"] else "")
    console.print(f"[bold]proposal {p['id']}[/bold] #{p['number']}: {kind}, {p['status']}")
    if p["agent"]:
        console.print(f"  agent {p['agent']} region {p['region']}")
    deposit = format_amount(int(p["deposit"], 16))
    console.print(f"  proposer {p['proposer']}, deposit {deposit} {NATIVE_SYMBOL}")
    heights = [
        ("submitted", p["submittedHeight"]),
        ("voting ends", p["votingEndHeight"]),
        ("enacted at", p["enactHeight"]),
        ("closed", p["closedHeight"]),
    ]
    console.print("  " + ", ".join(f"{name} {h}" for name, h in heights if h is not None))
    if p["rationale"]:
        console.print(f"  rationale: {p['rationale']}", markup=False)
    if p["reason"]:
        console.print(f"  reason: {p['reason']}", markup=False)
    if p["revertedBy"]:
        console.print(f"  reverted by {p['revertedBy']}")
    if p["undoes"]:
        console.print(f"  undoes {', '.join(p['undoes'])}")
    if p["council"]:
        console.print("\n[bold]council change[/bold]")
        for m in p["council"]["add"]:
            console.print(f"  add {_named(m)} as {m['roleName']}", markup=False)
        for m in p["council"]["remove"]:
            console.print(f"  remove {_named(m)}", markup=False)
    if p["params"] is not None:
        console.print("\n[bold]parameters[/bold] (in force now -> proposed)")
        for name, (now, proposed) in p["paramChanges"].items():
            line = f"  {name}: {param_text(name, now)} -> {param_text(name, proposed)}"
            console.print(line, markup=False)
        if not p["paramChanges"]:
            console.print("  the proposed parameters are the ones in force")
    if p["chainParams"] is not None:
        console.print("\n[bold]chain parameters[/bold] (in force now -> proposed)")
        for name, (now, proposed) in p["chainParamChanges"].items():
            console.print(f"  {name}: {now} -> {proposed}", markup=False)
        if not p["chainParamChanges"]:
            console.print("  the proposed parameters are the ones in force")
    if p["gasSchedule"] is not None:
        versions = f"version {p['gasVersionNow']} in force now -> {p['gasSchedule']['version']}"
        console.print(f"\n[bold]gas schedule[/bold] ({versions}; milligas)")
        for name, (now, proposed) in p["gasChanges"].items():
            console.print(f"  {name}: {now} -> {proposed}", markup=False)
        if not p["gasChanges"]:
            console.print("  every cost is the one in force")
    if p["validators"] is not None:
        console.print("\n[bold]validators[/bold] (power in force now -> proposed; 0: removed)")
        for v in p["validators"]:
            line = f"  {v['address']} {v['pubkey'][:18]}..: {v['powerNow']} -> {v['power']}"
            console.print(line, markup=False)
    if p["avmVersion"] is not None:
        console.print(f"\n[bold]AVM version[/bold] {p['avmVersion']} for new code (in force now:"
                      f" {p['avmNow']}); deployed agents keep theirs")  # fmt: skip
    if p["policy"] is not None:
        console.print("\n[bold]policy[/bold] (in force now -> proposed)")
        now, proposed = dict(policy_lines(p["policyNow"])), policy_lines(p["policy"])
        for name, text in proposed:
            console.print(f"  {name}: {now[name]} -> {text}", markup=False)
    lines = ir_diff(p["oldIr"] or "", p["newIr"] or "")
    if lines:
        console.print("\n[bold]diff[/bold]")
        for line in lines:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else None
            console.print(line, style=style, markup=False)
    if p["tests"]:
        console.print("\n[bold]added tests[/bold]")
        console.print(p["tests"].rstrip(), markup=False)
    console.print("\n[bold]sandbox[/bold]")
    if p["sandbox"]:
        table = Table("test", "result", "milligas before", "milligas after", "change", "reason")
        for s in p["sandbox"]:
            table.add_row(
                s["test"],
                "pass" if s["passed"] else "FAIL",
                "-" if s["gasBefore"] is None else str(s["gasBefore"]),
                str(s["gasAfter"]),
                _gas_change(s["gasBefore"], s["gasAfter"]),
                s["reason"] or "",
            )
        console.print(table)
    else:
        console.print("  not run yet" if p["status"] == "submitted" else "  no tests")
    if p["kind"] == "gas":
        _print_shadow(p["shadow"])
    console.print("\n[bold]votes[/bold]")
    if p["votes"]:
        table = Table("member", "name", "role", "weight", "choice", "height", "explanation")
        for v in p["votes"]:
            table.add_row(
                v["member"],
                _name(v),
                v["roleName"] or "-",
                str(v["weight"]),
                v["choice"],
                str(v["height"]),
                v["explanation"],
            )
        console.print(table)
    else:
        console.print("  none yet")
    t = p["tally"]
    final = "final" if t["final"] else "so far"
    console.print(
        f"\n[bold]tally[/bold] ({final}): yes {t['yes']}, no {t['no']}, abstain {t['abstain']}, "
        f"veto {t['veto']}; voted {t['voted']} of {t['total']} "
        f"(quorum {t['quorum']}, {t['quorumPpm'] / 10_000:g}%); "
        f"yes share {_pct(t['yes'], t['yes'] + t['no'] + t['veto'])} "
        f"(must be above {t['thresholdPpm'] / 10_000:g}%), "
        f"veto share {_pct(t['veto'], t['voted'])} (bar {t['vetoPpm'] / 10_000:g}%)"
    )


# ---- council -------------------------------------------------------------------------------------


# A read at a past block: what was in force after it (the head's by default).
AtBlock = Annotated[
    str, typer.Option("--block", help="A block number or tag: as it was after that block.")
]


@app.command("chain")
@reads
def chain(
    block: AtBlock = "latest",
    *,
    reader: Reader,
) -> None:
    """The chain parameters in force (block gas limit, least gas price, block bytes, consensus
    timeouts), changed only by `chain` proposals (aither wallet propose-chain)."""
    doc = reader.call_object("aither_getChainParams", block)

    def human() -> None:
        console.print(f"chain parameters after block {doc['height']}")
        for name, value in doc.items():
            if name != "height":
                console.print(f"  {name}: {value}", markup=False)
        console.print("  (the gas schedule's costs: aither gov gas)")

    reader.emit(doc, human)


@app.command("gas")
@reads
def gas(
    block: AtBlock = "latest",
    *,
    reader: Reader,
) -> None:
    """The gas schedule in force: every cost the AVM charges, in milligas (a fraction of a
    milligas as num/den), changed only by `gas` proposals (aither wallet propose-gas)."""
    doc = reader.call_object("aither_getGasSchedule", block)

    def human() -> None:
        table = Table("cost", "milligas", title=f"gas schedule version {doc['version']} "
                      f"(after block {doc['height']})")  # fmt: skip
        for name, cost in doc["costs"].items():
            table.add_row(name, f"{cost[0]}/{cost[1]}" if isinstance(cost, list) else str(cost))
        console.print(table)

    reader.emit(doc, human)


@app.command("validators")
@reads
def validators(
    block: AtBlock = "latest",
    *,
    reader: Reader,
) -> None:
    """The validator set: each validator's address, public key and voting power, changed only
    by `validators` proposals (aither wallet propose-validators)."""
    doc = reader.call_object("aither_getValidators", block)

    def human() -> None:
        table = Table("address", "public key", "power", "share",
                      title=f"validators after block {doc['height']}")  # fmt: skip
        for v in doc["validators"]:
            share = f"{100 * v['power'] / doc['totalPower']:.1f}%"
            table.add_row(v["address"], v["pubkey"], str(v["power"]), share)
        console.print(table)

    reader.emit(doc, human)


@app.command("council")
@reads
def council(*, reader: Reader) -> None:
    """The council: each member's address and identity name, role, accuracy and weight; and
    the track each kind of proposal is decided on."""
    doc = reader.call_object("aither_getCouncil")

    def human() -> None:
        table = Table("member", "name", "role", "accuracy", "weight", "since")
        for m in doc["members"]:
            table.add_row(
                m["address"],
                _name(m),
                m["roleName"],
                f"{m['accuracyPpm'] / 10_000:g}%",
                str(m["weight"]),
                str(m["since"]),
            )
        console.print(table)
        console.print(f"total weight {doc['totalWeight']}")
        tracks = Table("kind", "least deposit", "voting (blocks)", "quorum", "threshold",
                       "enactment delay", title="tracks")  # fmt: skip
        for kind, t in doc["tracks"].items():
            tracks.add_row(
                kind,
                f"{format_amount(int(t['min_deposit']))} {NATIVE_SYMBOL}",
                str(t["voting_period"]),
                f"{t['quorum_ppm'] / 10_000:g}%",
                f"{t['threshold_ppm'] / 10_000:g}%",
                str(t["enactment_delay"]),
            )
        console.print(tracks)

    reader.emit(doc, human)


# ---- lineage -------------------------------------------------------------------------------------


def _steps(lineage: list[dict]) -> list[tuple[int | None, dict]]:
    """(index of the parent step or None, step) for every lineage step, in order: a step's
    parent is the latest earlier step that ran its first parent code id."""
    steps: list[tuple[int | None, dict]] = []
    for i, step in enumerate(lineage):
        parent = None
        wanted = step["parents"][0] if step["parents"] else None
        for j in range(i - 1, -1, -1):
            if lineage[j]["codeId"] == wanted:
                parent = j
                break
        steps.append((parent, step))
    return steps


def _step_label(step: dict) -> str:
    text = f"{_short(step['codeId'])} {step['kind']}"
    if step["region"]:
        text += f" of {step['region']}"
    gov = step.get("governance")
    if gov:
        tally = gov["tally"]
        deciding = tally["yes"] + tally["no"] + tally["veto"]
        text = (
            f"{_short(step['codeId'])} {gov['kind']} of {step['region']} by proposal "
            f"{_short(gov['proposalId'])}, enacted at {gov['enactedHeight']},"
            f" yes {_pct(tally['yes'], deciding)}, "
            f"milligas {gov['gasBefore']} -> {gov['gasAfter']}"
        )
        if gov["revertedBy"]:
            text += f", reverted by {_short(gov['revertedBy'])}"
    return text


@app.command("lineage")
@reads
def lineage(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="Agent address.")],
    *,
    reader: Reader,
) -> None:
    """The agent's code versions as a tree, with the proposal behind each council change."""
    steps = reader.call_list("aither_getLineage", agent)

    def human() -> None:
        tree = Tree(f"[bold]{agent}[/bold]")
        nodes: list[Tree] = []
        for parent, step in _steps(steps):
            under = tree if parent is None else nodes[parent]
            nodes.append(under.add(_step_label(step)))
        console.print(tree)

    reader.emit(steps, human)


# ---- export --------------------------------------------------------------------------------------


def gas_trend(steps: list[dict]) -> list[tuple[str, int]]:
    """(version label, gas of its sandbox tests) for the versions governance measured: the code
    before the first council change, then the code after each."""
    points: list[tuple[str, int]] = []
    for i, (parent, step) in enumerate(_steps(steps)):
        gov = step.get("governance")
        if not gov:
            continue
        if not points:
            before = "v?" if parent is None else f"v{parent}"
            points.append((f"{before} {step['parents'][0][:8]}", int(gov["gasBefore"])))
        points.append((version_label(i, step["codeId"]), int(gov["gasAfter"])))
    return points


def version_label(index: int, code_id: str) -> str:
    """`v2 0x1a2b3c`: a version's place in its agent's lineage and the start of its code id."""
    return f"v{index} {code_id[:8]}"


# ---- scores --------------------------------------------------------------------------------------

Metric = Annotated[
    str | None,
    typer.Option(
        "--metric",
        help="Score each version by what this entry label returns (an integer, higher is "
        "better); default: the milligas of all its tests (lower is better).",
    ),
]
ArchiveFile = Annotated[
    Path | None, typer.Option("--archive", help="An `aither evolve` archive (JSON lines).")
]


def measure_codes(reader: Reader, code_ids: list[str], metric: str | None) -> dict[str, Score]:
    """Each code id's code, read from the node and measured (`avm.metric.measure`) once however
    often it recurs (a revert brings an earlier version back), as the chain's sandbox would: under
    the gas schedule in force, all of a version's tests within the council's `sandbox_gas` (an
    agent's `.test` may declare any gas: a loop that never ends costs this, not forever)."""
    schedule = schedule_from_json(reader.call_object("aither_getGasSchedule"))
    budget = int(reader.call_object("aither_getCouncil")["params"]["sandbox_gas"])
    scores: dict[str, Score] = {}
    for code_id in code_ids:
        if code_id not in scores:
            found = reader.call_object("aither_getCode", code_id)
            code = decode_code(bytes.fromhex(found["code"][2:]))
            scores[code_id] = measure(code, metric, schedule, budget)
    return scores


def score_trend(steps: list[dict], scores: dict[str, Score]) -> list[tuple[str, Score]]:
    """(version label, its score) for every measured version of a lineage, oldest first."""
    return [
        (version_label(i, step["codeId"]), scores[step["codeId"]])
        for i, step in enumerate(steps)
        if step["codeId"] in scores
    ]


def generation_trend(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(label, score) along an evolve archive: the score before its first generation, then the
    score of each generation's candidate; generations without a score are left out."""
    points: list[tuple[str, int]] = []
    for record in records:
        before, after = record.get("scoreBefore"), record.get("scoreAfter")
        if not points and isinstance(before, int):
            points.append(("start", before))
        if isinstance(after, int):
            points.append((f"g{record['generation']}", after))
    return points


def agent_generations(records: list[dict[str, Any]], agent: str) -> list[dict[str, Any]]:
    """The generations of `agent` in an archive. Raises ValueError when it holds none, as an
    archive of another agent would."""
    own = [r for r in records if str(r.get("agent", "")).lower() == agent.lower()]
    if not own:
        raise ValueError(f"the archive holds no generation of {agent}")
    return own


# How each kind of lineage step reads in the page (governance steps name their proposal kind).
_STEP_NAMES = {
    "deploy": "deployed",
    "self_modify": "self-modified",
    "revert_code": "self-reverted",
    "fork": "forked",
    "crossover": "crossover",
}
_PROPOSAL_NAMES = {"code": "code change", "revert": "revert"}
_FILL_DEPLOY, _FILL_COUNCIL, _FILL_REVERTED = "#eeeeee", "#e3f0ff", "#fde2e2"


def _fit(text: str, chars: int) -> str:
    """`text` cut to `chars` characters with an ellipsis, so that it stays inside its box."""
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _columns(rows: list[tuple[int | None, dict]]) -> list[int]:
    """A column per step: a step continues its parent's column when it is the parent's first
    child, and opens a new column otherwise, so a straight history stays one column."""
    columns: list[int] = []
    continued: set[int] = set()
    for parent, _ in rows:
        if parent is not None and parent not in continued:
            continued.add(parent)
            columns.append(columns[parent])
        else:
            columns.append(max(columns, default=-1) + 1)
    return columns


def _step_lines(index: int, step: dict) -> tuple[str, str, str]:
    """(title, detail, fill colour) of a version's box."""
    gov = step.get("governance")
    what = _STEP_NAMES.get(step["kind"], step["kind"])
    if gov:
        what = _PROPOSAL_NAMES.get(gov["kind"], gov["kind"])
    title = f"v{index}  {step['codeId'][:18]}  {what}"
    details = [step["region"]] if step["region"] else []
    if gov:
        details.append(f"proposal {gov['proposalId'][:10]}, enacted at {gov['enactedHeight']}")
        if gov["revertedBy"]:
            details.append("reverted")
    elif step["kind"] == "deploy":
        details.append("the first version")
    fill = _FILL_DEPLOY
    if gov:
        fill = _FILL_REVERTED if gov["revertedBy"] else _FILL_COUNCIL
    return title, " · ".join(details), fill


def _svg_tree(steps: list[dict]) -> str:
    """One box per version, top to bottom in the order they ran, each joined to its parent."""
    rows = _steps(steps)
    columns = _columns(rows)
    box_w, box_h, gap_x, gap_y, stem = 390, 44, 40, 18, 24
    width = (max(columns, default=0) + 1) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y
    boxes: list[tuple[int, int]] = []
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height}" font-family="sans-serif">'
    ]
    for i, (parent, step) in enumerate(rows):
        x = gap_x + columns[i] * (box_w + gap_x)
        y = gap_y + i * (box_h + gap_y)
        boxes.append((x, y))
        if parent is not None:
            px, py = boxes[parent]
            # Straight down within a column; a branch leaves the parent's right side and runs
            # down the gutter left of its own column (each row holds one box, so it crosses none).
            path = f"M{px + stem} {py + box_h} V{y}"
            if px != x:
                mid = y + box_h // 2
                path = f"M{px + box_w} {py + box_h // 2} H{x - gap_x // 2} V{mid} H{x}"
            parts.append(
                f'<path class="edge" data-from="{rows[parent][1]["codeId"]}" '
                f'data-to="{step["codeId"]}" d="{path}" fill="none" stroke="#789" '
                'stroke-width="1.5"/>'
            )
        title, detail, fill = _step_lines(i, step)
        parts.append(
            f'<g class="version" data-code-id="{step["codeId"]}">'
            f"<title>{html.escape(title)}\n{html.escape(detail)}</title>"
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" '
            'stroke="#456"/>'
            f'<text x="{x + 8}" y="{y + 18}" font-size="13">{html.escape(_fit(title, 50))}</text>'
        )
        if detail:
            parts.append(
                f'<text x="{x + 8}" y="{y + 35}" font-size="11" fill="#555">'
                f"{html.escape(_fit(detail, 62))}</text>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    keys = (
        (_FILL_DEPLOY, "deployed or changed by the agent"),
        (_FILL_COUNCIL, "enacted by the council"),
        (_FILL_REVERTED, "enacted, later reverted"),
    )
    return (
        '<p class="legend">'
        + "".join(f'<span><i style="background:{fill}"></i>{text}</span>' for fill, text in keys)
        + "</p>"
    )


def _labelled(count: int, every: int) -> set[int]:
    """The indexes of the points that get labels: every `every`-th and the last."""
    shown = set(range(0, count, every))
    if count - 1 not in shown:
        shown.discard(max(i for i in shown if count - 1 - i < every))
        shown.add(count - 1)
    return shown


@dataclass(frozen=True, slots=True)
class LineChart:
    """What a line chart shows. `kind` names its classes (`KIND-trend` on the svg, `KIND-point`
    on each point, whose figure is in `data-FIELD`); `unit` follows a figure in its tooltip;
    `caption` is written above the plot; `empty` stands in for a chart with no point."""

    kind: str
    field: str
    unit: str
    caption: str
    empty: str


GAS_CHART = LineChart(
    "gas",
    "gas",
    "milligas",
    "milligas of the sandbox tests that ran on both versions",
    "No council change has sandbox figures yet.",
)


def score_chart(
    kind: str, metric: str, higher_is_better: bool, of_what: str, empty: str
) -> LineChart:
    """A chart of a metric's scores, its caption saying which way is better."""
    better = "higher" if higher_is_better else "lower"
    return LineChart(kind, "score", metric, f"{metric} {of_what} ({better} is better)", empty)


def _svg_trend(points: list[tuple[str, int]], chart: LineChart) -> str:
    """A line of figures, one point per version (or generation), from zero (or the lowest figure,
    when one is negative) up. A long history keeps the chart's width and labels fewer points
    (each has its figure as a tooltip)."""
    if not points:
        return f"<p>{html.escape(chart.empty)}</p>"
    pad, height, label_w = 60, 260, 90
    width = min(max(640, 2 * pad + label_w * (len(points) - 1)), 1000)
    low = min(0, *(v for _, v in points))
    span = (max(0, *(v for _, v in points)) - low) or 1
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    shown = _labelled(len(points), math.ceil(label_w / step))
    base = height - pad
    zero = base - round((height - 2 * pad) * -low / span)
    xy = [
        (pad + i * step, base - (height - 2 * pad) * (v - low) / span)
        for i, (_, v) in enumerate(points)
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{chart.kind}-trend" width="{width}" '
        f'height="{height}" font-family="sans-serif">',
        f'<line x1="{pad}" y1="{zero}" x2="{width - pad}" y2="{zero}" stroke="#333"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{base}" stroke="#333"/>',
        f'<text x="{pad - 6}" y="{zero + 4}" font-size="10" text-anchor="end">0</text>',
        '<polyline fill="none" stroke="#1565c0" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        + '"/>',
    ]
    for i, ((label, value), (x, y)) in enumerate(zip(points, xy, strict=True)):
        parts.append(
            f'<circle class="{chart.kind}-point" data-{chart.field}="{value}" '
            f'data-version="{html.escape(label)}" cx="{x:.1f}" cy="{y:.1f}" r="4" '
            f'fill="#1565c0"><title>{html.escape(label)}: {value} {html.escape(chart.unit)}'
            "</title></circle>"
        )
        if i in shown:
            parts.append(
                f'<text x="{x:.1f}" y="{y - 9:.1f}" font-size="11" text-anchor="middle">{value}'
                f'</text><text x="{x:.1f}" y="{base + 18}" font-size="10" '
                f'text-anchor="middle">{html.escape(label)}</text>'
            )
    parts.append(
        f'<text x="{pad}" y="{pad - 24}" font-size="11" fill="#555">'
        f"{html.escape(chart.caption)}</text></svg>"
    )
    return "".join(parts)


def _svg_shadow(diffs: list[dict]) -> str:
    """Each replayed transaction the proposed schedule changes, as a pair of bars: the milligas
    it used (grey) and uses now (blue; red when its outcome changes, with the error)."""
    if not diffs:
        return "<p>No replayed transaction changes under the proposed schedule.</p>"
    pad, bar, gap, height = 60, 12, 14, 280
    width = 2 * pad + len(diffs) * (2 * bar + gap)
    top = max(max(d["gasBefore"], d["gasAfter"]) for d in diffs) or 1
    base = height - pad
    scale = (height - 2 * pad) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="shadow" width="{width}" '
        f'height="{height}" font-family="sans-serif">',
        f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#333"/>',
        f'<text x="{pad}" y="{pad - 24}" font-size="11" fill="#555">milligas before (grey) and '
        "under the proposed schedule (blue; red: the outcome changes)</text>",
    ]
    for i, d in enumerate(diffs):
        x = pad + i * (2 * bar + gap)
        changed = d["okBefore"] != d["okAfter"]
        what = html.escape(
            f"block {d['block']} tx {d['tx'][:18]}: {d['gasBefore']} -> {d['gasAfter']} milligas"
            + (f", {'now fails: ' + (d['error'] or '') if d['okBefore'] else 'now succeeds'}"
               if changed else "")
        )  # fmt: skip
        for offset, gas, color in (
            (0, d["gasBefore"], "#9e9e9e"),
            (bar, d["gasAfter"], "#c62828" if changed else "#1565c0"),
        ):
            h = gas * scale
            parts.append(
                f'<rect class="shadow-bar" data-gas="{gas}" x="{x + offset}" y="{base - h:.1f}" '
                f'width="{bar}" height="{h:.1f}" fill="{color}"><title>{what}</title></rect>'
            )  # fmt: skip
        parts.append(
            f'<text x="{x + bar}" y="{base + 14}" font-size="9" text-anchor="middle">'
            f"{d['block']}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _write_page(path: Path, page: str) -> None:
    try:
        path.write_text(page)
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror}") from None


def render_proposal_html(p: dict) -> str:
    """A proposal's page, no external assets and no script: what it is, its tally and, for a
    `gas` proposal, the shadow replay as a chart and a table."""
    shadow = p.get("shadow")
    facts = [
        ("kind", p["kind"]),
        ("status", p["status"]),
        ("proposer", p["proposer"]),
        ("rationale", p["rationale"] or "-"),
        ("submitted at", p["submittedHeight"]),
        ("voting ends", p["votingEndHeight"]),
        ("enacted at", p["enactHeight"]),
    ]
    if p.get("gasSchedule"):
        facts.append(("gas schedule", f"version {p['gasSchedule']['version']}"))
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts
    )
    section = "<p>This proposal has no shadow replay (only `gas` proposals do).</p>"
    if shadow is not None:
        totals = (
            f"<p>Blocks {shadow['firstBlock']}..{shadow['lastBlock']}: "
            f"{shadow['transactions']} transactions replayed, {shadow['outcomeChanges']} outcome "
            f"changes, {shadow['gasChanges']} gas changes; milligas {shadow['gasBefore']} → "
            f"{shadow['gasAfter']} ({_gas_change(shadow['gasBefore'], shadow['gasAfter'])}).</p>"
        )
        lines = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
                d["block"], d["tx"][:18], "ok" if d["okBefore"] else "failed",
                "ok" if d["okAfter"] else "FAILS", d["gasBefore"], d["gasAfter"],
                _gas_change(d["gasBefore"], d["gasAfter"]), d["error"] or "")) + "</tr>"
            for d in shadow["diffs"]
        )  # fmt: skip
        head = ("block", "tx", "before", "after", "milligas before", "after", "change", "error")
        table = "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{lines}</table>"
        section = totals + _svg_shadow(shadow["diffs"]) + (table if shadow["diffs"] else "")
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>Proposal {html.escape(p['id'])}</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}"
        "h1{font-size:20px;word-break:break-all}h2{font-size:17px;margin-top:1.6em}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;"
        "font-size:13px;text-align:left;vertical-align:top}"
        "</style></head><body>"
        f"<h1>Proposal {html.escape(p['id'])}</h1><table>{rows}</table>"
        f"<h2>Shadow replay</h2>{section}"
        "</body></html>\n"
    )


def render_html(
    agent: str,
    steps: list[dict],
    scores: list[tuple[str, Score]],
    generations: list[dict[str, Any]] | None = None,
) -> str:
    """A page with no external assets and no script: inline CSS and inline SVGs (the lineage,
    the gas trend, each version's score as `scores` has it and, given an evolve archive's
    `generations`, the score over them)."""
    rows = []
    for i, step in enumerate(steps):
        gov = step.get("governance")
        if not gov:
            continue
        votes = "; ".join(
            f"{v['roleName']}: {v['choice']} ({v['explanation'][:120]})" for v in gov["votes"]
        )
        cells = (
            f"v{i}",
            gov["proposalId"][:18],
            _PROPOSAL_NAMES.get(gov["kind"], gov["kind"]),
            gov["enactedHeight"],
            f"{gov['gasBefore']} → {gov['gasAfter']}",
            (gov["revertedBy"] or "")[:18],
            votes,
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = ("version", "proposal", "kind", "enacted at", "milligas", "reverted by", "votes")
    table = (
        "<table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>No council change enacted yet.</p>"
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>Lineage of {html.escape(agent)}</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}"
        "h1{font-size:22px;word-break:break-all}h2{font-size:17px;margin-top:1.6em}"
        ".legend{font-size:12px;color:#444}.legend span{margin-right:1.5em;white-space:nowrap}"
        ".legend i{display:inline-block;width:12px;height:12px;border:1px solid #456;"
        "border-radius:3px;margin-right:5px;vertical-align:-2px}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;"
        "font-size:13px;text-align:left;vertical-align:top}td:not(:last-child),th"
        "{white-space:nowrap}td:nth-child(2),td:nth-child(6){font-family:monospace}"
        "</style></head><body>"
        f"<h1>Agent {html.escape(agent)}</h1>"
        f"<h2>Lineage</h2>{_legend()}{_svg_tree(steps)}"
        f"<h2>Gas of each version</h2>{_svg_trend(gas_trend(steps), GAS_CHART)}"
        f"<h2>Score of each version</h2>{_svg_scores(scores)}"
        + (
            ""
            if generations is None
            else f"<h2>Score over generations</h2>{_svg_generations(generations)}"
        )
        + f"<h2>Council changes</h2>{table}"
        "</body></html>\n"
    )


def _svg_scores(scores: list[tuple[str, Score]]) -> str:
    """Each version's score; a version whose metric has no value has no point."""
    if not scores:
        return "<p>No version to measure.</p>"
    first = scores[0][1]
    chart = score_chart(
        "score",
        first.metric,
        first.higher_is_better,
        "of each version, measured under the gas schedule in force",
        "No version has a value of the metric.",
    )
    return _svg_trend([(label, s.value) for label, s in scores if s.value is not None], chart)


def _svg_generations(records: list[dict[str, Any]]) -> str:
    """The score along an evolve archive (`generation_trend`), in the archive's metric."""
    first = records[0] if records else {}
    chart = score_chart(
        "generation",
        str(first.get("metric", GAS_METRIC)),
        bool(first.get("higherIsBetter", False)),
        "before the first generation, then of each generation's candidate",
        "The archive holds no scored generation.",
    )
    return _svg_trend(generation_trend(records), chart)


@app.command("export")
@reads
def export(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="Agent address.")],
    html_file: Annotated[Path, typer.Option("--html", help="Write the page here.")],
    metric: Metric = None,
    archive: ArchiveFile = None,
    *,
    reader: Reader,
) -> None:
    """Write a self-contained HTML page: the lineage tree, the gas trend of the versions, each
    version's score (measured here, under the gas schedule in force) and, with --archive, the
    score over the evolve generations of the agent."""
    steps = reader.call_list("aither_getLineage", agent)
    generations = None if archive is None else agent_generations(read_archive(archive), agent)
    latest = [step["codeId"] for step in steps[-MAX_VERSIONS:]]  # as the leaderboard measures
    scores = score_trend(steps, measure_codes(reader, latest, metric))
    _write_page(html_file, render_html(agent, steps, scores, generations))
    points = gas_trend(steps)
    data = {
        "file": str(html_file),
        "versions": len(steps),
        "gas": [{"version": label, "gas": gas} for label, gas in points],
        "scores": [{"version": label, "score": score.value} for label, score in scores],
    }
    reader.emit(data, lambda: console.print(f"wrote {html_file} ({len(steps)} versions)"))


# ---- leaderboard ---------------------------------------------------------------------------------

ARCHIVE_PAGE = 100  # proposals per aither_getArchive call (its most)
MAX_ARCHIVE_PAGES = 50
MAX_AGENTS = 20
MAX_VERSIONS = 50  # per agent: its latest
_PASSED = frozenset({"enacted", "passed", "failed"})  # failed: it passed the vote, then failed
_DECIDED = _PASSED | {"rejected", "vetoed"}
_CHOICES = ("yes", "no", "abstain", "veto")


def vote_agrees(choice: str, status: str) -> bool | None:
    """Whether a vote agreed with how its proposal ended (yes with a proposal that passed the
    vote, no or veto with one rejected or vetoed); None when it does not count: an abstention,
    or a proposal the vote did not decide (still open, expired, cancelled)."""
    if choice == "abstain" or status not in _DECIDED:
        return None
    return (choice == "yes") == (status in _PASSED)


def reviewer_agreement(members: list[dict], proposals: list[dict]) -> list[dict[str, Any]]:
    """Each council member (as aither_getCouncil lists it) with `counted` (its votes that count,
    see `vote_agrees`), `agreed` and `agreementPpm` (None before a vote counts) over
    `proposals`; the most agreeing first, then the most accurate. Votes of former members are
    not counted."""
    tallies = {m["address"]: [0, 0] for m in members}
    for proposal in proposals:
        for vote in proposal["votes"]:
            agrees = vote_agrees(vote["choice"], proposal["status"])
            tally = tallies.get(vote["member"])
            if agrees is not None and tally is not None:
                tally[0] += 1
                tally[1] += agrees
    rows = []
    for m in members:
        counted, agreed = tallies[m["address"]]
        ppm = agreed * PPM // counted if counted else None
        rows.append({**m, "counted": counted, "agreed": agreed, "agreementPpm": ppm})
    rows.sort(
        key=lambda r: (-1 if r["agreementPpm"] is None else r["agreementPpm"], r["accuracyPpm"]),
        reverse=True,
    )
    return rows


@dataclass(frozen=True, slots=True)
class VersionScore:
    """One version of an agent, measured."""

    agent: str
    version: int  # its place in the agent's lineage (v0: the deploy)
    code_id: str
    score: Score

    def to_json(self, rank: int | None) -> dict[str, object]:
        return {
            "rank": rank,
            "agent": self.agent,
            "version": self.version,
            "codeId": self.code_id,
            **self.score.to_json(),
        }


def _better_first(a: VersionScore, b: VersionScore) -> int:
    if a.score.ok != b.score.ok:  # a version whose tests fail is no contender, however cheap
        return -1 if a.score.ok else 1
    return -1 if a.score.beats(b.score) else 1 if b.score.beats(a.score) else 0


def rank_versions(versions: list[VersionScore]) -> list[VersionScore]:
    """Best first: those that pass every test by their metric (`Score.beats`: its direction;
    ties keep their order), then those that fail a test, then those whose metric has no value."""
    return sorted(versions, key=functools.cmp_to_key(_better_first))


def vote_summary(votes: list[dict]) -> str:
    """`4 yes 1 abstain`: the choices of an archive generation's votes, counted."""
    counts = Counter(str(v.get("choice")) for v in votes)
    known = [f"{counts[c]} {c}" for c in _CHOICES if counts[c]]
    other = [f"{n} {c}" for c, n in counts.items() if c not in _CHOICES]
    return " ".join(known + other) or "no votes"


def _votes(value: object) -> list[dict]:
    """An archive record's votes, whatever the file holds: its entries that are objects."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def generation_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An evolve archive's generations (`wallet.archive.read_archive`), one row each: where the
    change came from, the score before and after, the proposal (its id's start), its outcome
    and the votes counted."""
    return [
        {
            "generation": r["generation"],
            "agent": r.get("agent"),
            "region": r.get("region"),
            "source": r.get("source") or "-",
            "metric": r.get("metric"),
            "scoreBefore": r.get("scoreBefore"),
            "scoreAfter": r.get("scoreAfter"),
            "proposal": _short(r.get("proposal") or None),
            "status": r.get("status") or "-",
            "votes": vote_summary(_votes(r.get("votes"))),
        }
        for r in records
    ]


def _archive_proposals(reader: Reader, notes: list[str]) -> list[dict]:
    """Every proposal in the node's archive, oldest first, up to MAX_ARCHIVE_PAGES pages."""
    proposals: list[dict] = []
    for _ in range(MAX_ARCHIVE_PAGES):
        page = reader.call_object("aither_getArchive", len(proposals), ARCHIVE_PAGE)
        proposals += page["proposals"]
        if not page["proposals"] or len(proposals) >= page["total"]:
            return proposals
    notes.append(f"read the first {len(proposals)} of {page['total']} proposals")
    return proposals


def _named_agents(proposals: list[dict], notes: list[str]) -> list[str]:
    """The agents proposals name, in the order first named, at most MAX_AGENTS."""
    agents = list(dict.fromkeys(p["agent"] for p in proposals if p["agent"]))
    if len(agents) > MAX_AGENTS:
        notes.append(f"measured the first {MAX_AGENTS} of {len(agents)} agents proposals name")
    return agents[:MAX_AGENTS]


def _agent_versions(
    reader: Reader, agents: list[str], metric: str | None, notes: list[str]
) -> list[VersionScore]:
    """Each agent's latest MAX_VERSIONS versions, measured as the chain's sandbox would."""
    lineages = {agent: reader.call_list("aither_getLineage", agent) for agent in agents}
    kept: list[tuple[str, int, str]] = []
    for agent, steps in lineages.items():
        first = max(0, len(steps) - MAX_VERSIONS)
        if first:
            notes.append(f"{agent}: measured the latest {MAX_VERSIONS} of {len(steps)} versions")
        kept += [(agent, i, steps[i]["codeId"]) for i in range(first, len(steps))]
    scores = measure_codes(reader, [code_id for _, _, code_id in kept], metric)
    return [VersionScore(agent, i, code_id, scores[code_id]) for agent, i, code_id in kept]


def _print_leaderboard(
    reviewers: list[dict],
    versions: list[VersionScore],
    generations: list[dict] | None,
    notes: list[str],
    metric: str,
) -> None:
    table = Table(
        "member",
        "name",
        "role",
        "accuracy",
        "weight",
        "votes counted",
        "agreed",
        "agreement",
        title="reviewers (agreement with outcomes)",
    )
    for r in reviewers:
        table.add_row(
            r["address"],
            _name(r),
            r["roleName"],
            f"{r['accuracyPpm'] / 10_000:g}%",
            str(r["weight"]),
            str(r["counted"]),
            str(r["agreed"]),
            _pct(r["agreed"], r["counted"]),
        )
    console.print(table)
    if versions:
        better = "higher" if versions[0].score.higher_is_better else "lower"
        table = Table(
            "rank",
            "agent",
            "version",
            "code id",
            escape(metric),
            "tests passed",
            "problem",
            title=escape(f"versions by {metric} ({better} is better)"),
        )
        for rank, v in enumerate(versions, 1):
            score = v.score
            passed = sum(o.passed for o in score.tests)
            table.add_row(
                "-" if score.value is None else str(rank),
                v.agent,
                f"v{v.version}",
                _short(v.code_id),
                "-" if score.value is None else str(score.value),
                f"{passed}/{len(score.tests)}",
                escape(score.problem or "; ".join(score.failures)),
            )
        console.print(table)
    else:
        console.print("no agent named by a proposal")
    for note in notes:
        console.print(f"note: {note}", markup=False)
    if generations is not None:
        table = Table(
            "generation",
            "source",
            "score",
            "proposal",
            "status",
            "votes",
            title="evolve generations",
        )
        for g in generations:
            table.add_row(
                *(
                    escape(str(cell))
                    for cell in (
                        g["generation"],
                        g["source"],
                        f"{g['scoreBefore']} -> {g['scoreAfter']}",
                        g["proposal"],
                        g["status"],
                        g["votes"],
                    )
                )
            )
        console.print(table)


@app.command("leaderboard")
@reads
def leaderboard(
    metric: Metric = None,
    archive: ArchiveFile = None,
    *,
    reader: Reader,
) -> None:
    """The council's reviewers by how often their votes agreed with the outcome, the versions of
    the agents proposals name ranked by a metric (measured here, under the gas schedule in
    force) and, with --archive, the generations of an `aither evolve` run."""
    generations = None if archive is None else generation_rows(read_archive(archive))
    notes: list[str] = []
    proposals = _archive_proposals(reader, notes)
    reviewers = reviewer_agreement(reader.call_object("aither_getCouncil")["members"], proposals)
    versions = rank_versions(
        _agent_versions(reader, _named_agents(proposals, notes), metric, notes)
    )
    name = versions[0].score.metric if versions else metric or GAS_METRIC
    data = {
        "reviewers": reviewers,
        "versions": [
            v.to_json(i if v.score.value is not None else None) for i, v in enumerate(versions, 1)
        ],
        "generations": generations or [],
        "notes": notes,
    }
    reader.emit(data, lambda: _print_leaderboard(reviewers, versions, generations, notes, name))
