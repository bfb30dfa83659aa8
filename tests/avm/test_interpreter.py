"""Interpreter semantics, opcode family by family, and the agreement of the fast and exact paths."""

from __future__ import annotations

import pytest

from avm.assembler import assemble
from avm.errors import TrapKind
from avm.instructions.storage import kv_key
from avm.interpreter import MAX_CALL_DEPTH, execute
from avm.memory_host import MemoryHost
from avm.program import prepare
from avm.values import FIXED_SCALE, MAX_INT, AvmMap, encode_value

# ---- arithmetic and comparison --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("ADD 2, 3", 5),
        ("SUB 2, 3", -1),
        ("MUL -4, 3", -12),
        ("DIV 7, 2", 3),
        ("DIV -7, 2", -4),
        ("MOD 7, 3", 1),
        ("NEG 5", -5),
        ("ABS -5", 5),
        ("MIN 2, 9", 2),
        ("MAX 2, 9", 9),
        ("MULF 1.5, 2.0", 3 * FIXED_SCALE),
        ("DIVF 1.0, 4.0", FIXED_SCALE // 4),
        ("EQ [1, 2], [1, 2]", True),
        ("EQ 1, true", False),
        ('NE "a", "b"', True),
        ("LT 1, 2", True),
        ("GE 1, 2", False),
        ("AND 1, 0", False),
        ('OR 0, "x"', True),
        ("NOT null", True),
    ],
)
def test_arithmetic(run, expr: str, value: object) -> None:
    result = run(f"{expr} -> R\nRETURN R\n")
    assert result.ok, result.trap
    assert result.value == value and type(result.value) is type(value)


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ('ADD 1, "x" -> R', TrapKind.BAD_OPERAND),
        ("ADD true, 1 -> R", TrapKind.BAD_OPERAND),
        ("DIV 1, 0 -> R", TrapKind.BAD_OPERAND),
        (f"ADD {MAX_INT}, 1 -> R", TrapKind.VALUE_TOO_LARGE),
        (f"MUL {MAX_INT}, {MAX_INT} -> R", TrapKind.VALUE_TOO_LARGE),
    ],
)
def test_arithmetic_traps(run, source: str, kind: TrapKind) -> None:
    for trace in (False, True):
        result = run(source + "\nHALT\n", trace=trace)
        assert result.trap is not None and result.trap.kind is kind
        assert result.trap.pc == 0


def test_expressions_and_paths(run) -> None:
    result = run(
        """
        SET S = {"conversation": [{"text": "hi"}, {"text": "there"}]}
        SET T = S.conversation[-1].text
        SET N = (2 + 3) * 4 - 1
        SET M = S.missing.deeper
        RETURN [T, N, M]
        """
    )
    assert result.value == ("there", 19, None)


# ---- control flow ---------------------------------------------------------------------------


def test_jumps_calls_and_implicit_result(run) -> None:
    result = run(
        """
        :main
          SET I = 0
        :loop
          ADD I, 1 -> I
          LT I, 5
          JUMP_IF loop
          CALL double
          RETURN D
        :double
          MUL I, 2 -> D
          RET
        """,
        entry="main",
    )
    assert result.value == 10


def test_if_else_blocks(run) -> None:
    source = """
        :main
          IF ARGS[0] > 10 AND NOT ARGS[1] THEN
            SET R = "big"
          ELSE
            SET R = "small"
          ENDIF
          RETURN R
    """
    assert run(source, "main", [11, False]).value == "big"
    assert run(source, "main", [11, True]).value == "small"
    assert run(source, "main", [3, False]).value == "small"


def test_call_depth_is_bounded(run) -> None:
    result = run(":f\n  CALL f\n", entry="f")
    assert result.trap.kind is TrapKind.CALL_DEPTH
    assert result.gas_used == (MAX_CALL_DEPTH + 1) * 200


def test_ret_at_top_level_and_running_off_the_end(run) -> None:
    assert run("SET R = 1\nRET\n").ok
    result = run("SET R = 1\n")
    assert result.ok and result.value is None


def test_revert_carries_reason_and_rolls_back(run, host: MemoryHost) -> None:
    result = run('KV_STORE "k", 1\nREVERT "no way"\n')
    assert result.trap.kind is TrapKind.REVERT and result.trap.reason == "no way"
    assert host.storage_get(kv_key("k")) is None


def test_unknown_entry_label(run) -> None:
    result = run("HALT\n", entry="nowhere")
    assert result.trap.kind is TrapKind.UNKNOWN_LABEL and result.gas_used == 0


# ---- data -----------------------------------------------------------------------------------


def test_lists_and_maps(run) -> None:
    result = run(
        """
        SET L = [1, 2]
        APPEND L, 3
        PUT L, 0, 9 -> L
        MAP "a", 1, "b", 2 -> M
        PUT M, "c", 3 -> M
        DELETE M, "a"
        LEN L -> n
        HAS M, "c" -> h
        KEYS M -> k
        CONCAT "ab", "cd" -> s
        SLICE [1, 2, 3, 4], 1, 3 -> sl
        STR 42 -> txt
        RETURN [L, M, n, h, k, s, sl, txt]
        """
    )
    assert result.ok, result.trap
    assert result.value == (
        (9, 2, 3),
        AvmMap.of([("b", 2), ("c", 3)]),
        3,
        True,
        ("b", "c"),
        "abcd",
        (2, 3),
        "42",
    )


def test_append_message_updates_the_conversation_path(run) -> None:
    result = run(
        """
        SET R_state = {"conversation": []}
        APPEND_MESSAGE R_state.conversation, "assistant", "hello"
        RETURN R_state
        """
    )
    msg = AvmMap.of([("role", "assistant"), ("content", "hello")])
    assert result.value == AvmMap.of([("conversation", (msg,))])


def test_hash_is_blake2b_of_canonical_encoding(run) -> None:
    from core.crypto import hash32

    assert run('HASH [1, "a"] -> h\nRETURN h\n').value == hash32(encode_value((1, "a")))


def test_value_size_bound(run) -> None:
    result = run(
        """
        SET S = "xxxxxxxxxxxxxxxx"
        :grow
          CONCAT S, S -> S
          JUMP grow
        """
    )
    assert result.trap.kind is TrapKind.VALUE_TOO_LARGE


def test_log_is_recorded_and_emitted(run, host: MemoryHost) -> None:
    result = run('LOG "hello", 5\nHALT\n')
    assert result.logs == (("hello", 5),)
    assert host.world.events[-1][1] == "log"


# ---- storage --------------------------------------------------------------------------------


def test_kv_store_fetch_delete(run, host: MemoryHost) -> None:
    result = run(
        """
        KV_STORE "k", [1, 2]
        KV_FETCH "k" -> a
        KV_DELETE "k" -> d
        KV_FETCH "k" -> b
        RETURN [a, d, b]
        """
    )
    assert result.value == ((1, 2), True, None)


def test_execution_state_saves_and_restores_registers(run) -> None:
    first = run('SET Rport = {"BTC": 2}\nSAVE_EXECUTION_STATE\nHALT\n')
    assert first.ok
    second = run("LOAD_EXECUTION_STATE\nRETURN Rport\n")
    assert second.value == AvmMap.of([("BTC", 2)])
    third = run("RESET_EXECUTION_STATE\nLOAD_EXECUTION_STATE -> s\nRETURN s\n")
    assert third.value is None


# ---- wallet and identity --------------------------------------------------------------------


def test_balances_and_payments(run, host: MemoryHost) -> None:
    me = host.self_address()
    other = b"\x05" * 20
    host.set_balance(me, "AVM_CREDITS", 100)
    host.world.journal.clear()
    result = run(
        f"""
        CHECK_BALANCE "AVM_CREDITS", 100 -> enough
        PAY_AGENT x"{other.hex()}", 30 -> paid
        PAY_AGENT x"{other.hex()}", 1000, "AVM_CREDITS" -> too_much
        BALANCE -> mine
        BALANCE "AVM_CREDITS", x"{other.hex()}" -> theirs
        RETURN [enough, paid, too_much, mine, theirs]
        """
    )
    assert result.value == (True, True, False, 70, 30)


def test_payment_rolled_back_on_trap(run, host: MemoryHost) -> None:
    other = b"\x05" * 20
    host.set_balance(host.self_address(), "AVM_CREDITS", 100)
    host.world.journal.clear()
    result = run(f'PAY_AGENT x"{other.hex()}", 30\nREVERT "changed my mind"\n')
    assert not result.ok
    assert host.balance(host.self_address(), "AVM_CREDITS") == 100
    assert host.balance(other, "AVM_CREDITS") == 0


def test_identity_time_and_signatures(run, host: MemoryHost) -> None:
    from core.crypto import SigningKey

    key = SigningKey(b"\x11" * 32)
    sig = key.sign(b"hello")
    result = run(
        f"""
        CALLER -> c
        SELF_ADDRESS -> me
        GET_CURRENT_TIME -> t
        CHECK_SIG x"{key.pubkey.hex()}", x"{sig.hex()}", x"{b"hello".hex()}" -> good
        CHECK_SIG x"{key.pubkey.hex()}", x"{sig.hex()}", x"00" -> bad
        CHECK_PERMISSIONS "trader", "GPU_RESERVE" -> p
        RETURN [c, me, t, good, bad, p]
        """
    )
    assert result.value == (
        host.caller(),
        host.self_address(),
        host.block_time(),
        True,
        False,
        False,
    )


def test_security_check_refusal_is_permission_denied() -> None:
    host = MemoryHost(security_policy=lambda obj: False)
    code = assemble('SECURITY_CHECK {"action": "BUY"}\nHALT\n').code
    result = execute(code, host)
    assert result.trap.kind is TrapKind.PERMISSION_DENIED


# ---- documents ------------------------------------------------------------------------------


def test_document_store_and_search(run) -> None:
    result = run(
        """
        DOC_STORE "docs", "a", "apples", [1.0, 0.0]
        DOC_STORE "docs", "b", "bananas", [0.0, 1.0]
        DOC_STORE "docs", "c", "apricots", [0.9, 0.1]
        DOC_SEARCH "docs", [1.0, 0.0], 2 -> top
        DOC_SEARCH "docs", [1.0, 0.0], 2, MMR=true -> diverse
        DOC_FETCH "docs", "b" -> b
        DELETE_DOC "docs", "b" -> gone
        DOC_FETCH "docs", "b" -> b2
        DELETE_COLLECTION "docs" -> dropped
        DOC_SEARCH "docs", [1.0, 0.0], 2 -> empty
        RETURN [top, diverse, b, gone, b2, dropped, empty]
        """
    )
    assert result.ok, result.trap
    top, diverse, b, gone, b2, dropped, empty = result.value
    assert [d.get("id") for d in top] == ["a", "c"]
    assert [d.get("id") for d in diverse] == ["a", "b"]
    assert top[0].get("score") == FIXED_SCALE
    assert b == ("bananas", (0, FIXED_SCALE))
    assert (gone, b2, dropped, empty) == (True, None, True, ())


# ---- swarm ----------------------------------------------------------------------------------


def test_swarm_messages_are_events(run, host: MemoryHost) -> None:
    result = run(
        """
        SWARM_CONNECT "SocialSwarm"
        SWARM_BROADCAST "REQ", [1, 2], REWARD=5
        SEND_SWARM_MSG "SocialSwarm", "hi"
        SWARM_FETCH "sentiment", 7 -> handle
        RETURN handle
        """
    )
    assert result.ok and len(result.value) == 32
    topics = [t for _, t, _ in host.world.events]
    assert topics == ["swarm.connect", "swarm.broadcast", "swarm.message", "swarm.fetch"]


# ---- the fast path and the exact path agree -------------------------------------------------

PROGRAM = """
:main
  SET n = ARGS[0]
  SET acc = 0
:loop
  MUL acc, 3 -> t
  ADD t, n -> acc
  MOD acc, 1000003 -> acc
  SUB n, 1 -> n
  JUMP_IF n, loop
  KV_STORE "acc", acc
  RETURN acc
"""


@pytest.mark.parametrize("gas", [0, 99, 100, 1_000, 2_345, 5_000, 50_000, 71_800, 10**9])
def test_fast_and_exact_paths_agree_on_every_gas_limit(gas: int) -> None:
    code = assemble(PROGRAM).code
    prepare(code).compile_all()
    outcomes = []
    for mode in ("fast", "exact", "trace"):
        host = MemoryHost()
        result = execute(
            code, host, "main", [120], gas, trace=mode == "trace", exact=mode == "exact"
        )
        outcomes.append(
            (
                result.value,
                result.gas_used,
                None if result.trap is None else (result.trap.kind, result.trap.pc),
                host.storage_items(),
            )
        )
    assert outcomes[0] == outcomes[1] == outcomes[2]


TRAPS_MID_BLOCK = 'SET a = 1\nSET b = 2\nADD a, "x" -> c\nSET d = 4\nHALT\n'


def test_compiled_blocks_are_used_once_hot() -> None:
    code = assemble(PROGRAM).code
    program = prepare(code)
    execute(code, MemoryHost(), "main", [200], 10**9)
    loop = code.label_pc("loop")
    assert program.blocks[loop] is not None and program.heat[loop] == 0


def test_trap_inside_a_block_charges_exactly_up_to_the_instruction(run) -> None:
    prepare(assemble(TRAPS_MID_BLOCK).code).compile_all()
    fast = run(TRAPS_MID_BLOCK)
    exact = run(TRAPS_MID_BLOCK, trace=True)
    assert fast.gas_used == exact.gas_used == 300
    assert fast.trap.pc == exact.trap.pc == 2


def test_deep_nesting_is_value_too_large_not_a_crash(run) -> None:
    result = run(
        """
        SET x = 0
        SET i = 0
        :nest
          LIST x -> x
          ADD i, 1 -> i
          LT i, 2000
          JUMP_IF nest
        KV_STORE "deep", x
        """
    )
    assert result.trap.kind is TrapKind.VALUE_TOO_LARGE


def test_bad_arguments_are_a_precise_trap() -> None:
    result = execute(assemble("RETURN ARGS\n").code, MemoryHost(), args=[1.5])
    assert result.trap.kind is TrapKind.BAD_OPERAND and result.gas_used == 0
