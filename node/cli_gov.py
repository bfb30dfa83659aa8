"""`aither gov`: read governance over JSON-RPC: proposals, votes, an agent's lineage.

    aither gov list [--status S] [--agent A]
    aither gov show ID          the diff, the sandbox table, the votes and the tally
    aither gov lineage AGENT    the agent's code versions as a tree
    aither gov export AGENT --html FILE
                                a self-contained page: the lineage tree and the gas trend

Every command takes `--rpc URL` and `--json`; errors print one line and exit 1.
"""

from __future__ import annotations

import difflib
import html
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from ledger.amounts import NATIVE_SYMBOL, format_amount
from wallet.cli import AsJson, Rpc, friendly_errors
from wallet.client import DEFAULT_RPC, RpcClient

app = typer.Typer(help="Proposals, votes and agents' lineage.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

PPM = 1_000_000


def _emit(as_json: bool, data: object, human: Callable[[], None]) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        human()


def _short(hex_id: object) -> str:
    return "-" if not isinstance(hex_id, str) else hex_id[:10] + "…"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _gas_change(before: object, after: object) -> str:
    if not isinstance(before, int) or not isinstance(after, int) or before == 0:
        return "new" if before is None else "-"
    return f"{100 * (after - before) / before:+.1f}%"


# ---- list ----------------------------------------------------------------------------------------


@app.command("list")
@friendly_errors
def list_proposals(
    status: Annotated[
        str | None, typer.Option("--status", help="voting, passed, enacted, rejected, ...")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's.")] = None,
    rpc: Rpc = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """List proposals in submission order."""
    with RpcClient(rpc) as client:
        proposals = client.call("aither_listProposals", status, agent)
    assert isinstance(proposals, list)

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

    _emit(as_json, proposals, human)


# ---- show ----------------------------------------------------------------------------------------


def _diff(old: str | None, new: str | None) -> list[str]:
    return list(
        difflib.unified_diff(
            (old or "").splitlines(), (new or "").splitlines(), "before", "after", lineterm=""
        )
    )


@app.command("show")
@friendly_errors
def show(
    proposal: Annotated[str, typer.Argument(metavar="ID", help="Proposal id (0x-hex).")],
    rpc: Rpc = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """A proposal: status and heights, the diff, the sandbox table, votes and tally."""
    with RpcClient(rpc) as client:
        p = client.call("aither_getProposal", proposal)
    assert isinstance(p, dict)
    _emit(as_json, p, lambda: _print_proposal(p))


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
    lines = _diff(p["oldIr"], p["newIr"])
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
        table = Table("test", "result", "gas before", "gas after", "change", "reason")
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
    console.print("\n[bold]votes[/bold]")
    if p["votes"]:
        table = Table("member", "role", "weight", "choice", "height", "explanation")
        for v in p["votes"]:
            table.add_row(
                v["member"],
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
            f" yes {_pct(tally['yes'], deciding)}, gas {gov['gasBefore']} -> {gov['gasAfter']}"
        )
        if gov["revertedBy"]:
            text += f", reverted by {_short(gov['revertedBy'])}"
    return text


@app.command("lineage")
@friendly_errors
def lineage(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="Agent address.")],
    rpc: Rpc = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """The agent's code versions as a tree, with the proposal behind each council change."""
    with RpcClient(rpc) as client:
        steps = client.call("aither_getLineage", agent)
    assert isinstance(steps, list)

    def human() -> None:
        tree = Tree(f"[bold]{agent}[/bold]")
        nodes: list[Tree] = []
        for parent, step in _steps(steps):
            under = tree if parent is None else nodes[parent]
            nodes.append(under.add(_step_label(step)))
        console.print(tree)

    _emit(as_json, steps, human)


# ---- export --------------------------------------------------------------------------------------


def gas_trend(steps: list[dict]) -> list[tuple[str, int]]:
    """(version label, gas of its sandbox tests) for the versions governance measured: the code
    before the first council change, then the code after each."""
    points: list[tuple[str, int]] = []
    for i, step in enumerate(steps):
        gov = step.get("governance")
        if not gov:
            continue
        if not points:
            points.append((f"v{i - 1} {step['parents'][0][:8]}", int(gov["gasBefore"])))
        points.append((f"v{i} {step['codeId'][:8]}", int(gov["gasAfter"])))
    return points


def _svg_tree(steps: list[dict]) -> str:
    rows = _steps(steps)
    depth: list[int] = []
    for parent, _ in rows:
        depth.append(0 if parent is None else depth[parent] + 1)
    box_w, box_h, gap_x, gap_y = 300, 44, 40, 18
    width = (max(depth, default=0) + 1) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    centre: list[tuple[int, int]] = []
    for i, (parent, step) in enumerate(rows):
        x = gap_x + depth[i] * (box_w + gap_x)
        y = gap_y + i * (box_h + gap_y)
        centre.append((x, y + box_h // 2))
        if parent is not None:
            px, py = centre[parent]
            parts.append(
                f'<path d="M{px + 12} {py + box_h // 2} V{y + box_h // 2} H{x}" '
                'fill="none" stroke="#888"/>'
            )
        gov = step.get("governance")
        fill = "#fde2e2" if gov and gov["revertedBy"] else "#e3f0ff" if gov else "#eee"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" '
            'stroke="#456"/>'
        )
        title = f"{step['kind']} {step['codeId'][:18]}"
        sub = step["region"] or ""
        if gov:
            sub = f"{sub} #{gov['proposalId'][:10]} at {gov['enactedHeight']}"
        parts.append(
            f'<text x="{x + 8}" y="{y + 18}" font-size="13">{html.escape(title)}</text>'
            f'<text x="{x + 8}" y="{y + 35}" font-size="11" fill="#555">{html.escape(sub)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg_gas(points: list[tuple[str, int]]) -> str:
    if not points:
        return "<p>No council change has sandbox figures yet.</p>"
    width, height, pad = 640, 260, 50
    top = max(g for _, g in points) or 1
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    xy = [
        (pad + i * step, height - pad - (height - 2 * pad) * g / top)
        for i, (_, g) in enumerate(points)
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#333"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#333"/>',
        '<polyline fill="none" stroke="#1565c0" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        + '"/>',
    ]
    for (label, gas), (x, y) in zip(points, xy, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#1565c0"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{y - 8:.1f}" font-size="11" text-anchor="middle">{gas}</text>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{height - pad + 16}" font-size="10" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    parts.append(
        f'<text x="12" y="{pad - 14}" font-size="11">milligas of the sandbox tests</text></svg>'
    )
    return "".join(parts)


def render_html(agent: str, steps: list[dict]) -> str:
    """A page with no external assets: inline CSS and two inline SVGs."""
    rows = []
    for step in steps:
        gov = step.get("governance")
        if not gov:
            continue
        votes = "; ".join(
            f"{v['roleName']}: {v['choice']} ({v['explanation'][:120]})" for v in gov["votes"]
        )
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(cell))}</td>"
                for cell in (
                    gov["proposalId"][:18],
                    gov["kind"],
                    gov["enactedHeight"],
                    f"{gov['gasBefore']} -> {gov['gasAfter']}",
                    votes,
                )
            )
            + "</tr>"
        )
    table = (
        "<table><tr><th>proposal</th><th>kind</th><th>enacted</th><th>gas</th><th>votes</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>No council change enacted yet.</p>"
    )
    return (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>Lineage of {html.escape(agent)}</title><style>"
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;"
        "font-size:13px;text-align:left;vertical-align:top}"
        "</style></head><body>"
        f"<h1>Agent {html.escape(agent)}</h1>"
        f"<h2>Lineage</h2>{_svg_tree(steps)}"
        f"<h2>Gas of each version</h2>{_svg_gas(gas_trend(steps))}"
        f"<h2>Council changes</h2>{table}"
        "</body></html>\n"
    )


@app.command("export")
@friendly_errors
def export(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="Agent address.")],
    html_file: Annotated[Path, typer.Option("--html", help="Write the page here.")],
    rpc: Rpc = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Write a self-contained HTML page: the lineage tree and the gas trend of the versions."""
    with RpcClient(rpc) as client:
        steps = client.call("aither_getLineage", agent)
    assert isinstance(steps, list)
    html_file.write_text(render_html(agent, steps))
    points = gas_trend(steps)
    data = {
        "file": str(html_file),
        "versions": len(steps),
        "gas": [{"version": label, "gas": gas} for label, gas in points],
    }
    _emit(as_json, data, lambda: console.print(f"wrote {html_file} ({len(steps)} versions)"))
