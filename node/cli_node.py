"""`aither node start`: run a node. `--dev` runs a single-validator chain, as anvil does;
`--config FILE` runs one node of any network (a testnet made by `aither genesis new`)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer
import uvicorn
import uvloop
from rich.console import Console

from core.amounts import format_amount
from core.crypto import SigningKey, to_checksum_address
from core.errors import AitherError
from core.rpc import ADMIN_TOKEN_FILE, DEFAULT_RPC_PORT, DEV_DATA_DIR
from genesis.dev import DEV_BALANCE, DEV_SEED, dev_genesis, dev_key, dev_validator_key
from genesis.keyfile import read_key_file
from genesis.testnet import TEST_CHAIN_IDS
from ledger.chain import DEFAULT_HISTORY_BLOCKS, Ledger
from ledger.genesis import Genesis
from ledger.governance.shadow import MAX_SHADOW_BLOCKS
from node.config import ConfigError, NodeConfig
from node.consensus_store import ConsensusStore
from node.dev import DevChain
from node.driver import ConsensusDriver, Schedule
from node.mempool import Mempool, MempoolLimits
from node.node import Node
from node.rpc.admin import AdminToken
from node.rpc.limits import HTTP_MAX_CONCURRENCY, WS_MAX_MESSAGE
from node.rpc.server import create_app
from node.swarm.chain import StateChannels, channel_payloads
from node.swarm.gossip import GossipPublisher, NullPublisher
from node.swarm.keys import LocalIdentity
from node.swarm.service import SwarmService

app = typer.Typer(help="Run a node.", no_args_is_help=True)
# Scripts read whole lines: never wrap or truncate when the output is not a terminal.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
log = logging.getLogger("aither.node")

# Some libraries raise the limit on import (py_ecc sets 100,000): then deeply nested input could
# overflow the C stack before Python raises RecursionError. The node runs with this one.
RECURSION_LIMIT = 4000
DEFAULT_MEMPOOL = MempoolLimits()


@dataclass(frozen=True, slots=True)
class Setup:
    """Everything a node needs, from --dev flags or a config file."""

    genesis: Genesis
    data_dir: Path
    validator_key: SigningKey | None
    schedule: Schedule
    rpc_host: str
    rpc_port: int
    config: NodeConfig | None = None


@app.command()
def start(
    dev: bool = typer.Option(
        False, "--dev", help="Single-validator dev chain with funded accounts."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Node config TOML (from `aither genesis new`)."
    ),
    data_dir: Path = typer.Option(Path(DEV_DATA_DIR), "--data-dir", help="Where the chain lives."),
    rpc_host: str = typer.Option("127.0.0.1", "--rpc-host", help="Interface for JSON-RPC."),
    rpc_port: int | None = typer.Option(
        None, "--rpc-port", help=f"Port for JSON-RPC [{DEFAULT_RPC_PORT}]."
    ),
    block_time: float = typer.Option(
        0.0, "--block-time", min=0.0, help="Dev: seconds between blocks; 0 = when txs wait."
    ),
    accounts: int = typer.Option(10, "--accounts", min=1, max=1000, help="Dev accounts to fund."),
    reset: bool = typer.Option(False, "--reset", help="Delete the chain in the data dir first."),
    archive: bool | None = typer.Option(
        None,
        "--archive/--no-archive",
        help="Keep every past block's state readable [dev: archive; network: the last "
        "--history-blocks].",
    ),
    history_blocks: int = typer.Option(
        DEFAULT_HISTORY_BLOCKS,
        "--history-blocks",
        min=0,
        help="Without --archive: how many past blocks' state stays readable.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    log_format: str = typer.Option(
        "text", "--log-format", help="text, or json: one JSON object a line, for log shippers."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the start-up summary as JSON."),
    swarm_key: list[str] = typer.Option(
        [], "--swarm-key", help="Keystore key whose swarm identity this node holds (repeat)."
    ),
    swarm_dev_account: list[int] = typer.Option(
        [], "--swarm-dev-account", help="Dev: hold dev account N's swarm identity (repeat)."
    ),
    swarm_password_file: Path | None = typer.Option(
        None, "--swarm-password-file", help="Password of the --swarm-key keys (first line)."
    ),
    mempool_max_txs: int = typer.Option(
        DEFAULT_MEMPOOL.max_txs, "--mempool-max-txs", min=1, help="Transactions the pool holds."
    ),
    mempool_max_queued: int = typer.Option(
        DEFAULT_MEMPOOL.max_queued,
        "--mempool-max-queued",
        min=0,
        help="Of those, how many may wait behind a nonce gap.",
    ),
    mempool_queued_lifetime: float = typer.Option(
        DEFAULT_MEMPOOL.queued_lifetime,
        "--mempool-queued-lifetime",
        min=1.0,
        help="Seconds a transaction may wait behind a nonce gap.",
    ),
    double_sign_for_tests: bool = typer.Option(
        False,
        "--double-sign-for-tests",
        hidden=True,
        help="Test chains only: sign every prevote twice (the others must jail this validator).",
    ),
) -> None:
    """Start a node and serve JSON-RPC until Ctrl-C."""
    sys.setrecursionlimit(RECURSION_LIMIT)
    _setup_logging(log_level, log_format)
    if dev == (config is not None):
        err.print("error: say which chain: --dev for a dev chain, or --config FILE for a network")
        raise typer.Exit(2)
    try:
        if config is not None:
            setup = _from_config(NodeConfig.load(config), rpc_host, rpc_port)
        else:
            setup = Setup(
                genesis=dev_genesis(accounts),
                data_dir=data_dir,
                validator_key=dev_validator_key(),
                schedule=Schedule(empty_blocks=False, block_time=block_time),
                rpc_host=rpc_host,
                rpc_port=DEFAULT_RPC_PORT if rpc_port is None else rpc_port,
            )
        if reset:
            for name in ("chain.ldb", "consensus.ldb"):
                shutil.rmtree(setup.data_dir / name, ignore_errors=True)
        swarm_keys = [dev_key(n) for n in swarm_dev_account] + _unlock(
            swarm_key, swarm_password_file
        )
        if double_sign_for_tests and setup.genesis.chain_id not in TEST_CHAIN_IDS:
            raise ConfigError(
                f"--double-sign-for-tests is for test chains only (this is chain "
                f"{setup.genesis.chain_id}; test chains: {sorted(TEST_CHAIN_IDS)})"
            )
        keep_all = dev if archive is None else archive
        history = None if keep_all else history_blocks
        if not dev and history is not None and history < MAX_SHADOW_BLOCKS:
            # Every validator replays the same recent blocks for a `gas` proposal: they all keep
            # their state, or they would disagree on the proposal's record.
            raise ConfigError(
                f"--history-blocks {history}: a network node keeps at least {MAX_SHADOW_BLOCKS} "
                "blocks' state (shadow replay of gas proposals reads that far back)"
            )
        ledger = Ledger(setup.data_dir, setup.genesis, history_blocks=history)
    except AitherError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    try:
        listener = _listen(setup.rpc_host, setup.rpc_port)
    except OSError as exc:
        ledger.close()
        err.print(
            f"error: cannot serve JSON-RPC on {setup.rpc_host}:{setup.rpc_port}: {exc.strerror}"
        )
        raise typer.Exit(1) from None
    try:
        # Written before the banner names it: a client never reads the last run's token.
        admin_token = AdminToken.create(setup.data_dir)
    except OSError as exc:
        ledger.close()
        listener.close()
        err.print(f"error: cannot write {setup.data_dir / ADMIN_TOKEN_FILE}: {exc.strerror}")
        raise typer.Exit(1) from None
    url = f"http://{setup.rpc_host}:{listener.getsockname()[1]}"
    if dev:
        _print_dev_banner(ledger, setup.data_dir, url, accounts, json_output)
    else:
        _print_network_banner(ledger, setup, url, json_output)
    try:
        limits = MempoolLimits(
            max_txs=mempool_max_txs,
            max_queued=mempool_max_queued,
            queued_lifetime=mempool_queued_lifetime,
        )
        dev_accounts = tuple(dev_key(i).address for i in range(accounts)) if dev else None
        uvloop.run(
            _serve(
                ledger, setup, listener, log_level, admin_token, swarm_keys, limits, dev_accounts,
                double_sign_for_tests,
            )
        )  # fmt: skip
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it has already handled by shutting down
    except AitherError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    finally:
        ledger.close()
    log.info("stopped at block %d", ledger.height)


def _from_config(config: NodeConfig, rpc_host: str, rpc_port: int | None) -> Setup:
    return Setup(
        genesis=Genesis.load(config.genesis),
        data_dir=config.data_dir,
        validator_key=None if config.validator_key is None else read_key_file(config.validator_key),
        schedule=Schedule(empty_blocks=True),
        rpc_host=config.rpc_host,
        rpc_port=config.rpc_port if rpc_port is None else rpc_port,
        config=config,
    )


def _unlock(names: list[str], password_file: Path | None) -> list[SigningKey]:
    if not names:
        return []
    from wallet.keystore import Keystore  # only a node that holds swarm keys reads a keystore

    if password_file is not None:
        password = password_file.read_text().splitlines()[0]
    else:
        password = typer.prompt("Swarm keys' password", hide_input=True)
    store = Keystore()
    return [store.unlock(name, password) for name in names]


async def _serve(
    ledger: Ledger,
    setup: Setup,
    listener: socket.socket,
    log_level: str,
    admin_token: AdminToken,
    swarm_keys: list[SigningKey] | None = None,
    mempool_limits: MempoolLimits | None = None,
    dev_accounts: tuple[bytes, ...] | None = None,
    double_sign: bool = False,
) -> None:
    """Run the node; `dev_accounts` (a dev chain's) also turns on the dev controls."""
    store = ConsensusStore(setup.data_dir)
    node = Node(ledger, mempool=Mempool(mempool_limits))
    driver = ConsensusDriver(node, setup.genesis, store, setup.validator_key, setup.schedule)
    driver.double_sign = double_sign
    if dev_accounts is not None:
        node.dev_accounts = dev_accounts
        node.dev = DevChain(ledger, driver, dev_accounts)
    network = None
    if setup.config is not None:
        from node.network import NodeNetwork  # imports libp2p: only networked nodes pay for it
        from p2p.host import HostConfig, P2PHost, quiet_library_logs

        quiet_library_logs()
        host = P2PHost(
            HostConfig(
                node_key_seed=read_key_file(setup.config.node_key).seed,
                listen_addrs=setup.config.p2p_listen,
                bootstrap=setup.config.bootstrap,
            )
        )
        network = NodeNetwork(host, node, driver)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(node, admin_token=admin_token),
            loop="none",
            ws_max_size=WS_MAX_MESSAGE,  # uvicorn's own default is 16 MiB
            ws_max_queue=8,  # frames received and not yet read, per connection
            limit_concurrency=HTTP_MAX_CONCURRENCY,
            log_level="warning" if log_level.lower() != "debug" else "info",
            log_config=None,  # uvicorn's loggers reach the root handler: one format for all
            access_log=False,
            lifespan="off",
        )
    )
    swarm = SwarmService(
        StateChannels(ledger.chain_id, ledger.get_state),
        NullPublisher() if network is None else GossipPublisher(network.gossip),
        setup.data_dir / "swarm",
    )
    for key in swarm_keys or []:
        swarm.add_identity(LocalIdentity(key, derive=True))
    node.swarm = swarm
    # Follow the channels already on chain (relays relay them all), then those of each block.
    await swarm.on_block(
        channel_payloads(raw for block in ledger.iter_blocks() for raw in block.transactions)
    )
    node.on_block(
        lambda event: asyncio.get_running_loop().create_task(
            swarm.on_block(stx.tx.payload for stx in event.transactions)
        )
    )
    node.restore_pending()
    try:
        if network is not None:
            await network.start()
            log.info(
                "p2p peer id %s listening on %s", network.host.peer_id, network.host.listen_addrs
            )
        driver.start()
        host, port = listener.getsockname()[:2]
        log.info("serving JSON-RPC on http://%s:%d, chain at block %d", host, port, ledger.height)

        async def stop_when_halted() -> None:
            await driver.halted.wait()
            server.should_exit = True

        watcher = asyncio.create_task(stop_when_halted())
        await server.serve(sockets=[listener])
        watcher.cancel()
        if driver.halt_reason is not None:
            raise driver.halt_reason
    finally:
        await driver.stop()
        if network is not None:
            await network.stop()
        swarm.close()
        node.close()
        store.close()


def _listen(host: str, port: int) -> socket.socket:
    """Bind the RPC socket before anything starts, so a taken port is one clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def _setup_logging(level: str, log_format: str = "text") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        err.print(f"error: unknown log level {level!r} (debug, info, warning, error)")
        raise typer.Exit(2)
    if log_format not in ("text", "json"):
        err.print(f"error: unknown log format {log_format!r} (text, json)")
        raise typer.Exit(2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLogFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")
    )
    logging.basicConfig(level=numeric, handlers=[handler])


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: {"time", "level", "logger", "message"} (and "error" with an
    exception's one-line summary), for Loki, Elasticsearch and the like."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry)


def _print_network_banner(ledger: Ledger, setup: Setup, url: str, as_json: bool) -> None:
    assert setup.config is not None
    summary = {
        "node": setup.config.name,
        "chainId": ledger.chain_id,
        "rpcUrl": url,
        "dataDir": str(setup.data_dir),
        "height": ledger.height,
        "validator": None
        if setup.validator_key is None
        else to_checksum_address(setup.validator_key.address),
        "p2p": list(setup.config.p2p_listen),
        "adminTokenFile": str(setup.data_dir / ADMIN_TOKEN_FILE),
    }
    if as_json:
        print(json.dumps(summary), flush=True)
        return
    console.print(f"[bold]Aither node {setup.config.name}[/bold]")
    for key in ("chainId", "rpcUrl", "dataDir", "height", "validator"):
        console.print(f"  {key:<10} {summary[key]}")
    console.print(f"  admin      {summary['adminTokenFile']} (token for swarm_* methods)")
    console.print(f"  p2p        {', '.join(setup.config.p2p_listen)}")


def _print_dev_banner(
    ledger: Ledger, data_dir: Path, url: str, accounts: int, as_json: bool
) -> None:
    keys = [dev_key(i) for i in range(accounts)]
    if as_json:
        print(
            json.dumps(
                {
                    "chainId": ledger.chain_id,
                    "rpcUrl": url,
                    "dataDir": str(data_dir),
                    "height": ledger.height,
                    "adminTokenFile": str(data_dir / ADMIN_TOKEN_FILE),
                    "accounts": [
                        {
                            "address": to_checksum_address(k.address),
                            "privateKey": "0x" + k.seed.hex(),
                        }
                        for k in keys
                    ],
                }
            ),
            flush=True,
        )
        return
    console.print("[bold]Aither dev node[/bold]")
    console.print(f"  chain id   {ledger.chain_id}")
    console.print(f"  RPC URL    {url}")
    console.print(f"  data dir   {data_dir.resolve()}")
    console.print(f"  height     {ledger.height}")
    console.print(
        f"  admin      {(data_dir / ADMIN_TOKEN_FILE).resolve()} (token for swarm_* methods)"
    )
    console.print("  controls   aither dev mine|time|snapshot|revert|set-balance|dump|load")
    console.print(f"\n[bold]Dev accounts[/bold] ({format_amount(DEV_BALANCE)} AVM each at genesis)")
    for index, key in enumerate(keys):
        console.print(f"  ({index}) {to_checksum_address(key.address)}")
    console.print("\n[bold]Private keys[/bold]")
    for index, key in enumerate(keys):
        console.print(f"  ({index}) 0x{key.seed.hex()}")
    console.print(
        "\n[bold yellow]WARNING:[/bold yellow] these keys come from the public dev seed "
        f"[italic]{DEV_SEED!r}[/italic]. Anyone can spend what they hold: never use them "
        "outside this dev chain."
    )
