"""Registers and data: moves, lists, maps, strings, hashing and logging.

Values are immutable, so list/map "updates" build a new value; APPEND and APPEND_MESSAGE write it
back to their first operand when no output is named. Path reads (`R.a[-1].b`) assemble to GET
chains; GET on null, a missing key or an index out of range gives null, so `R.field == NULL` tests
read naturally.
"""

from __future__ import annotations

from avm.disassembler import literal
from avm.errors import BadOperand, ValueTooLarge
from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import (
    MAX_BYTES,
    MAX_ITEMS,
    AvmMap,
    Value,
    bounded,
    check_key,
    encode_value,
    length,
    size_of,
    type_name,
)
from core.crypto import hash32

family = Family("data")


@family.op("SET", P("value"), gas="simple", pure=True, dest_first=True)
def set_(value: Value) -> Value:
    return value


@family.op("LIST", P("items"), gas="simple", variadic=True)
def list_(vm: Machine, *items: Value) -> Value:
    vm.charge(vm.sched.per_item * len(items))
    return bounded(items)


@family.op("MAP", P("pairs"), gas="simple", variadic=True)
def map_(vm: Machine, *pairs: Value) -> Value:
    if len(pairs) % 2:
        raise BadOperand("MAP takes key, value pairs")
    vm.charge(vm.sched.per_item * len(pairs))
    return AvmMap.of((check_key(pairs[i]), pairs[i + 1]) for i in range(0, len(pairs), 2))


@family.op("NEW_PORTFOLIO", gas="simple", pure=True)
def new_portfolio() -> Value:
    return AvmMap()


@family.op("GET", P("container"), P("key"), gas="simple", pure=True)
def get(container: Value, key: Value) -> Value:
    if container is None:
        return None
    if type(container) is AvmMap:
        return container.get(check_key(key))
    if isinstance(container, tuple | str | bytes) and type(key) is int:
        n = len(container)
        if -n <= key < n:
            return container[key]  # a byte reads as an int
        return None
    raise BadOperand(f"cannot index {type_name(container)} with {type_name(key)}")


@family.op("HAS", P("container"), P("key"), gas="simple", pure=True)
def has(container: Value, key: Value) -> bool:
    if type(container) is AvmMap:
        return container.has(check_key(key))
    if type(container) is tuple:
        return any(type(v) is type(key) and v == key for v in container)
    raise BadOperand(f"HAS needs a map or list, not {type_name(container)}")


@family.op("LEN", P("value"), gas="simple", pure=True)
def len_(value: Value) -> int:
    if isinstance(value, tuple | AvmMap | str | bytes):
        return len(value)
    raise BadOperand(f"{type_name(value)} has no length")


@family.op("KEYS", P("map"), gas="simple")
def keys(vm: Machine, m: Value) -> Value:
    if type(m) is not AvmMap:
        raise BadOperand(f"KEYS needs a map, not {type_name(m)}")
    vm.charge(vm.sched.per_item * len(m))
    return m.keys()


@family.op("PUT", P("container"), P("key"), P("value"), gas="simple", updates_first=True)
def put(vm: Machine, container: Value, key: Value, value: Value) -> Value:
    if container is None:
        container = AvmMap()
    vm.charge(vm.sched.per_item * (length(container) + 1))
    if type(container) is AvmMap:
        return container.set(check_key(key), value)
    if type(container) is tuple and type(key) is int:
        n = len(container)
        if not -n <= key < n:
            raise BadOperand(f"index {key} is out of range for a list of {n}")
        items = list(container)
        items[key] = value
        return tuple(items)
    raise BadOperand(f"cannot set {type_name(key)} in {type_name(container)}")


@family.op("DELETE", P("map"), P("key"), gas="simple", updates_first=True)
def delete(vm: Machine, m: Value, key: Value) -> Value:
    if type(m) is not AvmMap:
        raise BadOperand(f"DELETE needs a map, not {type_name(m)}")
    vm.charge(vm.sched.per_item * len(m))
    return m.remove(check_key(key))


@family.op("APPEND", P("list"), P("value"), gas="simple", updates_first=True)
def append(vm: Machine, items: Value, value: Value) -> Value:
    if items is None:
        items = ()
    if type(items) is not tuple:
        raise BadOperand(f"APPEND needs a list, not {type_name(items)}")
    vm.charge(vm.sched.per_item * (len(items) + 1))
    return bounded((*items, value))


@family.op(
    "APPEND_MESSAGE", P("conversation"), P("role"), P("content"), gas="simple", updates_first=True
)
def append_message(vm: Machine, conversation: Value, role: Value, content: Value) -> Value:
    """Append {"role": role, "content": content} to a conversation list (paper §4)."""
    return append(vm, conversation, AvmMap.of([("content", content), ("role", check_key(role))]))


@family.op("CONCAT", P("a"), P("b"), gas="simple")
def concat(vm: Machine, a: Value, b: Value) -> Value:
    joined = _joined(a, b)
    if joined is None:
        raise BadOperand(f"cannot concatenate {type_name(a)} and {type_name(b)}")
    vm.charge(vm.sched.per_item * (length(a) + length(b)))
    return bounded(joined)


def _joined(a: Value, b: Value) -> Value:
    """a + b for two str, two bytes or two lists; None for any other pair."""
    if type(a) is str and type(b) is str:
        return a + b
    if type(a) is bytes and type(b) is bytes:
        return a + b
    if type(a) is tuple and type(b) is tuple:
        return a + b
    return None


@family.op("SLICE", P("value"), P("start"), P("end", None), gas="simple")
def slice_(vm: Machine, value: Value, start: Value, end: Value) -> Value:
    if not isinstance(value, str | bytes | tuple) or type(start) is not int:
        raise BadOperand(f"cannot slice {type_name(value)} by {type_name(start)}")
    if end is not None and type(end) is not int:
        raise BadOperand(f"a slice end is int or null, not {type_name(end)}")
    result = value[start:end]
    vm.charge(vm.sched.per_item * len(result))
    return result


@family.op("STR", P("value"), gas="simple")
def str_(vm: Machine, value: Value) -> Value:
    """A value as text: str unchanged, int in decimal, bytes in 0x-hex, others as IR literals."""
    text = value if type(value) is str else literal(value)
    if len(text) > MAX_BYTES:
        raise ValueTooLarge(f"text of {len(text)} exceeds {MAX_BYTES}")
    vm.charge(vm.sched.per_item * len(text))
    return text


@family.op("HASH", P("value"), gas="hash_base")
def hash_(vm: Machine, value: Value) -> Value:
    """blake2b-256 of the value's canonical encoding."""
    data = encode_value(value)
    vm.charge(vm.sched.hash_per_byte * len(data))
    return hash32(data)


@family.op("LOG", P("message"), P("data", None), gas="log_base", returns=False)
def log(vm: Machine, message: Value, data: Value) -> None:
    """Record a message in the call's logs (SELF_INTROSPECT "logs") and emit it as an event."""
    vm.charge(vm.sched.log_per_byte * (size_of(message) + size_of(data)))
    if len(vm.logs) >= MAX_ITEMS:
        raise ValueTooLarge(f"more than {MAX_ITEMS} log entries in one call")
    vm.logs.append(message if data is None else (message, data))
    vm.host.emit("log", encode_value((message, data)))
