"""Self-modification under region policies, snapshots and lineage; FORK_AGENT and CROSSOVER."""

from __future__ import annotations

import pytest

from avm.assembler import assemble, assemble_fragment
from avm.code import CodeObject
from avm.disassembler import disassemble_region
from avm.errors import TrapKind
from avm.host import LineageKind
from avm.interpreter import execute
from avm.memory_host import MemoryHost
from avm.selfmod import region_body, replace_region

AGENT = """
:main
  CALL strategy
  RETURN ACC
.region STRATEGY self
:strategy
  SET ACC = 1
  RET
.test gives_one
  entry main
  expect 1
.endtest
.endregion
.region CORE locked
:core
  HALT
.endregion
.region GOV council
  NOP
.endregion
:evolve
  SELF_OBSERVER_MODE true
  SELF_MODIFY "STRATEGY", ARGS[0] -> snap
  RETURN snap
:evolve_blind
  SELF_MODIFY "STRATEGY", ARGS[0]
  HALT
:evolve_locked
  SELF_OBSERVER_MODE true
  SELF_MODIFY "CORE", "HALT"
:evolve_gov
  SELF_MODIFY "GOV", "NOP"
  RETURN ACC
:read
  SELF_READ "STRATEGY"
  RETURN ACC
:sandbox
  SELF_MODIFY_SANDBOX "STRATEGY", ARGS[0]
  RETURN ACC
:revert
  SELF_OBSERVER_MODE true
  REVERT_CODE "STRATEGY", ARGS[0]
  RETURN ACC
:cross
  CROSSOVER "self", ARGS[0], ["STRATEGY"], ARGS[1]
  RETURN ACC
:fork
  FORK_AGENT "self", "TradingSwarm"
  RETURN ACC
"""
RETURNS_TWO = ":strategy\n  SET ACC = 2\n  RET\n"


@pytest.fixture
def agent() -> tuple[MemoryHost, CodeObject]:
    host = MemoryHost()
    code = assemble(AGENT).code
    host.install(host.self_address(), code)
    return host, code


def call(host: MemoryHost, entry: str, *args: object, trace: bool = False):
    code = host.code_of(host.self_address())
    return execute(code, host, entry, list(args), 10**8, trace=trace)


def test_self_read_returns_region_ir(agent) -> None:
    host, code = agent
    text = call(host, "read").value
    assert text == disassemble_region(code, "STRATEGY")
    assert replace_region(code, "STRATEGY", assemble_fragment(text)).code_id == code.code_id


def test_self_region_rewrite_needs_observer_mode(agent) -> None:
    host, code = agent
    result = call(host, "evolve_blind", RETURNS_TWO)
    assert result.trap.kind is TrapKind.PERMISSION_DENIED
    assert host.code_of(host.self_address()) == code


def test_self_region_rewrite_snapshot_lineage_and_trace(agent) -> None:
    host, code = agent
    result = call(host, "evolve", RETURNS_TWO, trace=True)
    assert result.ok, result.trap
    assert result.value == code.code_id  # the snapshot to revert to
    notes = dict(next(e for e in result.trace if e.opcode == "SELF_MODIFY").notes)
    assert "SET 1 -> ACC" in notes["before"] and "SET 2 -> ACC" in notes["after"]
    assert call(host, "main").value == 2
    lineage = host.lineage(host.self_address())
    assert [c.kind for c in lineage] == [LineageKind.DEPLOY, LineageKind.SELF_MODIFY]
    assert lineage[-1].parents == (code.code_id,) and lineage[-1].region == "STRATEGY"
    # the rewrite cost 50 gas + 0.5 gas per byte of new code
    per_byte = len(RETURNS_TWO.encode())
    entry = next(e for e in result.trace if e.opcode == "SELF_MODIFY")
    assert entry.gas == 50_000 + 500 * per_byte


def test_revert_code_restores_a_snapshot(agent) -> None:
    host, code = agent
    call(host, "evolve", RETURNS_TWO)
    assert call(host, "revert", code.code_id).ok
    assert call(host, "main").value == 1
    assert host.code_of(host.self_address()).code_id == code.code_id
    assert host.lineage(host.self_address())[-1].kind is LineageKind.REVERT_CODE


def test_locked_region_traps(agent) -> None:
    host, _code = agent
    result = call(host, "evolve_locked")
    assert result.trap.kind is TrapKind.PERMISSION_DENIED
    assert "locked" in result.trap.reason


def test_council_region_files_a_proposal(agent) -> None:
    host, code = agent
    result = call(host, "evolve_gov")
    assert result.ok
    proposal = host.world.proposals[result.value]
    assert proposal.region == "GOV" and proposal.base_code_id == code.code_id
    assert host.code_of(host.self_address()) == code  # nothing changes until governance acts


def test_rewrite_rolls_back_with_the_call(agent) -> None:
    host, _code = agent
    source = AGENT.replace("RETURN snap", 'REVERT "abort"')
    code2 = assemble(source).code
    host.install(host.self_address(), code2)
    result = execute(code2, host, "evolve", [RETURNS_TWO], 10**8)
    assert result.trap.kind is TrapKind.REVERT
    assert host.code_of(host.self_address()) == code2


def test_sandbox_runs_region_tests_without_applying(agent) -> None:
    host, code = agent
    bad = call(host, "sandbox", RETURNS_TWO).value
    assert bad.get("status") == "FAIL" and bad.get("failed") == 1
    good = call(host, "sandbox", ":strategy\n  SET ACC = 0\n  ADD ACC, 1 -> ACC\n  RET\n").value
    assert good.get("status") == "PASS"
    assert host.code_of(host.self_address()) == code


def test_patch_that_does_not_assemble_is_a_bad_operand(agent) -> None:
    host, _ = agent
    result = call(host, "evolve", "SETT ACC = 1")
    assert result.trap.kind is TrapKind.BAD_OPERAND and "did you mean SET" in result.trap.reason


def test_nondeterministic_patch_is_refused_on_the_chain_host(agent) -> None:
    host, _ = agent
    result = call(host, "evolve", ':strategy\n  GPU_INFER "m", 1 -> ACC\n  RET\n')
    assert result.trap.kind is TrapKind.PERMISSION_DENIED


def test_fork_agent_deploys_a_child_with_lineage(agent) -> None:
    host, code = agent
    result = call(host, "fork")
    child = result.value
    assert host.code_of(child) == code
    (change,) = host.lineage(child)
    assert change.kind is LineageKind.FORK and change.parent_agents == (host.self_address(),)
    assert host.world.channels[child] == "TradingSwarm"


def _parent(host: MemoryHost, address: bytes, value: int, expect: int) -> CodeObject:
    source = AGENT.replace("SET ACC = 1", f"SET ACC = {value}").replace(
        "expect 1", f"expect {expect}"
    )
    code = assemble(source).code
    host.install(address, code)
    return code


def test_crossover_child_inherits_region_and_passes_tests(agent) -> None:
    host, code = agent
    b = b"\x0b" * 20
    code_b = _parent(host, b, 5, 5)
    result = call(host, "cross", b, None)
    assert result.ok, result.trap
    child = result.value.get("child")
    assert result.value.get("reason") is None
    child_code = host.code_of(child)
    assert execute(child_code, host, "main", gas_limit=10**6).value == 5
    (change,) = host.lineage(child)
    assert change.kind is LineageKind.CROSSOVER
    assert change.parents == (code.code_id, code_b.code_id)
    assert change.parent_agents == (host.self_address(), b)


def test_crossover_child_failing_parent_tests_is_not_deployed(agent) -> None:
    host, _ = agent
    b = b"\x0c" * 20
    _parent(host, b, 6, 1)  # B's strategy returns 6 but its own test expects 1
    agents_before = dict(host.world.code)
    result = call(host, "cross", b, None)
    assert result.ok
    assert result.value.get("child") is None
    assert "test gives_one failed" in result.value.get("reason")
    assert host.world.code == agents_before


def test_crossover_with_mutation(agent) -> None:
    host, _ = agent
    b = b"\x0d" * 20
    _parent(host, b, 5, 5)
    mutation = ["STRATEGY", ":strategy\n  SET ACC = 7\n  RET\n"]
    result = call(host, "cross", b, mutation)
    assert result.value.get("child") is None
    assert "returned 7, expected 5" in result.value.get("reason")


def test_region_surgery_keeps_outside_labels() -> None:
    code = assemble(
        """
        :before
        .region A self
        :a
          NOP
          NOP
        :a_end
        .endregion
        :after
          JUMP before
        .region B self
        :b
          JUMP after
        .endregion
        """
    ).code
    body = assemble_fragment(":a\n  NOP\n:a_end\n")
    new = replace_region(code, "A", body)
    pcs = {lb.name: lb.pc for lb in new.labels}
    assert pcs == {"before": 0, "a": 0, "a_end": 1, "after": 1, "b": 2}
    assert new.region("B").start == 2
    assert replace_region(new, "A", region_body(code, "A")).code_id == code.code_id


def test_region_tests_check_storage_and_reverts() -> None:
    from avm.interpreter import run_tests

    code = assemble(
        """
        :bump
          KV_FETCH "n" -> n
          ADD n, 1 -> n
          KV_STORE "n", n
          RETURN n
        :boom
          REVERT "no"
        .test bumps
          entry bump
          storage "n" = 41
          expect 42
          expect_storage "n" = 42
        .endtest
        .test wrong_storage
          entry bump
          storage "n" = 1
          expect_storage "n" = 3
        .endtest
        .test reverts
          entry boom
          expect_revert
        .endtest
        """
    ).code
    outcomes = {o.name: o for o in run_tests(code, code.tests)}
    assert outcomes["bumps"].passed and outcomes["reverts"].passed
    assert not outcomes["wrong_storage"].passed
    assert "storage 'n' is 2, expected 3" in outcomes["wrong_storage"].reason
