"""The node's JSON-RPC method table: each family's methods, composed here and nowhere else.

`aither_*`/`eth_*` chain methods in chain_methods.py, the other `eth_*` reads Ethereum tools
make (receipts, logs, filters, calls, fee history) in eth_methods.py, agent methods in
agent_methods.py, governance in gov_methods.py, identities, channels and `swarm_*` in
swarm_methods.py, a dev chain's controls in dev_methods.py.
"""

from __future__ import annotations

from node.rpc import (
    agent_methods,
    chain_methods,
    dev_methods,
    discovery,
    eth_methods,
    gov_methods,
    prefixes,
    swarm_methods,
)
from node.rpc.method_table import Handler, MethodTable

FAMILIES: tuple[MethodTable, ...] = (
    chain_methods.TABLE,
    eth_methods.TABLE,
    agent_methods.TABLE,
    gov_methods.TABLE,
    swarm_methods.TABLE,
    dev_methods.TABLE,
    prefixes.TABLE,
    discovery.TABLE,
)


def _compose(tables: tuple[MethodTable, ...]) -> dict[str, Handler]:
    composed: dict[str, Handler] = {}
    for table in tables:
        clash = composed.keys() & table.handlers.keys()
        if clash:
            raise ValueError(f"RPC methods registered by two families: {sorted(clash)}")
        composed.update(table.handlers)
    return composed


METHODS: dict[str, Handler] = _compose(FAMILIES)
ADMIN_METHODS: frozenset[str] = frozenset().union(*(table.admin for table in FAMILIES))
