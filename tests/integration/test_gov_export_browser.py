"""`aither gov export AGENT --html FILE`, opened in a real browser (headless Chromium).

A live dev node holds an agent with four versions: its deploy, two code changes the council
enacted (the second costs more gas) and an emergency revert to the first. The page the CLI
writes is loaded in Chromium twice: once as it is, for a screenshot, and once as a copy with a
measuring script appended, which reports what the browser laid out (boxes, edges, points, text
extents, the resources it fetched) into the DOM that `--dump-dom` prints. The exported page
itself has no script: everything it shows is inline SVG and CSS.

`make test` installs Chromium (Debian's package); without it this test skips.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from programs import doubler

from genesis.dev import DEV_GOVERNANCE, dev_key
from ledger.governance.payloads import Choice
from wallet.client import RpcClient
from wallet.txbuilder import build_vote

if TYPE_CHECKING:
    from conftest import DevNode

Run = Callable[..., subprocess.CompletedProcess[str]]

CHROMIUM = shutil.which("chromium")
BROWSER_TIMEOUT = 90.0  # seconds for one headless load on a busy 2-core machine
WINDOW = (1280, 1400)

AGENT_IR = doubler()
V1 = ":strategy\n  ADD x, x -> ACC\n  RET\n"
V2 = ":strategy\n  ADD x, x -> ACC\n  NOP\n  NOP\n  NOP\n  RET\n"  # same answer, more gas
PARAMS = DEV_GOVERNANCE
VOTERS = (5, 6, 8)  # SecurityAuditor, LatencyProfiler, RegressionHunter: a quorum, all yes

# Appended to a copy of the page: reports the layout Chromium computed into <pre id="measured">.
MEASURE = """
<script>
const box = (e) => { const r = e.getBoundingClientRect();
  return [r.left, r.top, r.right, r.bottom].map(Math.round); };
const all = (root, sel) => [...root.querySelectorAll(sel)];
const tree = document.querySelector('svg.lineage');
const gas = document.querySelector('svg.gas-trend');
const report = {
  title: document.title,
  svgs: all(document, 'svg').length,
  tree: tree && { box: box(tree),
    versions: all(tree, 'g.version').map((g) => ({ codeId: g.dataset.codeId,
      box: box(g.querySelector('rect')),
      texts: all(g, 'text').map((t) => ({ text: t.textContent, box: box(t) })) })),
    edges: all(tree, 'path.edge').map((p) => ({ from: p.dataset.from, to: p.dataset.to,
      box: box(p), length: Math.round(p.getTotalLength()) })) },
  gas: gas && { box: box(gas),
    points: all(gas, 'circle.gas-point').map((c) => ({ gas: Number(c.dataset.gas),
      label: c.dataset.version, box: box(c) })),
    line: gas.querySelector('polyline').points.numberOfItems,
    labels: all(gas, 'text').map((t) => ({ text: t.textContent, box: box(t) })) },
  rows: all(document, 'table tr').length - 1,
  pageWidth: document.documentElement.scrollWidth,
  viewWidth: window.innerWidth,
  fetched: performance.getEntriesByType('resource').map((e) => e.name),
};
const out = document.createElement('pre');
out.id = 'measured';
out.textContent = JSON.stringify(report);
document.body.append(out);
</script>
"""


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", *args,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and the set of RGB colours of an 8-bit RGB or RGBA PNG (what Chromium
    writes), decoded by hand: no imaging library is needed for a colour census."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format {depth}/{colour}"
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * size
    previous, colours = bytearray(stride), set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, size))
        previous = line
    return width, height, colours


def inside(inner: list[int], outer: list[int], slack: int = 0) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture
def browser() -> str:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (`make test` installs it: apt-get install chromium)")
    return CHROMIUM


def test_exported_lineage_page_renders_in_chromium(
    browser: str, dev_node: DevNode, run_aither: Run, tmp_path: Path
) -> None:
    node = dev_node
    rpc = ("--rpc", node.url)

    def cli_json(*args: str) -> dict:
        done = run_aither(*args, *rpc, "--json")
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return json.loads(done.stdout)

    def tick_to(height: int) -> None:
        while node.height() < height:
            assert node.transfer(dev_key(3), dev_key(4).address, 1)["status"] == "0x1"

    def enact(proposal: str) -> None:
        """Yes from a quorum of members, then blocks until the proposal is enacted."""
        with RpcClient(node.url) as client:
            for member in VOTERS:
                raw = build_vote(client, dev_key(member), bytes.fromhex(proposal[2:]),
                                 Choice.YES, "looks right")  # fmt: skip
                assert node.wait_for_receipt(node.send_raw(raw))["status"] == "0x1"
        found = node.rpc("aither_getProposal", proposal)
        tick_to(found["votingEndHeight"] + (0 if found["emergency"] else PARAMS.enactment_delay))
        assert node.rpc("aither_getProposal", proposal)["status"] == "enacted"

    def propose(*args: str) -> str:
        filed = cli_json("wallet", "propose", agent, "STRATEGY", *args, "--dev-account", "1")
        assert filed["status"] == "ok", filed
        return str(filed["proposal"])

    # ---- chain state: four versions of one agent ------------------------------------------------
    (tmp_path / "agent.air").write_text(AGENT_IR)
    deployed = cli_json("wallet", "deploy", str(tmp_path / "agent.air"), "--dev-account", "0")
    agent = str(deployed["agent"])
    v0 = node.rpc("aither_getAgent", agent)["codeId"]
    for body, name in ((V1, "v1.air"), (V2, "v2.air")):
        (tmp_path / name).write_text(body)
        enact(propose(str(tmp_path / name), "--rationale", f"rewrite as {name}"))
    enact(propose("--revert-to", v0, "--rationale", "back to the first version"))
    lineage = node.rpc("aither_getLineage", agent)
    codes = [step["codeId"] for step in lineage]
    assert len(codes) == 4 and codes[0] == codes[3] == v0
    governed = [step["governance"] for step in lineage[1:]]
    gas = [governed[0]["gasBefore"], *(g["gasAfter"] for g in governed)]
    assert gas[0] == gas[3] and gas[2] > gas[1], gas  # the trend has a shape to draw

    # ---- the export ------------------------------------------------------------------------------
    page = tmp_path / "lineage.html"
    exported = cli_json("gov", "export", agent, "--html", str(page))
    assert exported["versions"] == 4 and [p["gas"] for p in exported["gas"]] == gas
    text = page.read_text()
    assert "<script" not in text
    # Self-contained: no URL but the SVG namespace (lineage, gas, score), no external stylesheet,
    # image or font.
    assert re.findall(r"(?:https?|ftp)://[^\s\"'<>]+", text) == ["http://www.w3.org/2000/svg"] * 3
    assert not re.search(r"\b(?:src|href)\s*=|@import|url\(", text)

    # ---- what Chromium drew ----------------------------------------------------------------------
    measured_page = tmp_path / "measured.html"
    measured_page.write_text(text.replace("</body>", MEASURE + "</body>"))
    dom = chromium("--dump-dom", measured_page.as_uri(), profile=tmp_path / "profile").stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    report = json.loads(html.unescape(found.group(1)))
    assert report["title"] == f"Lineage of {agent}" and report["svgs"] == 3
    assert report["fetched"] == []  # the browser loaded nothing besides the page

    tree = report["tree"]
    assert [v["codeId"] for v in tree["versions"]] == codes
    assert [(e["from"], e["to"]) for e in tree["edges"]] == list(itertools.pairwise(codes))
    for version in tree["versions"]:
        assert inside(version["box"], tree["box"]), version
        for label in version["texts"]:  # every line of text fits in its version's box
            assert inside(label["box"], version["box"]), (label, version["box"])
    for a, b in itertools.pairwise(tree["versions"]):
        assert not overlap(a["box"], b["box"]), (a["box"], b["box"])
    assert all(e["length"] > 0 and inside(e["box"], tree["box"], 1) for e in tree["edges"])

    chart = report["gas"]
    assert [p["gas"] for p in chart["points"]] == gas and chart["line"] == len(gas)
    assert [p["label"].split()[-1] for p in chart["points"]] == [c[:8] for c in codes]
    xs = [p["box"][0] for p in chart["points"]]
    ys = [p["box"][1] for p in chart["points"]]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert ys[2] < ys[1] and ys[0] == ys[3]  # more gas is drawn higher
    for label in chart["labels"]:
        assert inside(label["box"], chart["box"]), label
    for i, a in enumerate(chart["labels"]):
        for b in chart["labels"][i + 1 :]:
            assert not overlap(a["box"], b["box"]), (a, b)
    assert report["rows"] == 3  # one table row per council change
    assert report["pageWidth"] <= report["viewWidth"]  # nothing runs off to the side

    # ---- and as a person sees it -----------------------------------------------------------------
    shot = tmp_path / "lineage.png"
    chromium(f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "profile")
    width, height, colours = png_pixels(shot)
    assert (width, height) == WINDOW
    for colour in ((0xE3, 0xF0, 0xFF), (0x15, 0x65, 0xC0)):  # version boxes, the gas line
        assert colour in colours, f"#{bytes(colour).hex()} was not painted"
