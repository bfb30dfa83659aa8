"""The non-deterministic family: models, embeddings, tools, plugins, HPC/GPU, SQL, other chains,
waiting and scheduling (§11.1, §11.3, §11.5, §11.6, §11.8, §11.10, §11.11).

Every opcode here asks the host (`Machine.external`); the chain host refuses them at deploy time.
A failed plugin call gives null and sets the flag that JUMP_IF_PLUGIN_FAILED tests. Gas follows
§11, charged after the call where it depends on the response; a model's tokens (the usage its
endpoint reports) are charged by the opcode's family, and GPU_INFER's `gas_limit=` caps them.
"""

from __future__ import annotations

from collections.abc import Callable

from avm.errors import TaskRefused
from avm.gas import MILLIGAS_PER_GAS, SQL_BYTES_PER_UNIT, per_unit
from avm.instructions.documents import doc_store
from avm.instructions.self_modify import current_code
from avm.machine import Machine
from avm.opcodes import Family, OpFunction, P, Param
from avm.values import Value, size_of

family = Family("external")


def _op(
    name: str, *params: Param, gas: str = "simple", returns: bool = True
) -> Callable[[OpFunction], OpFunction]:
    return family.op(name, *params, gas=gas, returns=returns, deterministic=False)


def _items(value: Value) -> int:
    return len(value) if type(value) is tuple else 1


@_op("WAIT_FOR_RESPONSE", P("handle"), P("timeout_sec", None), gas="wait_for_response")
def wait_for_response(vm: Machine, handle: Value, timeout_sec: Value = None) -> Value:
    """Null timeout: the host's default. No answer in time is a failed call."""
    return vm.external("WAIT_FOR_RESPONSE", handle, timeout_sec)


@_op("WAIT_FOR_TASK", P("task_id"), gas="wait_for_response")
def wait_for_task(vm: Machine, task_id: Value) -> Value:
    return vm.external("WAIT_FOR_TASK", task_id)


@_op("WAIT", P("delay_sec"), gas="wait", returns=False)
def wait(vm: Machine, delay: Value) -> None:
    vm.external("WAIT", delay)


@family.op("SCHEDULE_TASK", P("task_id"), P("interval_sec"), gas="schedule_task")
def schedule_task(vm: Machine, task_id: Value, interval: Value) -> Value:
    """Run the agent's entry label `task_id` every `interval_sec` seconds of block time (0
    cancels it); true when registered. Deterministic: on chain every node registers the same
    task (the chain runs it at the end of the first block past each due time), and a local run
    registers it for `aither agent tick`. A task that is not a label of the agent's code, an
    interval that is not a non-negative int, or a registration the host refuses, is a failed
    call (null, and the flag JUMP_IF_PLUGIN_FAILED tests)."""
    code = current_code(vm)
    if type(task_id) is not str or code.label_pc(task_id) is None:
        vm.fail_external("SCHEDULE_TASK", f"{task_id!r} is not an entry label of this agent")
        return None
    if type(interval) is not int or interval < 0:
        vm.fail_external("SCHEDULE_TASK", f"an interval is seconds (int), not {interval!r}")
        return None
    try:
        vm.host.schedule_task(task_id, interval)
    except TaskRefused as exc:
        vm.fail_external("SCHEDULE_TASK", str(exc))
        return None
    vm.external_failed = False
    return True


@_op("MAP_MODEL_CALL", P("model"), P("dataset"), gas="simple")
def map_model_call(vm: Machine, model: Value, dataset: Value) -> Value:
    vm.charge(vm.sched.map_model_call_per_item * _items(dataset))
    results = vm.external("MAP_MODEL_CALL", model, dataset)
    vm.charge(vm.sched.map_model_call_per_token * vm.external_units)
    return results


@_op("REDUCE_MODEL_CALL", P("agg_type"), P("results"), gas="reduce_model_call_base")
def reduce_model_call(vm: Machine, agg_type: Value, results: Value) -> Value:
    vm.charge(vm.sched.reduce_model_call_per_item * _items(results))
    consolidated = vm.external("REDUCE_MODEL_CALL", agg_type, results)
    vm.charge(vm.sched.reduce_model_call_per_token * vm.external_units)
    return consolidated


@_op("GET_TOOLS_LIST", gas="get_tools_list")
def get_tools_list(vm: Machine) -> Value:
    return vm.external("GET_TOOLS_LIST")


@_op("READ_FROM_TOOL", P("tool"), P("args", None))
def read_from_tool(vm: Machine, tool: Value, args: Value) -> Value:
    data = vm.external("READ_FROM_TOOL", tool, args)
    vm.charge(vm.sched.read_from_tool_per_byte * size_of(data))
    return data


@_op("WRITE_TO_TOOL", P("tool"), P("data"))
def write_to_tool(vm: Machine, tool: Value, data: Value) -> Value:
    vm.charge(vm.sched.write_to_tool_per_byte * size_of(data))
    return vm.external("WRITE_TO_TOOL", tool, data)


@_op("CALL_PLUGIN", P("plugin"), P("func"), P("args", ()), gas="call_plugin_base")
def call_plugin(vm: Machine, plugin: Value, func: Value, args: Value) -> Value:
    vm.charge(vm.sched.call_plugin_per_byte * size_of(args))
    return vm.external("CALL_PLUGIN", plugin, func, args)


@_op("SEPARATE_PROMPT", P("input"), P("objective"), gas="call_plugin_base")
def separate_prompt(vm: Machine, input_: Value, objective: Value) -> Value:
    vm.charge(vm.sched.call_plugin_per_byte * size_of(input_))
    answer = vm.external("SEPARATE_PROMPT", input_, objective)
    vm.charge(vm.sched.separate_prompt_per_token * vm.external_units)
    return answer


@_op("SQL_EXECUTE", P("query"))
def sql_execute(vm: Machine, query: Value) -> Value:
    vm.charge(vm.sched.sql_execute_base * max(1, size_of(query) // SQL_BYTES_PER_UNIT))
    return vm.external("SQL_EXECUTE", query)


@_op("SQL_FETCH", P("query"))
def sql_fetch(vm: Machine, query: Value) -> Value:
    rows = vm.external("SQL_FETCH", query)
    vm.charge(vm.sched.sql_fetch_per_row * _items(rows))
    return rows


@_op("ALLOCATE_GPU", P("gpu_id"), P("time_sec"))
def allocate_gpu(vm: Machine, gpu_id: Value, time_sec: Value) -> Value:
    vm.charge(vm.sched.gpu_rate * (time_sec if type(time_sec) is int and time_sec > 0 else 0))
    return vm.external("ALLOCATE_GPU", gpu_id, time_sec)


@_op("RELEASE_GPU", P("gpu_id"), gas="release_gpu", returns=False)
def release_gpu(vm: Machine, gpu_id: Value) -> None:
    vm.external("RELEASE_GPU", gpu_id)


@_op("CHECK_GPU_LOAD", P("gpu_id"), gas="check_gpu_load")
def check_gpu_load(vm: Machine, gpu_id: Value) -> Value:
    return vm.external("CHECK_GPU_LOAD", gpu_id)


@_op("GPU_INFER", P("model"), P("input"), P("gas_limit", None))
def gpu_infer(vm: Machine, model: Value, input_: Value, gas_limit: Value) -> Value:
    """A model call whose tokens may cost at most `gas_limit` gas (§8.5); a call over it is
    charged the whole budget and fails (the model's answer is dropped)."""
    vm.charge(vm.sched.gpu_infer_per_byte * size_of(input_))
    answer = vm.external("GPU_INFER", model, input_, gas_limit)
    tokens = vm.external_units
    used = vm.sched.gpu_infer_per_token * tokens
    if type(gas_limit) is int and gas_limit > 0 and used > gas_limit * MILLIGAS_PER_GAS:
        vm.charge(gas_limit * MILLIGAS_PER_GAS)
        vm.fail_external("GPU_INFER", f"the model used {tokens} tokens, over gas_limit={gas_limit}")
        return None
    vm.charge(used)
    return answer


@_op("HPC_MIGRATE", P("to_subnet"), P("payload"), P("hpc_credits", 0), gas="hpc_migrate_base")
def hpc_migrate(vm: Machine, subnet: Value, payload: Value, credits: Value) -> Value:
    extra = credits if type(credits) is int and credits > 0 else 0
    vm.charge(vm.sched.hpc_migrate_per_byte * size_of(payload) + extra)
    return vm.external("HPC_MIGRATE", subnet, payload, credits)


@_op("HPC_EXTENDED_ANALYSIS", P("data"), P("budget"), P("retries", 0), gas="hpc_migrate_base")
def hpc_extended_analysis(vm: Machine, data: Value, budget: Value, retries: Value) -> Value:
    vm.charge(vm.sched.hpc_migrate_per_byte * size_of(data))
    return vm.external("HPC_EXTENDED_ANALYSIS", data, budget, retries)


@_op("LOAD_MODEL", P("model"))
def load_model(vm: Machine, model: Value) -> Value:
    return vm.external("LOAD_MODEL", model)


@_op("CALC_EMBED", P("text"), P("model"), gas="calc_embed_base")
def calc_embed(vm: Machine, text: Value, model: Value) -> Value:
    vm.charge(per_unit(vm.sched.calc_embed_per_byte, size_of(text)))
    return vm.external("CALC_EMBED", text, model)


@_op("DOC_EMBED", P("collection"), P("doc_id"), P("text"), P("model"), gas="doc_embed_base")
def doc_embed(vm: Machine, collection: Value, doc_id: Value, text: Value, model: Value) -> Value:
    """CALC_EMBED then DOC_STORE, in one step."""
    vm.charge(per_unit(vm.sched.calc_embed_per_byte, size_of(text)))
    vector = vm.external("CALC_EMBED", text, model)
    if vm.external_failed:
        return False
    return doc_store(vm, collection, doc_id, text, vector)


@_op("CHAIN_OP", P("chain"), P("action"), P("args", None), gas="chain_op_base")
def chain_op(vm: Machine, chain: Value, action: Value, args: Value) -> Value:
    vm.charge(vm.sched.chain_op_per_byte * size_of(args))
    return vm.external("CHAIN_OP", chain, action, args)


@_op("WEB3_OP", P("chain"), P("action"), P("args", None), gas="chain_op_base")
def web3_op(vm: Machine, chain: Value, action: Value, args: Value) -> Value:
    """The paper's name for CHAIN_OP in §8.3."""
    return chain_op(vm, chain, action, args)
