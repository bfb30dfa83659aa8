"""The same code, input and state give the same result, gas and trace on every machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json
from avm.assembler import assemble
from avm.memory_host import MemoryHost
from avm.interpreter import execute
from avm.trace import trace_hash

SOURCE = '''
:main
  SET m = {}
  SET i = 0
:loop
  PUT m, i, ["v", i * i] -> m
  KV_STORE i, {"sq": i * i, "s": "x"}
  DOC_STORE "c", i, "doc", [i, 3, -2]
  ADD i, 1 -> i
  LT i, 12
  JUMP_IF loop
  DOC_SEARCH "c", [1, 1, 1], 4, MMR=true -> top
  HASH m -> h
  KEYS m -> k
  SWARM_FETCH "x", h -> handle
  LOG "done", [top, handle]
  RETURN [h, k, top]
'''
out = []
for trace in (True, False):
    host = MemoryHost()
    r = execute(assemble(SOURCE).code, host, "main", [], 10**9, trace=trace)
    out.append({
        "ok": r.ok,
        "gas": r.gas_used,
        "trace": trace_hash(r.trace).hex() if r.trace else None,
        "storage": sorted((k.hex(), v.hex()) for k, v in host.storage_items().items()),
        "events": [(t, d.hex()) for _, t, d in host.world.events],
    })
print(json.dumps(out))
"""


def _run(seed: str) -> list[dict]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(proc.stdout)


def test_two_processes_with_different_hash_seeds_agree() -> None:
    first, second = _run("1"), _run("4242")
    assert first == second
    traced, fast = first
    assert traced["ok"] and traced["trace"]
    assert (traced["gas"], traced["storage"], traced["events"]) == (
        fast["gas"],
        fast["storage"],
        fast["events"],
    )
