"""How an opcode is described: its parameters, static gas, effect and determinism.

Each opcode family (`avm/instructions/*.py`) writes every opcode once, as a short function with a
`Family.op` decorator giving its name, parameters and the gas-schedule field of its static price.
The interpreter derives both of its paths from these definitions: the exact per-instruction path
calls the function; the fast path inlines the function's return expression into compiled basic
blocks when the opcode is `pure` (no machine access, static gas only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeVar

from avm.values import Value


class ParamKind(Enum):
    VALUE = "value"  # a register or a constant
    LABEL = "label"  # a jump target


class OperandType(Enum):
    """What a pure opcode requires of an operand; checked before its function runs."""

    ANY = "any"
    INT = "int"
    NONZERO_INT = "nonzero int"


class Control(Enum):
    """How an opcode changes the program counter."""

    NEXT = "next"  # falls through to pc + 1
    BRANCH = "branch"  # jumps to its label operand when its function returns true
    CALL = "call"  # pushes pc + 1 and jumps to its label operand
    RET = "ret"  # pops the return address (at depth 0: ends the call like RETURN)
    STOP = "stop"  # ends the call with the function's result as the return value


class Default(Enum):
    """A parameter default that is not a value."""

    REQUIRED = "required"  # the operand must be given
    FROM_ACC = "acc"  # a missing operand reads register ACC (JUMP_IF with only a label)


REQUIRED: Final = Default.REQUIRED
FROM_ACC: Final = Default.FROM_ACC


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: ParamKind = ParamKind.VALUE
    type: OperandType = OperandType.ANY
    default: Value | Default = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def P(
    name: str,
    default: Value | Default = REQUIRED,
    type: OperandType = OperandType.ANY,
) -> Param:
    """A value parameter."""
    return Param(name, ParamKind.VALUE, type, default)


def L(name: str = "target") -> Param:
    """A label parameter."""
    return Param(name, ParamKind.LABEL)


INT = OperandType.INT
NONZERO = OperandType.NONZERO_INT


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One opcode. `fn` takes the machine first unless `pure`."""

    name: str
    family: str
    params: tuple[Param, ...]
    fn: Callable[..., Value]
    gas: str  # field of GasSchedule holding the static price
    returns: bool = True  # writes a result (to its output register, or ACC when none is named)
    pure: bool = False
    deterministic: bool = True
    control: Control = Control.NEXT
    variadic: bool = False  # the last parameter takes any number of operands
    dest_first: bool = False  # `SET R, v` / `SET R = v`: the first operand names the output
    updates_first: bool = False  # without an output, the result is written back to operand 1


# An opcode function, kept with its own signature by the `Family.op` decorator.
OpFunction = TypeVar("OpFunction", bound=Callable[..., Value])


class Family:
    """The opcodes of one family, in definition order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.specs: list[OpSpec] = []

    def op(
        self,
        name: str,
        *params: Param,
        gas: str,
        returns: bool = True,
        pure: bool = False,
        deterministic: bool = True,
        control: Control = Control.NEXT,
        variadic: bool = False,
        dest_first: bool = False,
        updates_first: bool = False,
    ) -> Callable[[OpFunction], OpFunction]:
        def define(fn: OpFunction) -> OpFunction:
            self.specs.append(
                OpSpec(
                    name,
                    self.name,
                    tuple(params),
                    fn,
                    gas,
                    returns,
                    pure,
                    deterministic,
                    control,
                    variadic,
                    dest_first,
                    updates_first,
                )
            )
            return fn

        return define
