"""Agent storage (§11.6) and execution state (§11.4).

Keys are int, str or bytes; values any AVM value, stored in canonical encoding. The host's flat
storage is namespaced here: user keys under `KV_PREFIX`, the execution state under `STATE_KEY`.
SQL is not deterministic and lives with the external opcodes.
"""

from __future__ import annotations

from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import AvmMap, Value, check_key, encode_value, from_wire
from core.encoding import decode

family = Family("storage")

KV_PREFIX = b"k"
STATE_KEY = b"s"


def kv_key(key: Value) -> bytes:
    """The host storage key of a user KV key."""
    return KV_PREFIX + encode_value(check_key(key))


def load(vm: Machine, key: bytes) -> tuple[Value, int]:
    """A stored value and its encoded size (0 when absent)."""
    raw = vm.host.storage_get(key)
    if raw is None:
        return None, 0
    return from_wire(decode(raw)), len(raw)


@family.op("KV_STORE", P("key"), P("value"), gas="simple")
def kv_store(vm: Machine, key: Value, value: Value) -> bool:
    data = encode_value(value)
    vm.charge(vm.sched.kv_store_per_byte * len(data))
    vm.host.storage_put(kv_key(key), data)
    return True


@family.op("KV_FETCH", P("key"), gas="simple")
def kv_fetch(vm: Machine, key: Value) -> Value:
    value, size = load(vm, kv_key(key))
    vm.charge(vm.sched.kv_fetch_per_byte * size)
    return value


@family.op("KV_DELETE", P("key"), gas="kv_delete")
def kv_delete(vm: Machine, key: Value) -> bool:
    return vm.host.storage_delete(kv_key(key))


@family.op("SAVE_EXECUTION_STATE", P("state", None), gas="save_execution_state", returns=False)
def save_execution_state(vm: Machine, state: Value) -> None:
    """Store `state`; without one, store the named registers (temporaries and ACC excluded)."""
    if state is None:
        state = AvmMap.of(vm.named_registers())
    vm.host.storage_put(STATE_KEY, encode_value(state))


@family.op("LOAD_EXECUTION_STATE", gas="load_execution_state")
def load_execution_state(vm: Machine) -> Value:
    """The saved state; a saved register map is also restored into the registers it names."""
    state, _ = load(vm, STATE_KEY)
    if type(state) is AvmMap:
        vm.restore_registers(state)
    return state


@family.op("RESET_EXECUTION_STATE", gas="reset_execution_state", returns=False)
def reset_execution_state(vm: Machine) -> None:
    vm.host.storage_delete(STATE_KEY)
