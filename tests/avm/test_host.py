"""Hosts: chain deploy rules, the local host's plugin interface, record and replay, journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from avm.assembler import assemble, assemble_file
from avm.errors import NotDeployable, TrapKind
from avm.host import PluginFailure
from avm.instructions.storage import kv_key
from avm.interpreter import execute
from avm.memory_host import MemoryHost
from avm.validation import check_deployable
from avm.values import AvmMap, Value, encode_value

EXAMPLES = Path(__file__).resolve().parents[2] / "avm" / "examples"


def test_chain_host_rejects_nondeterministic_opcodes_naming_them_and_lines() -> None:
    asm = assemble_file(str(EXAMPLES / "swarm_sentiment.air"))
    with pytest.raises(NotDeployable) as info:
        check_deployable(asm.code, asm.lines())
    message = str(info.value)
    assert "WAIT_FOR_RESPONSE at line 8" in message
    assert "REDUCE_MODEL_CALL at line 9" in message
    assert "SWARM_CONNECT" not in message


def test_trading_agent_is_not_deployable_and_deterministic_code_is() -> None:
    asm = assemble_file(str(EXAMPLES / "trading_agent.air"))
    with pytest.raises(NotDeployable) as info:
        check_deployable(asm.code, asm.lines())
    assert "READ_FROM_TOOL" in str(info.value) and "GPU_INFER" in str(info.value)
    check_deployable(assemble('KV_STORE "a", 1\nHALT\n').code)


def test_chain_host_traps_a_nondeterministic_opcode_at_run_time() -> None:
    result = execute(assemble('CALC_EMBED "hi", "m" -> v\nHALT\n').code, MemoryHost())
    assert result.trap.kind is TrapKind.HOST_UNAVAILABLE


class Echo:
    """A plugin set for tests: answers from a table, fails for unknown opcodes."""

    def __init__(self, table: dict[str, Value]) -> None:
        self.table = table

    def call(self, opcode: str, args: tuple[Value, ...]) -> Value:
        if opcode not in self.table:
            raise PluginFailure(f"no {opcode}")
        return self.table[opcode]


RAG = """
:main
  SET R_state = {"conversation": [{"text": "what is AVM?"}]}
  DOC_STORE "KnowledgeDocs", "d1", "AVM is a VM", [1.0, 0.0]
  CALC_EMBED R_state.conversation[-1].text, "text-embedding-3-small", out=Q_embed
  DOC_SEARCH "KnowledgeDocs", Q_embed, 3, MMR=true -> R_docs
  GPU_INFER "LLama", R_docs, out=Rfinal
  JUMP_IF_PLUGIN_FAILED failed
  APPEND_MESSAGE R_state.conversation, "assistant", Rfinal
  RETURN R_state
:failed
  RETURN "plugin failed"
"""


def test_local_host_runs_plugins_and_repeats_them_exactly() -> None:
    code = assemble(RAG).code
    answers = {"CALC_EMBED": [1_000_000, 0], "GPU_INFER": "a VM for agents"}
    live = execute(code, MemoryHost(plugins=Echo(answers)), "main", trace=True)
    assert live.ok, live.trap
    conversation = live.value.get("conversation")
    assert conversation[-1] == AvmMap.of([("role", "assistant"), ("content", "a VM for agents")])
    notes = [n for e in live.trace for n in e.notes if n[0] == "external"]
    assert [n[1][0] for n in notes] == ["CALC_EMBED", "GPU_INFER"]
    again = execute(code, MemoryHost(plugins=Echo(answers)), "main", trace=True)
    assert again.value == live.value and again.trace == live.trace


def test_plugin_failure_sets_the_flag() -> None:
    code = assemble(RAG).code
    result = execute(code, MemoryHost(plugins=Echo({"CALC_EMBED": [1, 0]})), "main")
    assert result.value == "plugin failed"


def test_memory_host_journal_nests() -> None:
    host = MemoryHost()
    outer = host.checkpoint()
    host.storage_put(b"a", b"1")
    inner = host.checkpoint()
    host.storage_put(b"a", b"2")
    host.storage_put(b"b", b"3")
    host.rollback(inner)
    assert host.storage_items() == {b"a": b"1"}
    host.rollback(outer)
    assert host.storage_items() == {}


NONDETERMINISTIC = sorted(
    name
    for name, spec in __import__("avm.instructions", fromlist=["OPCODES"]).OPCODES.items()
    if not spec.deterministic
)


@pytest.mark.parametrize("opcode", NONDETERMINISTIC)
def test_every_nondeterministic_opcode_goes_through_the_plugins(opcode: str) -> None:
    from avm.instructions import OPCODES

    spec = OPCODES[opcode]
    args = ", ".join('"x"' if p.name not in ("time_sec", "delay_sec") else "1" for p in spec.params)
    source = f"{opcode} {args}\nRETURN ACC\n" if spec.returns else f"{opcode} {args}\nHALT\n"
    code = assemble(source).code
    calls: list[str] = []

    class Answer:
        def call(self, op: str, call_args: tuple[Value, ...]) -> Value:
            calls.append(op)
            return [1, 2] if op == "CALC_EMBED" else "answer"

    result = execute(code, MemoryHost(plugins=Answer()), gas_limit=10**7)
    assert result.ok, result.trap
    assert calls  # WAIT and the waits cost nothing in §11, so gas may be 0
    with pytest.raises(NotDeployable, match=opcode):
        check_deployable(code)


def test_introspection_and_checkpoints() -> None:
    host = MemoryHost()
    code = assemble(
        """
        .region S self
          NOP
        .endregion
        :main
          LOG "thinking"
          SELF_INTROSPECT "logs" -> logs
          SELF_INTROSPECT param="regions" -> regions
          SELF_INTROSPECT "code_id" -> id
          CREATE_SYSTEM_CHECKPOINT label="v1" -> cp
          SELF_INTROSPECT "bogus"
        """
    ).code
    host.install(host.self_address(), code)
    result = execute(code, host, "main", trace=True)
    assert result.trap.kind is TrapKind.BAD_OPERAND and result.trap.pc == 6
    outputs = {e.opcode + str(e.pc): e.outputs for e in result.trace}
    assert outputs["SELF_INTROSPECT2"] == (("thinking",),)
    assert outputs["SELF_INTROSPECT3"] == ((("S", "self"),),)
    assert outputs["SELF_INTROSPECT4"] == (code.code_id,)
    assert outputs["CREATE_SYSTEM_CHECKPOINT5"] == (code.code_id,)


def test_local_host_doc_embed_stores_the_vector() -> None:
    class Embed:
        def call(self, op: str, args: tuple[Value, ...]) -> Value:
            return [3, 4]

    code = assemble(
        """
        DOC_EMBED "c", "d", "some text", "embedder"
        DOC_FETCH "c", "d" -> doc
        RETURN doc
        """
    ).code
    assert execute(code, MemoryHost(plugins=Embed())).value == ("some text", (3, 4))


def test_plugin_returning_a_non_avm_value_is_a_plugin_failure() -> None:
    class Bad:
        def call(self, op: str, args: tuple[Value, ...]) -> Value:
            return 1.5  # floats are never AVM values

    code = assemble(
        'READ_FROM_TOOL "t" -> r\nJUMP_IF_PLUGIN_FAILED f\nRETURN r\n:f\nRETURN "f"\n'
    ).code
    assert execute(code, MemoryHost(plugins=Bad())).value == "f"


CALLEE_IR = """
:double
  MUL ARGS[0], 2 -> r
  KV_STORE "last", r
  RETURN r
:write
  KV_STORE "x", 1
  RETURN 1
"""
CALLER_IR = """
:call
  CALL_AGENT ARGS[0], ARGS[1], ARGS[2], ARGS[3] -> r
  JUMP_IF_PLUGIN_FAILED failed
  RETURN r
:static
  STATIC_CALL_AGENT ARGS[0], ARGS[1] -> r
  JUMP_IF_PLUGIN_FAILED failed
  RETURN r
:failed
  RETURN "failed"
"""


def test_the_memory_host_serves_agent_calls_with_value_and_read_only_frames() -> None:
    caller, callee, nobody = b"\x0a" * 20, b"\x0b" * 20, b"\x0c" * 20
    host = MemoryHost(address=caller)
    host.install(callee, assemble(CALLEE_IR).code)
    host.set_balance(caller, "AVM_CREDITS", 100)
    code = assemble(CALLER_IR).code
    done = execute(code, host, "call", [callee, "double", (4,), 30])
    assert done.ok and done.value == 8
    assert host.view(callee).storage_items() == {kv_key("last"): encode_value(8)}
    assert host.balance(callee, "AVM_CREDITS") == 30 and host.balance(caller, "AVM_CREDITS") == 70
    assert execute(code, host, "call", [nobody, "double", (4,), 0]).value == "failed"
    assert execute(code, host, "call", [callee, "double", (4,), 1000]).value == "failed"  # unpaid
    assert host.balance(callee, "AVM_CREDITS") == 30
    assert execute(code, host, "static", [callee, "write"]).value == "failed"
    assert kv_key("x") not in host.view(callee).storage_items()
    assert execute(code, host, "call", [callee, "write", (), 0]).value == 1
    assert kv_key("x") in host.view(callee).storage_items()
