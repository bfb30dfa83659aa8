"""Attacks replayed against real nodes: the integration fixtures, shared with tests/integration.

The dev-node fixtures live in tests/integration/conftest.py and the testnet in
tests/integration/testnet_fixture.py; this directory uses the same ones (loaded under their own
module names, so the two conftest files never shadow each other).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


integration = _load("integration_conftest", _INTEGRATION / "conftest.py")

DevNode = integration.DevNode
NodeLauncher = integration.NodeLauncher
RpcFailure = integration.RpcFailure
free_port = integration.free_port
wait_until = integration.wait_until

# Fixtures, re-exported so that pytest finds them here.
start_node = integration.start_node
dev_node = integration.dev_node
shared_node = integration.shared_node
model_url = integration.model_url
wait_until_fixture = integration.wait_until_fixture
run_aither = integration.run_aither
