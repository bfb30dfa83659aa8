"""The local host's payments and balances, council regions, scheduled tasks, per-agent state
files, and the embedder choice.

The node is a RecordedNode (what a replay uses): it answers exactly the questions listed, in
order, and any other question fails the test, so each test also shows what the host asks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import EmbedConfig, EmbedKind, OpenAIEndpoint
from agent.effects import Payment
from agent.embeddings import LocalEmbedder, OpenAIEmbedder, embedder_for
from agent.errors import RuntimeConfigError, TraceFileError
from agent.host import LocalHost, chain_token
from agent.nodelink import Exchange, RecordedNode
from agent.plugin import PluginRouter
from agent.schedule import Schedule, advanced, due, merged
from agent.state import AgentState
from avm.assembler import assemble
from avm.errors import TrapKind
from avm.interpreter import execute
from avm.memory_host import World
from core.crypto import to_checksum_address

AGENT = b"\x0a" * 20
BOB = b"\x0b" * 20
START = 1_767_225_600


def balance_read(address: bytes, amount: int) -> Exchange:
    return Exchange("aither_getBalance", [to_checksum_address(address), ""], hex(amount))


def local_host(*answers: Exchange) -> tuple[LocalHost, RecordedNode]:
    node = RecordedNode(answers)
    return LocalHost(World(time=START), AGENT, AGENT, PluginRouter([]), node), node


PAY = """
:pay
  PAY_AGENT ARGS[0], ARGS[1] -> ok
  BALANCE "AVM_CREDITS" -> mine
  BALANCE "AVM", ARGS[0] -> theirs
  RETURN [ok, mine, theirs]
:payThenRevert
  PAY_AGENT ARGS[0], ARGS[1] -> ok
  REVERT "changed my mind"
"""


def test_payments_are_queued_seen_in_balances_and_rolled_back_on_a_trap() -> None:
    code = assemble(PAY).code
    host, node = local_host(balance_read(AGENT, 100), balance_read(BOB, 5))
    result = execute(code, host, "pay", [BOB, 30])
    assert result.ok and result.value == (True, 70, 35)
    assert host.effects == [Payment(BOB, 30, "")]
    assert node.unused == 0  # each balance read once, then adjusted
    result = execute(code, host, "pay", [BOB, 71])  # 70 left after the queued payment
    assert result.ok and result.value == (False, 70, 35)
    result = execute(code, host, "payThenRevert", [BOB, 10])
    assert not result.ok and host.effects == [Payment(BOB, 30, "")]


def test_token_names_map_to_the_chains() -> None:
    assert chain_token("AVM_CREDITS") == chain_token("AVM") == chain_token("") == ""
    assert chain_token("USDX") == "USDX"


COUNCIL = """
:main
  SELF_MODIFY "STRATEGY", ":decide\\n  RETURN 2\\n" -> proposal
  RETURN proposal
.region STRATEGY council
:decide
  RETURN 1
.endregion
"""


def test_a_council_region_needs_the_on_chain_agent_it_belongs_to() -> None:
    host, _ = local_host()  # no question may reach the node
    result = execute(assemble(COUNCIL).code, host, "main")
    assert result.trap is not None and result.trap.kind is TrapKind.PERMISSION_DENIED
    assert "--agent ADDRESS" in result.trap.reason
    assert host.effects == []


SCHEDULER = """
:main
  SCHEDULE_TASK "report", 3600 -> a
  SCHEDULE_TASK "nowhere", 60 -> b
  JUMP_IF_PLUGIN_FAILED unknown
  RETURN "no"
:unknown
  SCHEDULE_TASK "report", -1 -> c
  JUMP_IF_PLUGIN_FAILED negative
  RETURN "no"
:negative
  RETURN [a, b, c]
:trapped
  SCHEDULE_TASK "report", 60
  REVERT "no"
:report
  RETURN 1
"""


def test_schedule_task_registers_a_label_from_the_block_time_without_the_node() -> None:
    code = assemble(SCHEDULER).code
    host, _ = local_host()
    host.install(AGENT, code)  # as the runner does: the agent runs this code
    result = execute(code, host, "main", trace=True)
    assert result.ok and result.value == (True, None, None)
    assert host.schedules == [Schedule("report", 3600, START + 3600)]
    notes = [dict(e.notes).get("plugin_failed") for e in result.trace or () if e.notes]
    assert any("'nowhere' is not an entry label" in str(n) for n in notes)
    result = execute(code, host, "trapped")
    assert not result.ok and host.schedules == [Schedule("report", 3600, START + 3600)]


def test_schedules_merge_fall_due_and_move_on_by_whole_periods() -> None:
    report = Schedule("report", 60, 1_000)
    sweep = Schedule("sweep", 10, 1_005)
    assert merged([report], [sweep]) == [report, sweep]
    assert merged([report, sweep], [Schedule("report", 0, 2_000)]) == [sweep]  # 0 cancels
    assert merged([report], [Schedule("report", 30, 1_500)]) == [Schedule("report", 30, 1_500)]
    assert due([sweep, report], 999) == []
    assert due([sweep, report], 1_005) == [report, sweep]
    assert advanced(report, 1_000) == Schedule("report", 60, 1_060)
    assert advanced(report, 1_250) == Schedule("report", 60, 1_300)  # missed periods run once


def test_agent_state_round_trips_and_reports_damage(tmp_path: Path) -> None:
    state = AgentState(tmp_path, AGENT)
    assert state.load() == {} and state.load_schedules() == []
    state.save({b"k2": b"v2", b"k1": b"v1"})
    assert state.load() == {b"k1": b"v1", b"k2": b"v2"}
    state.save_code(b"\x98code")
    assert state.code_path.read_bytes() == b"\x98code"
    state.save_schedules([Schedule("report", 60, 1_000)])
    assert state.load_schedules() == [Schedule("report", 60, 1_000)]
    state.path.write_bytes(b"\xc1garbage")
    with pytest.raises(RuntimeConfigError, match="damaged agent state"):
        state.load()
    state.schedule_path.write_text('[{"task": 1}]')
    with pytest.raises(RuntimeConfigError, match="damaged schedule file"):
        state.load_schedules()


def test_a_replay_that_asks_the_node_something_else_is_caught() -> None:
    host, _ = local_host(balance_read(BOB, 1))
    with pytest.raises(TraceFileError, match="the run asked aither_getBalance"):
        host.balance(AGENT, "AVM")


def test_local_embedder_is_chosen_when_installed_and_the_endpoint_otherwise() -> None:
    endpoint = OpenAIEndpoint("http://127.0.0.1:9/v1", "text-embedding-3-small")
    local = EmbedConfig(EmbedKind.LOCAL, endpoint)
    assert isinstance(embedder_for(local, local_installed=True), LocalEmbedder)
    assert isinstance(embedder_for(EmbedConfig(EmbedKind.OPENAI, endpoint), True), OpenAIEmbedder)
    assert isinstance(embedder_for(local, local_installed=False), OpenAIEmbedder)
    # With nothing to fall back on, the local embedder is kept: its first call says what to do.
    assert isinstance(embedder_for(EmbedConfig(EmbedKind.LOCAL), False), LocalEmbedder)
