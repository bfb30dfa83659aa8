"""Gas: the schedule, dynamic prices, out-of-gas rollback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avm import gas
from avm.assembler import assemble
from avm.errors import TrapKind
from avm.instructions import OPCODES
from avm.instructions.storage import kv_key
from avm.interpreter import execute
from avm.memory_host import MemoryHost
from avm.values import encode_value
from core.encoding import decode, encode


def test_every_opcode_prices_from_the_schedule() -> None:
    for spec in OPCODES.values():
        assert isinstance(getattr(gas.V1, spec.gas), int), spec.name


def test_paper_prices_in_milligas() -> None:
    s = gas.V1
    assert s.get_current_time == 1000  # 1 gas
    assert s.kv_store_per_byte == 10  # 0.01 gas per byte
    assert (s.self_modify_base, s.self_modify_per_byte) == (50_000, 500)  # 50 + 0.5/byte
    assert gas.per_unit(s.doc_store_per_dim, 1536) == 4  # 0.000002 * 1536 gas, rounded up
    assert gas.SCHEDULES[1] is gas.V1


def test_kv_store_charges_per_byte_of_value() -> None:
    host = MemoryHost()
    code = assemble('KV_STORE "k", "0123456789"\nHALT\n').code
    result = execute(code, host)
    size = len(encode_value("0123456789"))
    assert result.gas_used == gas.V1.simple + gas.V1.kv_store_per_byte * size


def test_out_of_gas_rolls_back_everything_and_charges_all() -> None:
    host = MemoryHost()
    other = b"\x05" * 20
    host.set_balance(host.self_address(), "AVM_CREDITS", 50)
    host.world.journal.clear()
    code = assemble(
        f"""
        KV_STORE "a", 1
        PAY_AGENT x"{other.hex()}", 10
        LOG "spent"
        :spin
          JUMP spin
        """
    ).code
    events_before = list(host.world.events)
    result = execute(code, host, gas_limit=100_000)
    assert result.trap.kind is TrapKind.OUT_OF_GAS
    assert result.gas_used == 100_000
    assert host.storage_get(kv_key("a")) is None
    assert host.balance(host.self_address(), "AVM_CREDITS") == 50
    assert host.balance(other, "AVM_CREDITS") == 0
    assert host.world.events == events_before


def test_dynamic_gas_can_run_out_mid_instruction() -> None:
    host = MemoryHost()
    code = assemble('KV_STORE "k", "a long enough value to cost more"\nHALT\n').code
    result = execute(code, host, gas_limit=gas.V1.simple + 5)
    assert result.trap.kind is TrapKind.OUT_OF_GAS and result.trap.pc == 0
    assert host.storage_get(kv_key("k")) is None


@pytest.mark.parametrize("limit", [-1])
def test_negative_gas_limit_is_refused(limit: int) -> None:
    with pytest.raises(ValueError):
        execute(assemble("HALT\n").code, MemoryHost(), gas_limit=limit)


@pytest.mark.parametrize(
    ("line", "milligas"),
    [
        ("GET_CURRENT_TIME -> t", 1000),  # §11.1: 1
        ('SWARM_CONNECT "c"', 20_000),  # §11.2: 20
        ('SWARM_BROADCAST "m", "abc"', 1000 + 10 * 3),  # 1 + 0.01 * DATA_SIZE
        ('SEND_SWARM_MSG "c", "hello"', 5000 + 10 * 5),  # 5 + 0.01 * messageSize
        ("LOAD_EXECUTION_STATE", 10_000),  # §11.4: 10
        ('SAVE_EXECUTION_STATE "s"', 15_000),  # 15
        ("RESET_EXECUTION_STATE", 5000),  # 5
        ('KV_FETCH "missing" -> v', 100),  # 0.005 * valueSize (nothing stored)
        ("SELF_OBSERVER_MODE true", 5000),  # §11.7: 5
        ('CHECK_PERMISSIONS "r", "a" -> p', 1000),  # §11.9: 1
        ('CHECK_SIG x"00", x"00", "m" -> ok', 1000),  # 1
        ('CHECK_BALANCE "AVM_CREDITS", 0 -> ok', 2000),  # §11.10: 2
        ('DOC_STORE "c", 1, "", [1, 2, 3]', 100 + 1 + 10 * 10),  # 0.000002 * dim + stored bytes
        ('DELETE_DOC "c", 1', 1),  # 0.0005, rounded up to one milligas
        ('DELETE_COLLECTION "c"', 1),  # 0.001
        ("HALT", 0),  # none
    ],
)
def test_paper_gas_formulas(line: str, milligas: int) -> None:
    code = assemble(line + "\nHALT\n").code
    result = execute(code, MemoryHost(), trace=True)
    assert result.ok, result.trap
    assert result.trace[0].gas == milligas


# ---- the schedule's wire and JSON forms (what a `gas` proposal carries) ------------------------

costs = st.fixed_dictionaries(
    {
        name: st.tuples(st.integers(0, gas.MAX_COST), st.integers(1, gas.MAX_COST)).map(list)
        if isinstance(getattr(gas.V1, name), tuple)
        else st.integers(0, gas.MAX_COST)
        for name in gas.COST_NAMES
    }
)


@given(st.integers(1, gas.MAX_SCHEDULE_VERSION), costs)
def test_a_schedule_round_trips_through_its_wire_form(version: int, named: dict) -> None:
    schedule = gas.schedule_with(gas.V1, version, named)
    assert gas.schedule_from_value(decode(encode(gas.schedule_to_value(schedule)))) == schedule
    assert gas.schedule_to_json(schedule)["costs"] == named


@pytest.mark.parametrize(
    ("costs", "says"),
    [
        ({"simple": -1}, "simple must be an integer in 0.."),
        ({"simple": 2**33}, "simple must be an integer in 0.."),
        ({"simple": True}, "simple must be an integer"),
        ({"calc_embed_per_byte": [1, 0]}, "calc_embed_per_byte must be a fraction"),
        ({"calc_embed_per_byte": 3}, "calc_embed_per_byte is a fraction"),
        ({"teleport": 1}, "no cost named 'teleport'"),
    ],
)
def test_bad_costs_are_refused_naming_the_cost(costs: dict, says: str) -> None:
    with pytest.raises(gas.ScheduleError, match=says):
        gas.schedule_with(gas.V1, 2, costs)


def test_a_wire_schedule_must_list_every_cost_in_order() -> None:
    _, wire = gas.schedule_to_value(gas.V1)
    with pytest.raises(gas.ScheduleError, match="lists its 74 costs in order"):
        gas.schedule_from_value([2, wire[:-1]])
    with pytest.raises(gas.ScheduleError, match="version is an integer"):
        gas.schedule_from_value([0, wire])


def test_a_schedule_version_must_fit_its_four_byte_key() -> None:
    _, wire = gas.schedule_to_value(gas.V1)
    with pytest.raises(gas.ScheduleError, match=r"version is an integer in 1\.\.4294967295"):
        gas.schedule_from_value([gas.MAX_SCHEDULE_VERSION + 1, wire])
