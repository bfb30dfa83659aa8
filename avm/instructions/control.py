"""Control flow: jumps, subroutine calls, and the ways a call ends.

A BRANCH opcode's function is its condition; the interpreter jumps to the label operand when it
returns true. Single-operand JUMP_IF / JUMP_IF_FALSE test ACC, the result of the previous
instruction that named no output (the paper's `CHECK_BALANCE ...` then `JUMP_IF_FALSE label`).
"""

from __future__ import annotations

from avm.errors import Revert
from avm.machine import Machine
from avm.opcodes import FROM_ACC, Control, Family, L, P
from avm.values import Value, size_of

family = Family("control")


@family.op("JUMP", L(), gas="simple", returns=False, pure=True, control=Control.BRANCH)
def jump() -> bool:
    return True


@family.op(
    "JUMP_IF",
    P("cond", FROM_ACC),
    L(),
    gas="simple",
    returns=False,
    pure=True,
    control=Control.BRANCH,
)
def jump_if(cond: Value) -> bool:
    return bool(cond)


@family.op(
    "JUMP_IF_FALSE",
    P("cond", FROM_ACC),
    L(),
    gas="simple",
    returns=False,
    pure=True,
    control=Control.BRANCH,
)
def jump_if_false(cond: Value) -> bool:
    return not cond


@family.op("JUMP_IF_PLUGIN_FAILED", L(), gas="simple", returns=False, control=Control.BRANCH)
def jump_if_plugin_failed(vm: Machine) -> bool:
    # Set by the last plugin/tool/model call of this execution (see Machine.external).
    return vm.external_failed


@family.op("JUMP_IF_TASK_FAILED", L(), gas="simple", returns=False, control=Control.BRANCH)
def jump_if_task_failed(vm: Machine) -> bool:
    return vm.external_failed


@family.op("CALL", L(), gas="call", returns=False, control=Control.CALL)
def call(vm: Machine) -> None:
    """Push the return address; the depth bound is checked by the interpreter."""


@family.op("RET", gas="ret", returns=False, control=Control.RET)
def ret(vm: Machine) -> None:
    """Pop the return address; at depth 0 the call ends with null."""


@family.op("HALT", gas="halt", returns=False, control=Control.STOP)
def halt(vm: Machine) -> Value:
    return None


@family.op("RETURN", P("value", None), gas="halt", returns=False, control=Control.STOP)
def return_(vm: Machine, value: Value) -> Value:
    """End the call with `value`; it goes into the receipt, so it pays per byte like LOG."""
    vm.charge(vm.sched.log_per_byte * size_of(value))
    return value


@family.op("REVERT", P("reason", ""), gas="halt", returns=False, control=Control.STOP)
def revert(vm: Machine, reason: Value) -> Value:
    raise Revert(reason if isinstance(reason, str) else repr(reason))


@family.op("NOP", gas="simple", returns=False, pure=True)
def nop() -> None:
    return None
