"""The explorer in a real browser (Debian's Chromium driven by Playwright) against a live dev node.

Each page must show what JSON-RPC says; the head must move without a reload when a block is
committed; search finds by id prefix and by name; the page fetches nothing from outside
127.0.0.1 and logs no console error; at 1280 and 390 px wide nothing overflows sideways. The
screenshots land in the test's directory (README's are made by this test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import httpx
from browser import (
    WAIT_MS,
    Watched,
    needs_chromium,
    png_width,
)
from programs import doubler, scorer

from core.amounts import format_amount
from core.crypto import to_checksum_address
from genesis.dev import dev_key

if TYPE_CHECKING:
    from conftest import DevNode
    from playwright.sync_api import Browser

AITHER = str(Path(sys.executable).with_name("aither"))
pytestmark = needs_chromium


def test_every_page_shows_the_chain(dev_node: DevNode, browser: Browser, tmp_path: Path) -> None:
    node = dev_node
    sender = dev_key(0)
    receipt = node.transfer(sender, dev_key(9).address, 10**18)
    tx_hash = str(receipt["transactionHash"])
    source = tmp_path / "scorer.air"
    source.write_text(scorer())
    deploy = [AITHER, "wallet", "deploy", str(source), "--dev-account", "1", "--json"]
    deployed = subprocess.run([*deploy, "--rpc", node.url], capture_output=True, text=True)
    agent = json.loads(deployed.stdout)["agent"]

    watched = Watched(browser, 1280)
    page = watched.open(node.url + "/")
    height = int(str(node.rpc("aither_blockNumber")), 16)
    assert page.inner_text("#head-number") == str(height)
    rows = page.locator("#view table tr")
    assert rows.nth(1).locator("td").first.inner_text() == str(height)
    assert rows.count() == 1 + height + 1  # header, then blocks height..0 (fewer than 12 here)
    page.screenshot(path=str(tmp_path / "explorer-home-1280.png"), full_page=True)

    # The head moves without a reload: a new block appears on top.
    node.transfer(dev_key(2), dev_key(3).address, 1)
    page.wait_for_function(
        f"() => document.getElementById('head-number').textContent === '{height + 1}'",
        timeout=WAIT_MS,
    )
    page.wait_for_function(
        "() => document.querySelector('#view table tr:nth-child(2) td').textContent === "
        f"'{height + 1}'",
        timeout=WAIT_MS,
    )

    # A block, its transaction, an account, an agent: each as JSON-RPC says.
    block_number = int(str(receipt["blockNumber"]), 16)
    text = watched.go(f"#/block/{block_number}").inner_text("#view")
    assert f"Block {block_number}" in text and tx_hash[:10] in text
    text = watched.go(f"#/tx/{tx_hash}").inner_text("#view")
    assert tx_hash in text and "success" in text and to_checksum_address(sender.address) in text
    account = node.rpc("aither_getAccount", to_checksum_address(sender.address))
    assert isinstance(account, dict)
    text = watched.go(f"#/address/{account['address']}").inner_text("#view")
    assert f"{format_amount(int(str(account['balance']), 16))} AVM" in text
    assert tx_hash[:10] in text  # its history
    text = watched.go(f"#/address/{agent}").inner_text("#view")
    assert text.startswith(f"Agent {agent}") and "TUNING" in text and "council" in text
    assert "No policy: every caller passes." in text  # aither_getPolicy: none set
    code = node.rpc("aither_getCode", agent)
    assert isinstance(code, dict)
    assert page.inner_text("#disassembly").strip() == str(code["disassembly"]).strip()
    creator = dev_key(3)
    assert node.create_token(creator, "GOLD", 5_000_000, decimals=2)["status"] == "0x1"
    text = watched.go("#/tokens").inner_text("#view")
    assert "GOLD" in text and "50000 GOLD" in text
    text = watched.go(f"#/address/{to_checksum_address(creator.address)}").inner_text("#view")
    assert "50000 GOLD" in text
    text = watched.go("#/validators").inner_text("#view")
    validators = node.rpc("aither_getValidators")
    assert isinstance(validators, dict)
    assert f"total power {validators['totalPower']}" in text
    assert "No proposal yet." in watched.go("#/proposals").inner_text("#view")

    # Search: a transaction by a prefix of its hash, an account by its name.
    page.fill("#query", tx_hash[:10])
    page.press("#query", "Enter")
    page.wait_for_function(f"() => location.hash === '#/tx/{tx_hash}'", timeout=WAIT_MS)
    page.fill("#query", "security-auditor.avm")
    page.press("#query", "Enter")
    auditor = to_checksum_address(dev_key(5).address)
    page.wait_for_function(f"() => location.hash === '#/address/{auditor}'", timeout=WAIT_MS)
    page.fill("#query", "0xdeadbeefdead")
    page.press("#query", "Enter")
    page.wait_for_function(
        "() => document.getElementById('view').innerText.includes('Nothing on this chain matches')",
        timeout=WAIT_MS,
    )

    # A phone's width: nothing overflows sideways.
    phone = Watched(browser, 390, 844)
    routes = ("", f"#/block/{block_number}", f"#/address/{agent}", f"#/tx/{tx_hash}",
              "#/tokens", "#/council", "#/validators", "#/proposals", "#/channels")  # fmt: skip
    for route in routes:
        page390 = phone.open(f"{node.url}/{route}") if route == "" else phone.go(route)
        overflow = page390.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390, f"{route or 'home'} is {overflow} px wide at 390"
    phone.page.screenshot(path=str(tmp_path / "explorer-tx-390.png"), full_page=True)
    watched.go(f"#/address/{agent}")
    page.screenshot(path=str(tmp_path / "explorer-agent-1280.png"), full_page=True)
    assert png_width(tmp_path / "explorer-home-1280.png") == 1280
    assert png_width(tmp_path / "explorer-tx-390.png") == 390

    for seen in (watched, phone):
        hosts = {urlparse(url).hostname for url in seen.requests}
        assert hosts == {"127.0.0.1"}, hosts
        assert seen.errors == []


def test_the_explorer_is_read_only_and_closed_to_other_origins(dev_node: DevNode) -> None:
    page = httpx.get(dev_node.url + "/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "connect-src 'self';" in policy  # its own node only: no scheme or host sources
    assert not any(word.endswith(":") or "." in word for word in policy.split())
    for path in ("/explorer/app.js", "/explorer/style.css"):
        assert httpx.get(dev_node.url + path, timeout=10).status_code == 200
    assert httpx.get(dev_node.url + "/explorer/../node.py", timeout=10).status_code == 404
    script = httpx.get(dev_node.url + "/explorer/app.js", timeout=10).text
    assert "innerHTML" not in script  # values from the node go into the page as text only
    assert "sendRawTransaction" not in script and "aither_send" not in script


def cli(*args: str) -> dict:
    done = subprocess.run([AITHER, *args, "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_governance_pages_show_a_change_the_council_enacted(
    dev_node: DevNode, browser: Browser, tmp_path: Path
) -> None:
    node = dev_node
    rpc = ("--rpc", node.url)
    source = tmp_path / "doubler.air"
    source.write_text(doubler(":strategy\n  MUL x, 2 -> ACC\n  NOP\n  RET\n"))
    deployed = cli("wallet", "deploy", str(source), "--dev-account", "0", "--storage", "note=hi",
                   *rpc)  # fmt: skip
    agent = deployed["agent"]
    body = tmp_path / "v1.air"
    body.write_text(":strategy\n  MUL x, 2 -> ACC\n  RET\n")
    proposed = cli("wallet", "propose", agent, "STRATEGY", str(body), "--rationale",
                   "drop the NOP", "--dev-account", "0", *rpc)  # fmt: skip
    pid = proposed["proposal"]
    for member in (5, 6, 8):
        cli("wallet", "vote", pid, "yes", "--why", f"member {member} checked", "--dev-account",
            str(member), *rpc)  # fmt: skip
    found = node.rpc("aither_getProposal", pid)
    assert isinstance(found, dict)
    cli("dev", "mine", str(found["votingEndHeight"] + 4 - node.height()), *rpc)
    enacted = node.rpc("aither_getProposal", pid)
    assert isinstance(enacted, dict) and enacted["status"] == "enacted"
    called = cli("wallet", "call", agent, "main", "21", "--dev-account", "2", *rpc)

    watched = Watched(browser, 1280)
    page = watched.open(node.url + f"/#/proposal/{pid}")
    text = watched.text()
    assert text.startswith(f"Proposal #{enacted['number']}: code, enacted")
    assert page.inner_text("#diff").splitlines() == [
        "  :strategy", "    MUL x, 2 -> ACC", "-   NOP", "    RET", "  ",
    ]  # fmt: skip
    for member in (5, 6, 8):
        assert f"member {member} checked" in text
    tally = enacted["tally"]
    assert f"{tally['yes']} / {tally['no']} / {tally['abstain']} / {tally['veto']}" in text
    assert str(enacted["enactHeight"]) in text
    text = watched.go("#/council").inner_text("#view")
    council = node.rpc("aither_getCouncil")
    assert isinstance(council, dict)
    for member in council["members"]:
        assert member["address"] in text and f"{member['accuracyPpm'] / 10000:g}%" in text
    watched.go(f"#/address/{agent}")
    text = watched.text()
    assert "Lineage (2 versions)" in text and f"proposal {pid[:10]}" in text
    gas = [int(p.get_attribute("data-value")) for p in page.locator("#gas-trend .point").all()]
    lineage = node.rpc("aither_getLineage", agent)
    assert isinstance(lineage, list)
    record = lineage[1]["governance"]  # the enacted change: its sandbox's gas before and after
    assert gas == [int(record["gasBefore"]), int(record["gasAfter"])]
    page.fill("#storage-key", "note")
    page.click("#storage button")
    page.wait_for_function(
        "() => document.getElementById('storage-value').textContent === '\"hi\"'",
        timeout=WAIT_MS,
    )
    text = watched.go(f"#/tx/{called['hash']}").inner_text("#view")
    trace = node.rpc("aither_traceTransaction", called["hash"])
    assert isinstance(trace, dict)
    assert f"Trace of main on {agent[:10]} ({len(trace['trace'])} instructions)" in text
    text = watched.go("#/validators").inner_text("#view")
    head = node.height()
    assert f"proposed (last {min(head, 50)})" in text and "missed (of" in text
    assert "No channel yet." in watched.go("#/channels").inner_text("#view")
    # A swarm channel: its members and key epoch, never a message.
    for index, name in ((0, "masha.avm"), (1, "pasha.avm")):
        cli("swarm", "register", name, "--dev-account", str(index), *rpc)
    cli("swarm", "create", "research", "--dev-account", "0", *rpc)
    cli("swarm", "join", "research", "--dev-account", "1", *rpc)
    cli("swarm", "rotate", "research", "--dev-account", "0", *rpc)
    channel = node.rpc("aither_getChannel", "research")
    assert isinstance(channel, dict)
    text = watched.go("#/channels").inner_text("#view")
    assert "research" in text and channel["id"][:10] in text
    text = watched.go(f"#/channel/{channel['id']}").inner_text("#view")
    assert f"epoch\t{channel['epoch']}" in text
    assert all(member in text for member in channel["members"]) and len(channel["members"]) == 2
    assert "sealed" not in text.lower()
    assert watched.errors == []
