"""Genesis files, the testnet generator, node configs and key files."""

import json
import stat
from dataclasses import replace

import plyvel
import pytest

from core.crypto import SigningKey, to_checksum_address
from genesis.dev import DEV_COUNCIL_NAMES, DEV_COUNCIL_ROLES, dev_genesis, dev_key
from genesis.keyfile import KeyFileError, read_key_file, write_key_file
from genesis.testnet import new_testnet
from ledger.chain import DataDirError, Ledger
from ledger.genesis import Genesis, GenesisError, GenesisIdentity
from ledger.governance import council as governance
from ledger.identity import load_identity, resolve_name
from ledger.state import State
from node.config import ConfigError, NodeConfig

# The dev genesis hash (10 accounts) before genesis registered identities: data dirs made then.
# The dev genesis hash of an older release, before identities (and before the block gas limit
# became a governance parameter).
DEV_GENESIS_HASH_WITHOUT_IDENTITIES = bytes.fromhex(
    "426874e6bf28644650fe468d282c28adef9c2dbcc8c73b89f5d08d6f95d267b5"
)


def test_genesis_json_round_trips_and_keeps_its_hash():
    genesis = dev_genesis(3)
    again = Genesis.from_json(genesis.to_json())
    assert again == genesis and again.hash == genesis.hash


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda t: t.replace('"power": 1', '"power": 0'), "power must be positive"),
        (lambda t: t.replace('"chain_id": 7331', '"chain_id": "x"'), "bad genesis file"),
        (lambda t: t[:20], "bad genesis file"),
    ],
)
def test_a_bad_genesis_file_is_refused_with_a_reason(edit, reason):
    with pytest.raises(GenesisError, match=reason):
        Genesis.from_json(edit(dev_genesis(1).to_json()))


def test_the_dev_genesis_registers_its_council_by_name(tmp_path):
    genesis = dev_genesis()
    names = dict(DEV_COUNCIL_NAMES)
    assert {(i.address, i.name, i.roles) for i in genesis.identities} == {
        (dev_key(index).address, names[index], (role.value,)) for index, role in DEV_COUNCIL_ROLES
    }
    ledger = Ledger(tmp_path, genesis)
    try:
        state = State(ledger)
        for member in governance.load_council(state):
            found = load_identity(state, member.address)
            assert found is not None and found.since == 0 and found.certificate is None
            assert resolve_name(state, found.name) == member.address
    finally:
        ledger.close()


def test_a_dev_data_dir_from_before_identities_is_refused_with_reset_advice(tmp_path):
    genesis = dev_genesis()
    assert genesis.hash != DEV_GENESIS_HASH_WITHOUT_IDENTITIES
    Ledger(tmp_path, genesis).close()
    db = plyvel.DB(str(tmp_path / "chain.ldb"))  # what the node wrote before identities
    db.put(b"m:genesis", DEV_GENESIS_HASH_WITHOUT_IDENTITIES)
    db.close()
    with pytest.raises(DataDirError, match=r"holds a different chain .* or --reset"):
        Ledger(tmp_path, genesis)


def _doc(genesis: Genesis) -> dict:
    return json.loads(genesis.to_json())


def test_a_council_member_without_an_identity_is_refused():
    genesis = dev_genesis(1)
    auditor = to_checksum_address(dev_key(5).address)
    with pytest.raises(GenesisError, match=f"council member {auditor} has no identity"):
        replace(genesis, identities=genesis.identities[1:]).validate()
    doc = _doc(genesis)
    del doc["identities"][0]
    with pytest.raises(GenesisError, match=f"council member {auditor} has no identity"):
        Genesis.from_json(json.dumps(doc))


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda d: d["identities"][0].update(name="Auditor"), "a name is a lowercase label"),
        (lambda d: d["identities"][0].update(name="a.dev.avm"), "a name is a lowercase label"),
        (lambda d: d["identities"][0].update(roles="Auditor"), "roles must be a list"),
        (lambda d: d["identities"][0].update(metadata={"k": 1}), "must be text"),
        (lambda d: d["identities"][0].update(metadata=[]), "metadata must map keys to text"),
        (lambda d: d["identities"][1].update(name=d["identities"][0]["name"]), "two identities"),
        (lambda d: d["identities"].append(d["identities"][0]), "an identity is listed twice"),
        (
            lambda d: d["identities"][0].update(address=d["identities"][1]["address"]),
            "the address is not the public key's",
        ),
        (lambda d: d["identities"][0].update(publicKey="0x1234"), "expected 32 bytes"),
    ],
)
def test_a_bad_genesis_identity_is_refused_with_a_reason(edit, reason):
    doc = _doc(dev_genesis(1))
    edit(doc)
    with pytest.raises(GenesisError, match=reason):
        Genesis.from_json(json.dumps(doc))


def test_genesis_identities_keep_metadata_and_need_no_address():
    key = SigningKey(b"\x11" * 32)
    doc = _doc(dev_genesis(1))
    doc["identities"].append(
        {
            "publicKey": "0x" + key.pubkey.hex(),
            "name": "ops.avm",
            "metadata": {"url": "x", "a": "b"},
        }
    )
    genesis = Genesis.from_json(json.dumps(doc))
    assert genesis.identities[-1] == GenesisIdentity(
        key.pubkey, "ops.avm", (), (("a", "b"), ("url", "x"))
    )
    assert Genesis.from_json(genesis.to_json()) == genesis


def test_a_testnet_has_keys_configs_and_one_genesis(tmp_path):
    genesis, nodes = new_testnet(tmp_path, 3, base_port=30000, rpc_base_port=9000)
    assert Genesis.load(tmp_path / "genesis.json") == genesis
    assert len(genesis.validators) == 3
    # Its council (the dev council's keys) is registered by name, as on the dev chain.
    assert genesis.identities == dev_genesis().identities
    assert {m.address for m in genesis.council} == {i.address for i in genesis.identities}
    assert {a.address for a in genesis.allocations} >= {dev_key(0).address}
    for index, node in enumerate(nodes):
        config = NodeConfig.load(node.config)
        assert config.genesis == tmp_path / "genesis.json"
        assert config.rpc_port == 9000 + index
        assert config.p2p_listen == (f"/ip4/127.0.0.1/tcp/{30000 + index}",)
        assert len(config.bootstrap) == 2 and node.multiaddr not in config.bootstrap
        validator = read_key_file(config.validator_key)
        assert validator.pubkey == genesis.validators[index].pubkey
        for key_file in (config.validator_key, config.node_key):
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_docker_testnet_finds_peers_by_name(tmp_path):
    _, nodes = new_testnet(tmp_path, 2, docker=True)
    config = NodeConfig.load(nodes[0].config)
    assert config.rpc_host == "0.0.0.0"
    assert config.bootstrap[0].startswith("/dns4/node1/tcp/26656/p2p/")


def test_a_testnet_is_never_overwritten(tmp_path):
    new_testnet(tmp_path, 1)
    with pytest.raises(GenesisError, match="already holds a testnet"):
        new_testnet(tmp_path, 1)


def test_config_errors_name_the_file_and_field(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[node]\nname = "n"\n')
    with pytest.raises(ConfigError, match=r"\[node\] needs `genesis`"):
        NodeConfig.load(path)
    path.write_text("[node\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        NodeConfig.load(path)
    path.write_text('[node]\nname = "n"\ngenesis = "g"\nnode_key = "k"\n[rpc]\nport = "x"\n')
    with pytest.raises(ConfigError, match="`port` must be int"):
        NodeConfig.load(path)
    with pytest.raises(ConfigError, match="cannot read config"):
        NodeConfig.load(tmp_path / "missing.toml")


def test_key_files_round_trip_and_refuse_damage(tmp_path):
    key = SigningKey(b"\x05" * 32)
    write_key_file(tmp_path / "k.json", key, "node")
    assert read_key_file(tmp_path / "k.json") == key
    with pytest.raises(FileExistsError):
        write_key_file(tmp_path / "k.json", key, "node")
    (tmp_path / "bad.json").write_text('{"seed": "0x1234"}')
    with pytest.raises(KeyFileError, match="damaged"):
        read_key_file(tmp_path / "bad.json")
