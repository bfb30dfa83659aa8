"""Wallet and payments (§11.10): balances by token id, transfers from the running agent."""

from __future__ import annotations

from avm.errors import BadOperand
from avm.host import NATIVE_TOKEN
from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import Value, type_name
from core.crypto import ADDRESS_SIZE

family = Family("wallet")
DEFAULT_TOKEN = NATIVE_TOKEN


def want_token(token: Value) -> str:
    if type(token) is not str or not token:
        raise BadOperand(f"a token id is a non-empty str, not {type_name(token)}")
    return token


def want_amount(amount: Value) -> int:
    if type(amount) is not int or amount < 0:
        raise BadOperand(f"an amount is a non-negative int, not {amount!r}")
    return amount


def want_address(address: Value) -> bytes:
    if type(address) is not bytes or len(address) != ADDRESS_SIZE:
        raise BadOperand(f"an address is {ADDRESS_SIZE} bytes, not {type_name(address)}")
    return address


@family.op("BALANCE", P("token", DEFAULT_TOKEN), P("address", None), gas="check_balance")
def balance(vm: Machine, token: Value, address: Value) -> int:
    who = vm.host.self_address() if address is None else want_address(address)
    return vm.host.balance(who, want_token(token))


@family.op("CHECK_BALANCE", P("token"), P("min_required"), gas="check_balance")
def check_balance(vm: Machine, token: Value, min_required: Value) -> bool:
    return vm.host.balance(vm.host.self_address(), want_token(token)) >= want_amount(min_required)


@family.op("PAY_AGENT", P("target"), P("amount"), P("token", DEFAULT_TOKEN), gas="pay_agent")
def pay_agent(vm: Machine, target: Value, amount: Value, token: Value) -> bool:
    """Transfer from this agent; false (and no transfer) when the balance is short."""
    return vm.host.transfer(want_address(target), want_amount(amount), want_token(token))
