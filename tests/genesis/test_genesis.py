"""Genesis files, the testnet generator, node configs and key files."""

import stat

import pytest

from genesis.dev import dev_genesis, dev_key
from genesis.keyfile import KeyFileError, read_key_file, write_key_file
from genesis.spec import Genesis, GenesisError
from genesis.testnet import new_testnet
from ledger.crypto import SigningKey
from node.config import ConfigError, NodeConfig


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


def test_a_testnet_has_keys_configs_and_one_genesis(tmp_path):
    genesis, nodes = new_testnet(tmp_path, 3, base_port=30000, rpc_base_port=9000)
    assert Genesis.load(tmp_path / "genesis.json") == genesis
    assert len(genesis.validators) == 3
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
