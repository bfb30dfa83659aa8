"""`aither genesis new`: validator and node keys, a genesis file and one config per node.

The layout (CometBFT's `testnet` command is the model):

    DIR/genesis.json
    DIR/node0/config.toml  node_key.json  validator_key.json  data/
    DIR/node1/...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.crypto import SigningKey
from genesis.dev import (
    DEV_BALANCE,
    DEV_CHAIN_ID,
    DEV_GOVERNANCE,
    DEV_TIMESTAMP,
    dev_council,
    dev_council_identities,
    dev_key,
)
from genesis.keyfile import write_key_file
from ledger.chain_params import ChainParams
from ledger.genesis import Allocation, Genesis, GenesisError, Validator

TESTNET_CHAIN_ID = 7332
# Chains only tests run on: a test-only misbehaviour (a validator that double-signs) is refused
# anywhere else.
TEST_CHAIN_IDS = frozenset({DEV_CHAIN_ID, TESTNET_CHAIN_ID})
# Node i listens on TESTNET_P2P_BASE_PORT + i (libp2p) and TESTNET_RPC_BASE_PORT + i (JSON-RPC).
# The RPC ports start above the dev node's 8545 (core.rpc.DEFAULT_RPC_PORT), so a dev node and a
# testnet run side by side, and end far below the libp2p ports for any number of validators.
TESTNET_P2P_BASE_PORT = 26656
TESTNET_RPC_BASE_PORT = 8645


@dataclass(frozen=True, slots=True)
class TestnetNode:
    name: str
    directory: Path
    peer_id: str
    p2p_port: int
    rpc_port: int
    validator_address: bytes
    hostname: str | None = None  # containers reach each other by name; None = loopback

    @property
    def config(self) -> Path:
        return self.directory / "config.toml"

    @property
    def multiaddr(self) -> str:
        where = "/ip4/127.0.0.1" if self.hostname is None else f"/dns4/{self.hostname}"
        return f"{where}/tcp/{self.p2p_port}/p2p/{self.peer_id}"


def new_testnet(
    out: Path,
    validators: int,
    *,
    chain_id: int = TESTNET_CHAIN_ID,
    accounts: int = 10,
    base_port: int = TESTNET_P2P_BASE_PORT,
    rpc_base_port: int = TESTNET_RPC_BASE_PORT,
    chain: ChainParams | None = None,
    docker: bool = False,
    standby: int = 0,
) -> tuple[Genesis, list[TestnetNode]]:
    """Write a testnet of `validators` nodes into `out`, which must not hold one already, and
    `standby` more with validator keys that are not in the genesis set: they follow the chain
    until a `validators` proposal adds them.

    The pre-funded accounts are the dev accounts (public keys, as on the dev chain), so
    `aither wallet --dev-account N` works against the testnet too. With `docker`, every node
    listens on all interfaces on the same ports and finds its peers by container name (nodeI).
    """
    from p2p.host import peer_id_from_seed  # libp2p takes ~0.7 s to import: only when needed

    if validators < 1:
        raise GenesisError("a testnet needs at least one validator")
    if (out / "genesis.json").exists():
        raise GenesisError(f"{out} already holds a testnet (genesis.json exists)")
    keys = [(SigningKey.generate(), SigningKey.generate()) for _ in range(validators + standby)]
    genesis = Genesis(
        name=f"aither-testnet-{chain_id}",
        chain_id=chain_id,
        timestamp=DEV_TIMESTAMP,
        validators=tuple(Validator(validator.pubkey, 1) for validator, _ in keys[:validators]),
        allocations=tuple(Allocation(dev_key(i).address, DEV_BALANCE) for i in range(accounts)),
        chain=chain or ChainParams(),
        governance=DEV_GOVERNANCE,
        # The dev council's keys and identities, as the funded accounts are dev keys.
        identities=dev_council_identities(),
        council=dev_council(),
    )
    nodes = [
        TestnetNode(
            name=f"node{i}",
            directory=out / f"node{i}",
            peer_id=peer_id_from_seed(node_key.seed),
            p2p_port=base_port if docker else base_port + i,
            rpc_port=rpc_base_port if docker else rpc_base_port + i,
            validator_address=validator.address,
            hostname=f"node{i}" if docker else None,
        )
        for i, (validator, node_key) in enumerate(keys)
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "genesis.json").write_text(genesis.to_json())
    for node, (validator, node_key) in zip(nodes, keys, strict=True):
        node.directory.mkdir(mode=0o700)
        write_key_file(node.directory / "validator_key.json", validator, "validator")
        write_key_file(node.directory / "node_key.json", node_key, "node")
        peers = [other.multiaddr for other in nodes if other is not node]
        node.config.write_text(_config_toml(node, peers, "0.0.0.0" if docker else "127.0.0.1"))
    return genesis, nodes


def _config_toml(node: TestnetNode, peers: list[str], host: str) -> str:
    bootstrap = ",\n".join(f'  "{peer}"' for peer in peers)
    return f"""# Node {node.name} of this testnet; paths are relative to this file.
[node]
name = "{node.name}"
genesis = "../genesis.json"
data_dir = "data"
validator_key = "validator_key.json"
node_key = "node_key.json"

[rpc]
host = "{host}"
port = {node.rpc_port}

[p2p]
listen = ["/ip4/{host}/tcp/{node.p2p_port}"]
bootstrap = [
{bootstrap}
]
"""
