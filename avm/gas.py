"""The gas schedule: every gas constant of the AVM, named, in one place.

Units are milligas (1 gas = 1000 milligas) so that the white paper's fractional prices (§11, e.g.
KV_STORE at 0.01 gas per byte) are integers. Where the paper prices below one milligas per unit
(the document instructions), the per-unit charge is a rational `num/den` rounded up per
instruction. Opcodes the paper does not price (arithmetic, data, control) cost `simple`.

A schedule is a frozen value with a version; a chain starts with V1 and changes it only by a
passed `gas` proposal (ledger/governance), enacted at a height, so the same call costs the same on
every node. Its wire form is `[version, [cost, ...]]` in field order (a fractional price as
`[num, den]`); its JSON form names every cost.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from core.encoding import Value
from core.errors import DecodeError

MILLIGAS_PER_GAS = 1000
DEFAULT_GAS = 10_000_000  # milligas (10,000 gas): a call's or a `.test` block's limit by default
SQL_BYTES_PER_UNIT = 100  # SQL_EXECUTE's queryComplexity: one unit per this many query bytes


def ceil_div(a: int, b: int) -> int:
    """a / b rounded up, for non-negative integers."""
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class GasSchedule:
    """Prices in milligas. Field names follow the opcode they price; comments give §11's formula."""

    version: int

    # Opcodes outside §11: arithmetic, comparison, register moves, jumps.
    simple: int = 100
    call: int = 200  # CALL pushes a return address
    ret: int = 100
    halt: int = 0  # §11.4 HALT: none
    per_item: int = 10  # list/map/str building: per item or byte copied
    hash_base: int = 300
    hash_per_byte: int = 3
    log_base: int = 1000
    log_per_byte: int = 10

    # §11.1 time
    get_current_time: int = 1000  # 1
    wait: int = 0  # none
    schedule_task: int = 0  # none
    wait_for_response: int = 0  # none

    # §11.2 swarm
    swarm_connect: int = 20_000  # 20
    swarm_broadcast_base: int = 1000  # 1 + 0.01 * DATA_SIZE
    swarm_broadcast_per_byte: int = 10
    swarm_fetch_base: int = 5000  # 5 + dataComplexity (complexity = 0.01 per byte of the request)
    swarm_fetch_per_byte: int = 10
    send_swarm_msg_base: int = 5000  # 5 + 0.01 * messageSize
    send_swarm_msg_per_byte: int = 10
    fork_agent_base: int = 50_000  # 50 + codeSize * costFactor (costFactor = 0.01)
    fork_agent_per_byte: int = 10
    # Not in §11: CALL_AGENT and STATIC_CALL_AGENT (one agent calling another on chain), plus
    # the gas the callee uses, of the 63/64 of what is left that it is given.
    call_agent_base: int = 2000

    # §11.3 concurrency
    map_model_call_per_item: int = 1000  # pricePerUnit * datasetSize (pricePerUnit = 1)
    reduce_model_call_base: int = 1000  # aggTypeCost + 0.01 * resultCount
    reduce_model_call_per_item: int = 10

    # Model usage (§8.2 "usage-based fees"): the tokens a model endpoint reports for a call,
    # charged after it by the opcode's family; GPU_INFER's gas_limit= operand caps them.
    gpu_infer_per_token: int = 1000  # §11.8: 1 gas per token
    map_model_call_per_token: int = 1000  # §11.3
    reduce_model_call_per_token: int = 1000  # §11.3, an aggregation a model makes ("improve")
    separate_prompt_per_token: int = 1000  # §11.5, SEPARATE_PROMPT is priced like CALL_PLUGIN

    # §11.4 execution state
    load_execution_state: int = 10_000  # 10
    save_execution_state: int = 15_000  # 15
    reset_execution_state: int = 5000  # 5

    # §11.5 tools and plugins
    get_tools_list: int = 2000  # 2
    read_from_tool_per_byte: int = 10  # 0.01 * responseSize
    write_to_tool_per_byte: int = 20  # 0.02 * dataSize
    call_plugin_base: int = 1000  # baseCost + argsSize * 0.1
    call_plugin_per_byte: int = 100

    # §11.6 storage
    sql_execute_base: int = 1000  # queryComplexity * baseCost (complexity = bytes / 100, >= 1)
    sql_fetch_per_row: int = 1000  # rowsReturned * fetchCost
    kv_store_per_byte: int = 10  # 0.01 * valueSize
    kv_fetch_per_byte: int = 5  # 0.005 * valueSize
    kv_delete: int = 100  # not in §11: priced as a simple opcode

    # §11.7 self-learning
    self_introspect_base: int = 10_000  # 10 + dataSize * 0.01
    self_introspect_per_byte: int = 10
    self_observer_mode: int = 5000  # 5
    self_modify_base: int = 50_000  # 50 + codeSize * 0.5
    self_modify_per_byte: int = 500
    revert_code: int = 10_000  # 10
    checkpoint: int = 10_000  # CREATE_SYSTEM_CHECKPOINT, priced like REVERT_CODE
    crossover_base: int = 50_000  # priced like FORK_AGENT, plus the gas of the parents' tests
    crossover_per_byte: int = 10

    # §11.8 GPU and HPC
    gpu_rate: int = 1000  # ALLOCATE_GPU: TIME_SEC * GPU_RATE
    release_gpu: int = 10_000  # 10
    gpu_infer_per_byte: int = 10  # complexityCoeff * inputSize (coeff = 0.01)
    check_gpu_load: int = 1000  # 1
    hpc_migrate_base: int = 1000  # HPC cost + dataSize factor (1 + 0.01 per byte + credits)
    hpc_migrate_per_byte: int = 10

    # §11.9 security
    check_permissions: int = 1000  # 1
    check_sig: int = 1000  # 1
    security_check: int = 1000  # 1

    # §11.10 wallet
    check_balance: int = 2000  # 2
    pay_agent: int = 3000  # 3
    chain_op_base: int = 1000  # chainOpCost + argsSize * 0.01
    chain_op_per_byte: int = 10

    # §11.11 documents; (num, den) milligas per unit, rounded up per instruction
    calc_embed_base: int = 1  # 0.001 + textSize * 0.000001
    calc_embed_per_byte: tuple[int, int] = (1, 1000)
    doc_embed_base: int = 1  # 0.001 + textSize * 0.000001 + 0.000002 * vectorDim
    doc_store_per_dim: tuple[int, int] = (2, 1000)  # 0.000002 * vectorDim
    doc_fetch_per_dim: tuple[int, int] = (1, 1000)  # 0.000001 * vectorDim
    doc_search_per_op: tuple[int, int] = (1, 10)  # similarityCost / 10000 (one op per dim and doc)
    doc_search_per_k: tuple[int, int] = (1, 1000)  # TOP_K * 0.000001
    delete_doc: int = 1  # 0.0005, rounded up
    delete_collection: int = 1  # 0.001


MAX_COST = 2**32  # milligas of any one price: a schedule can make an opcode dear, not unbounded
MAX_SCHEDULE_VERSION = 2**32 - 1  # versions are kept under 4-byte keys
COST_NAMES = tuple(f.name for f in fields(GasSchedule) if f.name != "version")
_FRACTIONS = frozenset(f.name for f in fields(GasSchedule) if f.type == "tuple[int, int]")


class ScheduleError(DecodeError):
    """A gas schedule that is not one: a cost missing, unknown, negative or too large."""


def _cost(name: str, value: object) -> int | tuple[int, int]:
    if name in _FRACTIONS:
        if not (isinstance(value, list | tuple) and len(value) == 2):
            raise ScheduleError(f"{name} is a fraction [num, den] of milligas")
        num, den = value
        if not (_is_int(num, 0, MAX_COST) and _is_int(den, 1, MAX_COST)):
            bounds = f"num 0..{MAX_COST}, den 1..{MAX_COST}"
            raise ScheduleError(f"{name} must be a fraction [num, den] of milligas, {bounds}")
        return (num, den)
    if not _is_int(value, 0, MAX_COST):
        raise ScheduleError(f"{name} must be an integer in 0..{MAX_COST} (milligas)")
    assert isinstance(value, int)
    return value


def _is_int(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _wire_costs(schedule: GasSchedule) -> list[Value]:
    costs: list[Value] = []
    for name in COST_NAMES:
        cost = getattr(schedule, name)
        costs.append(list(cost) if name in _FRACTIONS else cost)
    return costs


def schedule_to_value(schedule: GasSchedule) -> list[Value]:
    return [schedule.version, _wire_costs(schedule)]


def schedule_from_value(value: Value) -> GasSchedule:
    """Raises ScheduleError naming the bad cost."""
    if not (isinstance(value, list) and len(value) == 2):
        raise ScheduleError("a gas schedule is [version, [cost, ...]]")
    version, costs = value
    if not (type(version) is int and 1 <= version <= MAX_SCHEDULE_VERSION):
        raise ScheduleError(f"a gas schedule's version is an integer in 1..{MAX_SCHEDULE_VERSION}")
    if not isinstance(costs, list) or len(costs) != len(COST_NAMES):
        raise ScheduleError(f"a gas schedule lists its {len(COST_NAMES)} costs in order")
    checked = {name: _cost(name, cost) for name, cost in zip(COST_NAMES, costs, strict=True)}
    return GasSchedule(version, **checked)  # type: ignore[arg-type]


def schedule_to_json(schedule: GasSchedule) -> dict[str, Any]:
    """{version, costs: {name: milligas | [num, den]}}"""
    costs = dict(zip(COST_NAMES, _wire_costs(schedule), strict=True))
    return {"version": schedule.version, "costs": costs}


def schedule_from_json(doc: dict[str, Any]) -> GasSchedule:
    """The inverse of `schedule_to_json` (as aither_getGasSchedule answers). Raises ScheduleError
    naming a cost that is missing or bad."""
    costs = doc.get("costs")
    if not isinstance(costs, dict):
        raise ScheduleError("a gas schedule's JSON has its costs by name")
    return schedule_from_value([doc.get("version"), [costs.get(name) for name in COST_NAMES]])


def schedule_with(schedule: GasSchedule, version: int, costs: dict[str, Value]) -> GasSchedule:
    """`schedule` with each named cost replaced, as version `version`. Raises ScheduleError
    naming an unknown or bad cost."""
    unknown = sorted(set(costs) - set(COST_NAMES))
    if unknown:
        raise ScheduleError(f"no cost named {unknown[0]!r} in the gas schedule")
    wire = [
        costs.get(name, cost) for name, cost in zip(COST_NAMES, _wire_costs(schedule), strict=True)
    ]
    return schedule_from_value([version, wire])


def cheaper_than_half(old: GasSchedule, new: GasSchedule) -> str | None:
    """The first cost `new` prices below half of `old`'s (a fraction compared exactly), if any;
    a cost `old` prices above 0 stays above 0."""
    for name in COST_NAMES:
        before, after = getattr(old, name), getattr(new, name)
        if name in _FRACTIONS:
            (a, b), (c, d) = before, after
            if 2 * c * b < a * d or (a and not c):
                return name
        elif 2 * after < before or (before and not after):
            return name
    return None


V1 = GasSchedule(version=1)
SCHEDULES: dict[int, GasSchedule] = {1: V1}
CURRENT = V1


def per_unit(price: tuple[int, int], units: int) -> int:
    """Milligas for `units` at a fractional price `num/den` milligas each, rounded up."""
    num, den = price
    return ceil_div(num * units, den)
