"""Environment, identity and security checks (§11.1 time, §11.9)."""

from __future__ import annotations

from avm.errors import BadOperand, PermissionDenied
from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import Value, encode_value, type_name
from core.crypto import verify

family = Family("identity")


@family.op("GET_CURRENT_TIME", gas="get_current_time")
def get_current_time(vm: Machine) -> int:
    """The block timestamp on chain; never the wall clock."""
    return vm.host.block_time()


@family.op("BLOCK_HEIGHT", gas="simple")
def block_height(vm: Machine) -> int:
    return vm.host.block_height()


@family.op("CALLER", gas="simple")
def caller(vm: Machine) -> bytes:
    return vm.host.caller()


@family.op("SELF_ADDRESS", gas="simple")
def self_address(vm: Machine) -> bytes:
    return vm.host.self_address()


@family.op("CHECK_SIG", P("pubkey"), P("signature"), P("message"), gas="check_sig")
def check_sig(vm: Machine, pubkey: Value, signature: Value, message: Value) -> bool:
    """ed25519 over `message` (bytes as is, other values in canonical encoding)."""
    if type(pubkey) is not bytes or type(signature) is not bytes:
        raise BadOperand(f"CHECK_SIG takes bytes, not {type_name(pubkey)}, {type_name(signature)}")
    data = message if type(message) is bytes else encode_value(message)
    return verify(pubkey, data, signature)


@family.op("CHECK_PERMISSIONS", P("role"), P("action"), gas="check_permissions")
def check_permissions(vm: Machine, role: Value, action: Value) -> bool:
    if type(role) is not str or type(action) is not str:
        raise BadOperand("CHECK_PERMISSIONS takes a role and an action (str)")
    return vm.host.has_permission(role, action)


@family.op("SECURITY_CHECK", P("object"), gas="security_check")
def security_check(vm: Machine, obj: Value) -> bool:
    """The host's policy on an object; a refusal stops the call."""
    if not vm.host.security_check(encode_value(obj)):
        raise PermissionDenied("SECURITY_CHECK: the host policy refused the object")
    return True
