"""A 4-validator testnet in real processes over libp2p on 127.0.0.1, and the faults it survives.

One testnet serves the fault tests of this module (each leaves all four validators running);
every test checks at its end that the validators agree on every block (hash and state root)
and that nobody recorded evidence of an equivocation. A real partition runs validators in
network namespaces (root only; skipped with the reason elsewhere). The `aither testnet` CLI and
the docker files are checked on their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import WAIT_MS, Watched, needs_chromium
from prometheus_client.parser import text_string_to_metric_families
from testnet_fixture import (
    NODE_COMMAND,
    NamespaceError,
    Namespaces,
    Testnet,
    Validator,
)

from avm.assembler import assemble
from core.crypto import SigningKey, hash32, to_checksum_address
from core.rpc import METHOD_NOT_FOUND
from genesis.dev import dev_key
from genesis.keyfile import read_key_file
from genesis.testnet import TESTNET_CHAIN_ID, new_testnet
from ledger.gas import DEFAULT_GAS_PRICE
from ledger.tx import Call, Deploy, Payload, Transaction, Transfer, TxKind
from node.config import NodeConfig
from node.consensus.signer import SignerGuard, SignStep
from node.consensus_store import ConsensusStore
from node.process import free_ports, wait_until
from node.testnet import stop_nodes

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

    from playwright.sync_api import Browser

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
GAS_LIMIT = 30_000
PROGRESS_BLOCKS = 3  # "keeps finalizing" means at least this many new blocks
# Two of four down: a height can only fail rounds, each >= 2 s with the test's timeouts. The
# height must hold still this long (several commit timeouts and more than a whole round).
HALT_WINDOW = 4.0
SETTLE = 1.5  # a block decided just before the kill may still reach the survivors (sync: 1 s)
KILLS = 4
UP_TIMEOUT = 45  # `testnet up` gives up (and says why) before the CLI runner's 60 s
KILL_SEED = 4


@pytest.fixture(scope="module")
def testnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testnet]:
    """Four validators, running and finalizing; all four running again after every test."""
    net = Testnet(tmp_path_factory.mktemp("testnet"))
    try:
        net.start()
        net.wait_for_height(2)
        yield net
    finally:
        net.close()


@pytest.fixture
def healthy(testnet: Testnet) -> Iterator[Testnet]:
    """The module's testnet, all four running; checks agreement and no evidence afterwards."""
    testnet.start()  # whatever a failed test left stopped
    yield testnet
    testnet.start()
    testnet.wait_for_height(testnet.head() + 1)
    testnet.assert_same_chain(min(h or 0 for h in testnet.heights()))
    assert testnet.log_lines("evidence") == []


def transfer(key: SigningKey, nonce: int, to: bytes, amount: int) -> bytes:
    tx = Transaction(
        TESTNET_CHAIN_ID,
        TxKind.TRANSFER,
        key.pubkey,
        nonce,
        GAS_LIMIT,
        DEFAULT_GAS_PRICE,
        Transfer(to, amount, ""),
    )
    return tx.signed(key).encode()


def send(validator: Validator, key: SigningKey, to: bytes, amount: int) -> str:
    address = to_checksum_address(key.address)
    nonce = int(str(validator.rpc("eth_getTransactionCount", address, "pending")), 16)
    raw = transfer(key, nonce, to, amount)
    return str(validator.rpc("aither_sendRawTransaction", "0x" + raw.hex()))


def receipt_everywhere(testnet: Testnet, tx_hash: str, timeout: float = 20.0) -> list[dict]:
    """The receipt of `tx_hash` from every validator, once all of them have it."""
    found: dict[str, dict] = {}

    def on_all() -> bool:
        for v in testnet.validators:
            if v.name not in found:
                got = v.receipt(tx_hash)
                if isinstance(got, dict):
                    found[v.name] = got
        return len(found) == len(testnet.validators)

    def missing() -> str:
        return ", ".join(v.name for v in testnet.validators if v.name not in found)

    wait_fn(on_all, timeout, lambda: f"the receipt of {tx_hash} on {missing()}")
    return [found[v.name] for v in testnet.validators]


def wait_fn(condition: Callable[[], object], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what()}")
        time.sleep(0.05)


def wait_until_still(net: Testnet, validators: list[Validator]) -> list[int | None]:
    """Their heights once unchanged for SETTLE s (a block decided at a cut may still land)."""
    settled: list[int | None] = []
    still_since = time.monotonic()

    def still() -> bool:
        nonlocal settled, still_since
        now = net.heights(validators)
        if now != settled:
            settled, still_since = now, time.monotonic()
        return time.monotonic() - still_since >= SETTLE

    wait_fn(still, 15, lambda: f"heights to stop moving: {settled}")
    return settled


def assert_still(net: Testnet, validators: list[Validator], heights: list[int | None]) -> None:
    """No validator finalizes a block for HALT_WINDOW s (polled)."""
    window_end = time.monotonic() + HALT_WINDOW
    while time.monotonic() < window_end:
        assert net.heights(validators) == heights, "a block without 2/3 of the power"
        time.sleep(0.1)


def balance(validator: Validator, address: bytes) -> int:
    return int(str(validator.rpc("aither_getBalance", to_checksum_address(address), "")), 16)


# The `aither testnet` CLI


def test_cli_up_status_logs_down(
    run_aither: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    directory = tmp_path / "net"
    rng = random.Random(os.getpid())
    base_port, rpc_base_port = free_ports(4, rng), free_ports(4, rng)
    where = ("--dir", str(directory))
    try:
        up = run_aither(
            "testnet", "up", "--validators", "4", *where,
            "--base-port", str(base_port), "--rpc-base-port", str(rpc_base_port),
            "--timeout", str(UP_TIMEOUT), "--json",
        )  # fmt: skip
        assert up.returncode == 0, up.stderr + _log_tails(directory)
        assert json.loads(up.stdout)["created"] is True

        status = run_aither("testnet", "status", *where, "--json")
        assert status.returncode == 0, status.stderr
        nodes = json.loads(status.stdout)
        assert [n["name"] for n in nodes] == ["node0", "node1", "node2", "node3"]
        assert all(n["running"] and n["height"] >= 2 for n in nodes), nodes
        assert [n["rpcUrl"] for n in nodes] == [
            f"http://127.0.0.1:{rpc_base_port + i}" for i in range(4)
        ]
        pids = [n["pid"] for n in nodes]

        logs = run_aither("testnet", "logs", "node0", *where)
        assert logs.returncode == 0, logs.stderr
        assert "committed" in logs.stdout

        down = run_aither("testnet", "down", *where, "--json")
        assert down.returncode == 0, down.stderr
        assert json.loads(down.stdout)["stopped"] == ["node0", "node1", "node2", "node3"]
    finally:
        if (directory / "genesis.json").exists():
            stop_nodes(directory)
    assert not [pid for pid in pids if _alive(pid)], "a node outlived `testnet down`"
    assert not list(directory.glob("node*/node.pid"))
    after = json.loads(run_aither("testnet", "status", *where, "--json").stdout)
    assert not any(n["running"] for n in after)
    for node_dir in sorted(directory.glob("node*")):
        assert "stopped at block" in (node_dir / "node.log").read_text(), node_dir.name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("logs", "node9"), "no node named 'node9'"),
        (("status",), "no testnet in"),
        (("down",), "no testnet in"),
    ],
)
def test_cli_errors_are_one_line_and_fail(
    run_aither: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    args: tuple[str, ...],
    message: str,
) -> None:
    if args[0] == "logs":
        new_testnet(tmp_path, 2, base_port=1, rpc_base_port=1)  # never started: no ports used
    result = run_aither("testnet", *args, "--dir", str(tmp_path))
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def _log_tails(directory: Path, lines: int = 15) -> str:
    return "".join(
        f"\n--- {log.parent.name} ---\n" + "\n".join(log.read_text().splitlines()[-lines:])
        for log in sorted(directory.glob("node*/node.log"))
    )


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaped yet counts as stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


# docker/: what can be checked without docker


def test_docker_image_runs_the_command_the_tests_run() -> None:
    entrypoint = _dockerfile_array("ENTRYPOINT")
    default = _dockerfile_array("CMD")
    assert tuple(entrypoint) == NODE_COMMAND
    assert default == ["/testnet/node0/config.toml"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    assert "-c constraints.txt" in dockerfile
    # Every package the project installs is copied into the build.
    for package in ("avm", "genesis", "ledger", "node", "p2p", "wallet"):
        assert re.search(rf"^COPY {package} {package}$", dockerfile, re.M), package
        assert (REPO / package / "__init__.py").exists()

    services = _compose()["services"]
    # The testnet, and Prometheus and Grafana beside it (tests/node/test_dashboard.py).
    assert sorted(services) == ["grafana", "init", "node0", "node1", "node2", "node3", "prometheus"]
    for i in range(4):
        service = services[f"node{i}"]
        assert "entrypoint" not in service  # the image's own: `aither node start --config`
        assert service["command"] == [f"/testnet/node{i}/config.toml"]
        assert service["image"] == services["init"]["image"]
        assert service["build"]["dockerfile"] == "docker/Dockerfile"
        assert service["volumes"] == ["testnet:/testnet"]
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert service["ports"] == [f"127.0.0.1:{8645 + i}:8645"]


def test_compose_init_writes_configs_that_find_peers_by_service_name(
    run_aither: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    init = _compose()["services"]["init"]
    assert init["entrypoint"] == ["sh", "-c"]
    assert init["volumes"] == ["testnet:/testnet"]
    guard, generate = init["command"][0].split(" || ")
    assert guard == "test -f /testnet/genesis.json"  # a second `up` keeps the keys
    argv = shlex.split(generate)
    assert argv[:3] == ["aither", "genesis", "new"]

    # Run the init service's command here, into tmp_path instead of the volume.
    out = tmp_path / "testnet"
    result = run_aither(*[str(out) if a == "/testnet" else a for a in argv[1:]])
    assert result.returncode == 0, result.stderr
    configs = [NodeConfig.load(out / f"node{i}" / "config.toml") for i in range(4)]
    for i, config in enumerate(configs):
        # Mounted at /testnet, the node finds the paths the entry command is given.
        assert config.genesis == out / "genesis.json"
        assert config.rpc_host == "0.0.0.0" and config.rpc_port == 8645
        assert config.p2p_listen == ("/ip4/0.0.0.0/tcp/26656",)
        peers = sorted(a.split("/p2p/")[0] for a in config.bootstrap)
        assert peers == [f"/dns4/node{j}/tcp/26656" for j in range(4) if j != i]


def _dockerfile_array(instruction: str) -> list[str]:
    """The JSON (exec) form of the last `instruction` in the Dockerfile."""
    found = re.findall(rf"^{instruction} (\[.*\])$", (DOCKER / "Dockerfile").read_text(), re.M)
    assert found, f"no {instruction} in exec form"
    return json.loads(found[-1])


def _compose() -> dict:
    text = (DOCKER / "compose.yaml").read_text()
    try:
        import yaml  # not a dependency of the project: checked against it where installed
    except ModuleNotFoundError:
        return _block_yaml(text)
    parsed = yaml.safe_load(text)
    assert parsed == _block_yaml(text)
    return parsed


def _block_yaml(text: str) -> dict:
    """The YAML subset compose.yaml is written in: block mappings and sequences of scalars,
    flow sequences of JSON strings, flow mappings of plain scalars. Anything else fails."""
    lines = [
        (len(line) - len(line.lstrip()), line.strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]

    def scalar(raw: str) -> object:
        if raw.startswith(("[", '"')):
            return json.loads(raw)
        if raw.startswith("{"):
            assert raw.endswith("}"), raw
            return dict(item.split(": ", 1) for item in raw[1:-1].strip().split(", "))
        assert not raw.startswith(("&", "*", "!", "'", "|", ">")), f"unsupported YAML: {raw}"
        return raw

    def block(start: int, indent: int) -> tuple[object, int]:
        items: list[object] = []
        mapping: dict[str, object] = {}
        i = start
        while i < len(lines) and lines[i][0] == indent:
            content = lines[i][1]
            if content.startswith("- "):
                items.append(scalar(content[2:]))
                i += 1
                continue
            key, _, rest = content.partition(":")
            assert key not in mapping, f"duplicate key {key}"
            i += 1
            if rest.strip():
                mapping[key] = scalar(rest.strip())
            elif i < len(lines) and lines[i][0] > indent:
                mapping[key], i = block(i, lines[i][0])
            else:
                mapping[key] = None
        assert not (items and mapping), f"a mapping and a sequence mixed near {lines[start]}"
        assert i == len(lines) or lines[i][0] < indent, f"bad indentation at {lines[i]}"
        return (items if items else mapping), i

    parsed, end = block(0, 0)
    assert end == len(lines) and isinstance(parsed, dict)
    return parsed


# A real partition: validators in network namespaces, links cut by blackhole routes


@pytest.fixture
def namespaced(tmp_path: Path) -> Iterator[tuple[Testnet, Namespaces]]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (`ip netns add`); this process is not root")
    with contextlib.ExitStack() as cleanup:
        try:
            lab = cleanup.enter_context(Namespaces(4))
        except NamespaceError as exc:
            pytest.skip(f"cannot build network namespaces here: {exc}")
        net = Testnet(tmp_path / "testnet", namespaces=lab)
        cleanup.callback(net.close)
        net.start()
        net.wait_for_height(2)
        yield net, lab


def test_partition_in_network_namespaces(namespaced: tuple[Testnet, Namespaces]) -> None:
    net, lab = namespaced
    isolated, majority = net[0], net.validators[1:]

    # One cut off: the other three keep finalizing; it cannot, then it catches up, and a
    # transfer sent to it meanwhile is committed everywhere.
    lab.partition([0], [1, 2, 3])
    cut_at = net.head()
    recipient = hash32(b"testnet: paid through the isolated validator")[:20]
    tx = send(isolated, dev_key(6), recipient, 4321)
    net.wait_for_height(cut_at + PROGRESS_BLOCKS, majority, timeout=30)
    assert (isolated.height() or 0) <= cut_at + 1, "an isolated validator finalized alone"
    assert all(v.receipt(tx) is None for v in majority)
    lab.heal()
    net.wait_for_height(net.head(majority), [isolated], timeout=40)
    net.assert_same_chain(min(h or 0 for h in net.heights()))
    wait_fn(
        lambda: all(v.receipt(tx) for v in net.validators),
        30,
        lambda: f"the isolated validator's transfer on every node\n{net.tails()}",
    )
    assert {balance(v, recipient) for v in net.validators} == {4321}

    # Two and two: nobody has more than 2/3, nobody finalizes, nothing forks; healed, it goes on.
    lab.partition([0, 1], [2, 3])
    settled = wait_until_still(net, net.validators)
    assert_still(net, net.validators, settled)
    net.assert_same_chain(min(h or 0 for h in settled))
    lab.heal()
    net.wait_for_height(max(h or 0 for h in settled) + PROGRESS_BLOCKS, timeout=60)
    net.assert_same_chain(min(h or 0 for h in net.heights()))
    assert net.log_lines("evidence") == []


# Faults


def test_killed_validator_others_finalize_and_it_catches_up_with_same_state(
    healthy: Testnet,
) -> None:
    net = healthy
    victim, survivors = net[3], net.validators[:3]
    victim.kill()
    start = net.head(survivors)
    recipient = hash32(b"testnet: paid while node3 was down")[:20]
    tx = send(net[0], dev_key(0), recipient, 1234)
    net.wait_for_height(start + PROGRESS_BLOCKS, survivors, timeout=20)
    wait_fn(
        lambda: net[0].rpc("aither_getTransactionReceipt", tx),
        20,
        lambda: "the transfer sent while node3 was down",
    )
    missed = net.head(survivors)
    synced_before = victim.log_text().count("synced from a peer")

    victim.start()
    net.wait_for_height(missed, [victim], timeout=20)

    assert victim.log_text().count("synced from a peer") > synced_before, victim.log_tail()
    head = min(h or 0 for h in net.heights())
    net.assert_same_chain(head)
    assert {balance(v, recipient) for v in net.validators} == {1234}


def test_two_of_four_down_halts_without_fork_and_resumes(healthy: Testnet) -> None:
    net = healthy
    alive, down = net.validators[:2], net.validators[2:]
    for validator in down:
        validator.kill()

    heights = wait_until_still(net, alive)
    assert len(set(heights)) == 1, f"the survivors disagree on the head: {heights}"
    halted_at = heights[0]
    assert halted_at is not None
    assert_still(net, alive, heights)
    net.assert_same_chain(halted_at, alive)

    net.start(down)
    net.wait_for_height(halted_at + PROGRESS_BLOCKS, timeout=30)
    net.assert_same_chain(halted_at + PROGRESS_BLOCKS)


# A deadline, not a pause: right after a kill the three others can take ~25 s for a height while
# gossip re-forms its mesh around the restarted peer (seen on CI); this test is about safety.
CHURN_TIMEOUT = 60.0


def test_validator_killed_mid_round_never_signs_conflicting_votes(healthy: Testnet) -> None:
    net = healthy
    rng = random.Random(KILL_SEED)
    keys = {v.name: read_key_file(v.directory / "validator_key.json") for v in net.validators}
    for _ in range(KILLS):
        victim = rng.choice(net.validators)
        others = [v for v in net.validators if v is not victim]
        # Kill it while it takes part: caught up, one more height, then a seeded moment
        # somewhere in a height (a height takes ~0.5 s here; rounds that fail take longer).
        net.wait_for_height(net.head(others) + 1, [victim], timeout=CHURN_TIMEOUT)
        time.sleep(rng.uniform(0.0, 1.0))  # the fault's moment, not a wait for anything
        victim.kill()
        check_signer_state(net, victim, keys[victim.name])
        victim.start()
    net.wait_for_height(net.head() + PROGRESS_BLOCKS, timeout=30)
    assert net.log_lines("evidence") == []
    assert net.log_lines("equivocated") == []


def check_signer_state(net: Testnet, victim: Validator, key: SigningKey) -> None:
    """The killed validator's persisted signer state covers every vote of it that counted.

    Its precommits in commit certificates (each block's `lastCommit`) were sent, so they were
    persisted first: the saved (height, round, step) is at or after the latest of them. It signs
    for a height only after committing the one before, so the others reach that one too; and a
    lock in the round that committed its height is on the committed block.
    """
    store = ConsensusStore(victim.data_dir)
    try:
        saved = store.signer_state()
    finally:
        store.close()
    assert saved is not None, f"{victim.name} never persisted a signature"
    state = SignerGuard.from_bytes(key, saved).state
    others = [v for v in net.validators if v is not victim]
    # The certificate of the height it last signed for is in the block after it.
    net.wait_for_height(state.height + 1, others, timeout=CHURN_TIMEOUT)
    witness = others[0]
    head = witness.height() or 0
    blocks = witness.blocks(range(max(1, head - 30), head + 1))
    address = to_checksum_address(key.address)
    certificates = {int(c["height"], 16): c for b in blocks if (c := b["lastCommit"])}
    counted = [(h, int(c["round"], 16)) for h, c in certificates.items() if address in c["signers"]]
    assert counted, f"no recent certificate holds {victim.name}'s precommit"
    latest = max(counted)
    assert (state.height, state.round, state.step) >= (*latest, SignStep.PRECOMMIT), (
        f"{victim.name} saved {state.height}/{state.round}/{state.step.name} "
        f"but its precommit {latest[0]}/{latest[1]} is in a certificate"
    )
    certificate = certificates[state.height]
    if state.lock_hash and state.lock_round == int(certificate["round"], 16):
        assert "0x" + state.lock_hash.hex() == certificate["blockHash"]


def test_transaction_sent_to_any_node_is_included_and_visible_on_all(healthy: Testnet) -> None:
    net = healthy
    recipient = hash32(b"testnet: paid through every node")[:20]
    sent = [
        send(validator, dev_key(4 + i), recipient, 100 + i)
        for i, validator in enumerate(net.validators)
    ]
    for tx_hash in sent:
        receipts = receipt_everywhere(net, tx_hash)
        assert {r["status"] for r in receipts} == {"0x1"}
        assert len({(r["blockNumber"], r["blockHash"]) for r in receipts}) == 1, receipts
    total = sum(100 + i for i in range(len(net.validators)))
    assert [balance(v, recipient) for v in net.validators] == [total] * len(net.validators)


def test_a_network_node_refuses_the_dev_chain_controls(healthy: Testnet) -> None:
    validator = healthy.validators[0]
    for method, params in [("aither_mine", [1]), ("evm_snapshot", []), ("evm_increaseTime", [9])]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        error = validator.http.post(validator.url, json=body).json()["error"]
        assert error["code"] == METHOD_NOT_FOUND
        assert "dev chain control" in error["message"] and "--dev" in error["message"]


SCHEDULED = """
:setup
  SCHEDULE_TASK "tick", 1 -> ok
  RETURN ok
:tick
  KV_FETCH "ticks" -> n
  IF n == NULL THEN
    SET n = 0
  ENDIF
  ADD n, 1 -> n
  KV_STORE "ticks", n
  RETURN n
"""


def signed(key: SigningKey, validator: Validator, kind: TxKind, payload: Payload) -> str:
    address = to_checksum_address(key.address)
    nonce = int(str(validator.rpc("eth_getTransactionCount", address, "pending")), 16)
    tx = Transaction(
        TESTNET_CHAIN_ID, kind, key.pubkey, nonce, 2_000_000, DEFAULT_GAS_PRICE, payload
    )
    return str(validator.rpc("aither_sendRawTransaction", "0x" + tx.signed(key).encode().hex()))


def test_scheduled_tasks_run_at_the_same_blocks_on_every_validator(healthy: Testnet) -> None:
    net = healthy
    owner, first = dev_key(6), net.validators[0]
    code = assemble(SCHEDULED).code.to_bytes()
    (deployed,) = {r["contractAddress"] for r in receipt_everywhere(
        net, signed(owner, first, TxKind.DEPLOY, Deploy(code, (), 10**18))
    )}  # fmt: skip
    agent = bytes.fromhex(str(deployed)[2:])
    receipt_everywhere(net, signed(owner, first, TxKind.CALL, Call(agent, "setup", (), 0)))

    def ran_everywhere() -> bool:
        runs = [v.rpc("aither_getSchedule", deployed)[0]["lastRun"] for v in net.validators]
        return all(run is not None and run["ok"] for run in runs)

    wait_until(ran_everywhere, 30.0, "the task's first run on every validator")
    # The runs change state, so blocks with the same state root on all four ran the same ones.
    net.assert_same_chain(min(h or 0 for h in net.heights()))


@needs_chromium
def test_the_explorer_on_a_testnet_node(healthy: Testnet, browser: Browser) -> None:
    """The explorer of validator 0 follows the testnet's head live and shows the four
    validators, each proposing blocks and signing their commits, as the blocks say."""
    net = healthy
    node = net.validators[0]
    watched = Watched(browser, 1280)
    watched.open(node.url + "/")
    start = int(watched.page.inner_text("#head-number"))
    net.wait_for_height(start + 2)
    watched.page.wait_for_function(
        f"() => Number(document.getElementById('head-number').textContent) >= {start + 2}",
        timeout=WAIT_MS,
    )
    page = watched.go("#/validators")
    rows = page.locator("#view table").first.locator("tr")
    assert rows.count() == 1 + len(net.validators)
    cells = [rows.nth(i + 1).locator("td").all_inner_texts() for i in range(len(net.validators))]
    addresses = {c[0] for c in cells}
    expected = node.rpc("aither_getValidators")
    assert isinstance(expected, dict)
    assert addresses == {v["address"] for v in expected["validators"]}
    window = int(page.locator("#view th").nth(3).inner_text().split("last ")[1].rstrip(")"))
    assert sum(int(c[3]) for c in cells) == window  # every block in the window has a proposer
    assert sum(int(c[3]) > 0 for c in cells) >= 2  # the proposer rotates
    assert watched.errors == []


def test_metrics_of_a_testnet_node(healthy: Testnet) -> None:
    """Peers, the validator set and gossip by topic, as a node's /metrics counts them."""
    net = healthy
    node = net.validators[0]
    net.wait_for_height(net.head() + 2)
    text = node.http.get(node.url + "/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("aither_p2p_peers", ())] == len(net.validators) - 1
    assert samples[("aither_consensus_validators", ())] == len(net.validators)
    assert samples[("aither_consensus_height", ())] >= net.head() - 1
    for direction in ("send", "receive"):
        for topic in ("consensus", "blocks"):
            key = (f"aither_p2p_message_{direction}_bytes_total", (("message_type", topic),))
            assert samples.get(key, 0) > 0, key
    assert samples[("aither_consensus_missing_validators", ())] <= 1  # a quorum signed each
