"""The one fixture that starts and stops real `aither node start --dev` processes.

Every integration test talks to nodes through `DevNode`: real processes, real sockets on
127.0.0.1, output to a log file in the test's tmp dir, and waits on conditions with deadlines.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import httpx
import pytest

from core.crypto import SigningKey, to_checksum_address
from genesis.dev import DEV_CHAIN_ID
from ledger.gas import DEFAULT_GAS_PRICE as GAS_PRICE
from ledger.tx import TokenCreate, Transaction, Transfer, TxKind
from model.embedded import EMBEDDED_MODEL, serves_model
from node.process import AITHER, HOST, NodeExited, NodeProcess, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser

START_TIMEOUT = 20.0
CLI_TIMEOUT = 60.0
GAS_LIMIT = 100_000  # plenty for a transfer or a token creation


WaitUntil: TypeAlias = Callable[[Callable[[], object], float, str], object]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class RpcFailure(AssertionError):  # an AssertionError, so that tests need not import it
    """A JSON-RPC call answered with an error where a result was expected."""

    def __init__(self, method: str, error: dict[str, object]) -> None:
        super().__init__(f"{method} failed: {error}")
        self.code = error.get("code")
        self.message = str(error.get("message"))


class DevNode(NodeProcess):
    """A dev node process on a data dir; restartable, always cleaned up by its fixture."""

    def __init__(self, data_dir: Path, args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.args = args  # `aither node start --dev` flags of every start
        self.port = free_port()
        log = data_dir.parent / f"{data_dir.name}.log"
        command = ("--dev", "--data-dir", str(data_dir))
        super().__init__(command, f"http://{HOST}:{self.port}", log, data_dir.name)
        self.http = httpx.Client(timeout=10.0)
        self._ids = 0

    # Process control (kill, interrupt, stop, output, log_tail: NodeProcess)

    def start(self, *extra: str) -> DevNode:
        """Start the node and wait until /health answers. `extra` flags apply to this start."""
        for _ in range(3):  # another process may take the free port before the node binds it
            self.spawn("--rpc-port", str(self.port), *self.args, *extra)
            try:
                self.wait_serving(START_TIMEOUT)
                return self
            except NodeExited:
                if "Address already in use" not in self.output():
                    raise
            self.port = free_port()
            self.url = f"http://{HOST}:{self.port}"
        pytest.fail(f"node could not bind a port three times\n{self.log_tail()}")

    def restart(self, *extra: str) -> DevNode:
        """Stop cleanly if running, then start on the same data dir and port."""
        if self.running:
            self.stop()
        return self.start(*extra)

    def close(self) -> None:
        super().close()
        self.http.close()

    # JSON-RPC

    def post(self, body: object) -> httpx.Response:
        """POST a raw body (bytes) or a JSON value, exactly as given."""
        if isinstance(body, bytes):
            return self.http.post(self.url, content=body)
        return self.http.post(self.url, json=body)

    def call(self, method: str, *params: object) -> dict[str, object]:
        """One JSON-RPC call; the whole response object."""
        self._ids += 1
        request = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)}
        response = self.post(request)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == self._ids and body["jsonrpc"] == "2.0", body
        return body

    def rpc(self, method: str, *params: object) -> object:
        """One JSON-RPC call's result; RpcFailure if the node answered an error."""
        body = self.call(method, *params)
        if "error" in body:
            raise RpcFailure(method, body["error"])
        return body["result"]

    def rpc_error(self, method: str, *params: object) -> dict[str, object]:
        """One JSON-RPC call that must fail; its error object."""
        body = self.call(method, *params)
        assert "error" in body, f"{method}{params} should fail, got {body}"
        assert "result" not in body, body
        return body["error"]

    def health(self) -> dict[str, object]:
        response = self.http.get(f"{self.url}/health")
        assert response.status_code == 200, response.text
        return response.json()

    def height(self) -> int:
        return int(str(self.rpc("aither_blockNumber")), 16)

    def balance(self, address: bytes | str, token: str = "") -> int:
        who = address if isinstance(address, str) else to_checksum_address(address)
        return int(str(self.rpc("aither_getBalance", who, token)), 16)

    def nonce(self, address: bytes, block: str = "latest") -> int:
        who = to_checksum_address(address)
        return int(str(self.rpc("eth_getTransactionCount", who, block)), 16)

    # Transactions

    def send_raw(self, raw: bytes) -> str:
        return str(self.rpc("aither_sendRawTransaction", "0x" + raw.hex()))

    def wait_for_receipt(self, tx_hash: str, timeout: float = 15.0) -> dict[str, object]:
        found = wait_until(
            lambda: self.rpc("aither_getTransactionReceipt", tx_hash),
            timeout,
            f"the receipt of {tx_hash}\n{self.log_tail()}",
        )
        assert isinstance(found, dict)
        return found

    def signed_transfer(
        self,
        key: SigningKey,
        to: bytes,
        amount: int,
        token: str = "",
        *,
        nonce: int | None = None,
        chain_id: int = DEV_CHAIN_ID,
        gas_limit: int = GAS_LIMIT,
    ) -> bytes:
        """The wire bytes of a signed transfer; the nonce defaults to the sender's next one."""
        if nonce is None:
            nonce = self.nonce(key.address, "pending")
        payload = Transfer(to, amount, token)
        tx = Transaction(
            chain_id, TxKind.TRANSFER, key.pubkey, nonce, gas_limit, GAS_PRICE, payload
        )
        return tx.signed(key).encode()

    def transfer(
        self, key: SigningKey, to: bytes, amount: int, token: str = ""
    ) -> dict[str, object]:
        """Sign and send a transfer; its receipt."""
        return self.wait_for_receipt(self.send_raw(self.signed_transfer(key, to, amount, token)))

    def create_token(
        self, key: SigningKey, symbol: str, supply: int, decimals: int = 18
    ) -> dict[str, object]:
        """Sign and send a token creation; its receipt."""
        payload = TokenCreate(symbol, symbol.title(), supply, decimals)
        nonce = self.nonce(key.address, "pending")
        tx = Transaction(
            DEV_CHAIN_ID, TxKind.TOKEN_CREATE, key.pubkey, nonce, GAS_LIMIT, GAS_PRICE, payload
        )
        return self.wait_for_receipt(self.send_raw(tx.signed(key).encode()))


class NodeLauncher:
    """Starts nodes under one directory and kills whatever is still running at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[DevNode] = []

    def __call__(self, *args: str) -> DevNode:
        """Start a node with extra `args` (such as `--accounts 3`) on a fresh data dir."""
        node = DevNode(self.root / f"node{len(self.nodes)}", args)
        self.nodes.append(node)
        return node.start()

    def close(self) -> None:
        for node in self.nodes:
            node.close()


@contextlib.contextmanager
def _launcher(root: Path) -> Iterator[NodeLauncher]:
    launcher = NodeLauncher(root)
    try:
        yield launcher
    finally:
        launcher.close()


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[NodeLauncher]:
    """A factory: `start_node("--accounts", "3")` starts a node; all are killed at teardown."""
    with _launcher(tmp_path) as launcher:
        yield launcher


@pytest.fixture
def dev_node(start_node: NodeLauncher) -> DevNode:
    """A running dev node with the default flags, on its own data dir and port."""
    return start_node()


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """One dev node for a whole module whose tests use separate accounts."""
    with _launcher(tmp_path_factory.mktemp("shared")) as launcher:
        yield launcher()


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> WaitUntil:
    """`wait_until(condition, timeout, what)`: poll until truthy, fail naming `what` at timeout."""
    return wait_until


@pytest.fixture(scope="module")
def run_aither(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `aither` CLI to completion; output captured, never left in a pipe."""
    cwd = tmp_path_factory.mktemp("cli")

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AITHER), *args],
            stdin=subprocess.DEVNULL,  # a prompt fails at once instead of waiting for a person
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            env={**os.environ, "NO_COLOR": "1", **(env or {})},
            cwd=cwd,
            check=False,
        )

    return run


@pytest.fixture
def model_url(tmp_path: Path) -> Iterator[str]:
    """A real `aither model serve` (the embedded model) on a free port; its base URL."""
    port = free_port()
    url = f"http://{HOST}:{port}/v1"
    log = (tmp_path / "model.log").open("wb")
    command = [str(AITHER), "model", "serve", "--port", str(port)]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: serves_model(url, EMBEDDED_MODEL), 120, "the model server")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, for the explorer's tests (browser.py)."""
    from browser import launch

    yield from launch()
