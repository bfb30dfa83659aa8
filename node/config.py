"""A node's TOML configuration: where its genesis, keys and data live, and its ports and peers.

Paths in the file are relative to the file's own directory, so a testnet directory can be moved
or mounted into a container as a whole.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from core.errors import AitherError
from core.rpc import DEFAULT_RPC_PORT

_T = TypeVar("_T")


class ConfigError(AitherError):
    """A configuration file or key file that cannot be used, naming the file and the field."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str
    path: Path
    data_dir: Path
    genesis: Path
    validator_key: Path | None
    node_key: Path
    rpc_host: str
    rpc_port: int
    p2p_listen: tuple[str, ...]
    bootstrap: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        try:
            doc = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        base = path.parent
        node, rpc, p2p = doc.get("node", {}), doc.get("rpc", {}), doc.get("p2p", {})

        def field(
            table: dict[str, Any], key: str, kind: type[_T], where: str, default: object = ...
        ) -> _T:
            value = table.get(key, default)
            if value is ...:
                raise ConfigError(f"{path}: [{where}] needs `{key}`")
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                raise ConfigError(f"{path}: [{where}] `{key}` must be {kind.__name__}")
            return value

        def rel(value: object) -> Path:
            return Path(os.path.normpath(base / str(value)))

        validator = field(node, "validator_key", str, "node", "")
        listen = field(p2p, "listen", list, "p2p", [])
        bootstrap = field(p2p, "bootstrap", list, "p2p", [])
        port = field(rpc, "port", int, "rpc", DEFAULT_RPC_PORT)
        if not 0 <= port < 65536:
            raise ConfigError(f"{path}: [rpc] `port` must be 0..65535")
        return cls(
            name=str(field(node, "name", str, "node")),
            path=path,
            data_dir=rel(field(node, "data_dir", str, "node", "data")),
            genesis=rel(field(node, "genesis", str, "node")),
            validator_key=rel(validator) if validator else None,
            node_key=rel(field(node, "node_key", str, "node")),
            rpc_host=str(field(rpc, "host", str, "rpc", "127.0.0.1")),
            rpc_port=port,
            p2p_listen=tuple(str(a) for a in listen),
            bootstrap=tuple(str(a) for a in bootstrap),
        )
