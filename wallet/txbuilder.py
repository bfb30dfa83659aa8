"""Build and sign transactions with the nonce, gas price and gas limit the node gives."""

from __future__ import annotations

from typing import Any

from avm.values import Value, to_python
from core.amounts import MAX_AMOUNT
from core.crypto import SigningKey, parse_address, to_checksum_address
from core.schema import MAX_U64
from core.swarm_keys import MemberKeys
from ledger.channels.payloads import AnyChannelPayload
from ledger.governance.payloads import (
    CancelPayload,
    Choice,
    ProposalSpec,
    ProposePayload,
    VotePayload,
)
from ledger.identity import NameAgent, SetIdentity, TransferName
from ledger.roles import DefineRole, GrantRole, SetPolicy
from ledger.transition import execution_gas, intrinsic_gas
from ledger.tx import Call, Deploy, Payload, SignedTx, TokenCreate, Transaction, Transfer, TxKind
from wallet.client import RpcClient, RpcClientError

# An agent call's gas depends on the state it meets, which may change before it is included:
# sign for this much more than the estimate (unused gas is refunded).
CALL_GAS_MARGIN_PERCENT = 25


def _sign(
    client: RpcClient,
    key: SigningKey,
    kind: TxKind,
    payload: Payload,
    spec: dict,
    gas_limit: int | None = None,
) -> bytes:
    chain_id = int(str(client.call("aither_chainId")), 16)
    account = client.call("aither_getAccount", to_checksum_address(key.address))
    assert isinstance(account, dict)
    nonce = int(account["pendingNonce"], 16)
    gas_price = int(str(client.call("eth_gasPrice")), 16)
    if gas_limit is None:
        gas_limit = int(str(client.call("aither_estimateGas", spec)), 16)
        if kind is TxKind.CALL:
            gas_limit += gas_limit * CALL_GAS_MARGIN_PERCENT // 100
    tx = Transaction(chain_id, kind, key.pubkey, nonce, gas_limit, gas_price, payload)
    return tx.signed(key).encode()


def build_transfer(
    client: RpcClient, key: SigningKey, to: bytes, amount: int, token: str = ""
) -> bytes:
    payload = Transfer(to, amount, token)
    spec = {"kind": "transfer", "to": to_checksum_address(to), "value": hex(amount)}
    if token:
        spec["token"] = token
    return _sign(client, key, TxKind.TRANSFER, payload, spec)


def build_token_create(
    client: RpcClient, key: SigningKey, symbol: str, name: str, supply: int, decimals: int
) -> bytes:
    payload = TokenCreate(symbol, name, supply, decimals)
    spec = {
        "kind": "token_create",
        "symbol": symbol,
        "name": name,
        "supply": hex(supply),
        "decimals": decimals,
    }
    return _sign(client, key, TxKind.TOKEN_CREATE, payload, spec)


def build_deploy(
    client: RpcClient,
    key: SigningKey,
    code: bytes,
    storage: tuple[tuple[bytes, bytes], ...] = (),
    value: int = 0,
    gas_limit: int | None = None,
) -> bytes:
    payload = Deploy(code, tuple(sorted(storage)), value)
    spec = {
        "kind": "deploy",
        "code": "0x" + code.hex(),
        "storage": [["0x" + k.hex(), "0x" + v.hex()] for k, v in payload.storage],
        "value": hex(value),
    }
    return _sign(client, key, TxKind.DEPLOY, payload, spec, gas_limit)


def call_spec(agent: bytes, entry: str, args: tuple[Value, ...], value: int = 0) -> dict:
    """The call object of aither_call and aither_estimateGas (bytes as 0x-hex)."""
    return {
        "to": to_checksum_address(agent),
        "entry": entry,
        "args": to_python(args),
        "value": hex(value),
    }


def build_call(
    client: RpcClient,
    key: SigningKey,
    agent: bytes,
    entry: str,
    args: tuple[Value, ...] = (),
    value: int = 0,
    gas_limit: int | None = None,
) -> bytes:
    payload = Call(agent, entry, args, value)
    spec = {"kind": "call", "from": to_checksum_address(key.address)}
    spec.update(call_spec(agent, entry, args, value))
    return _sign(client, key, TxKind.CALL, payload, spec, gas_limit)


def static_gas(kind: TxKind, payload: Payload) -> int:
    """The gas of a transaction whose cost the payload alone fixes (governance kinds): intrinsic
    gas at the widest encodings of the other fields, plus the kind's execution gas."""
    widest = Transaction(MAX_U64, kind, bytes(32), MAX_U64, MAX_U64, MAX_AMOUNT, payload)
    stx = SignedTx(widest, widest.encode() + bytes(64))
    return intrinsic_gas(stx) + execution_gas(stx)


def build_propose(client: RpcClient, key: SigningKey, spec: ProposalSpec) -> bytes:
    payload = ProposePayload(spec)
    return _sign(client, key, TxKind.PROPOSE, payload, {}, static_gas(TxKind.PROPOSE, payload))


def build_vote(
    client: RpcClient, key: SigningKey, proposal_id: bytes, choice: Choice, explanation: str
) -> bytes:
    payload = VotePayload(proposal_id, choice, explanation)
    return _sign(client, key, TxKind.VOTE, payload, {}, static_gas(TxKind.VOTE, payload))


def build_cancel(client: RpcClient, key: SigningKey, proposal_id: bytes) -> bytes:
    payload = CancelPayload(proposal_id)
    return _sign(client, key, TxKind.CANCEL, payload, {}, static_gas(TxKind.CANCEL, payload))


def build_role(
    client: RpcClient, key: SigningKey, payload: DefineRole | GrantRole | SetPolicy
) -> bytes:
    """Define a role, grant or revoke one, or set an agent's policy (ledger/roles.py)."""
    return _sign(client, key, TxKind.ROLE, payload, {}, static_gas(TxKind.ROLE, payload))


def build_channel(client: RpcClient, key: SigningKey, payload: AnyChannelPayload) -> bytes:
    """A CHANNEL transaction (create, join, leave, remove, rotate, reward, accept)."""
    return _sign(client, key, TxKind.CHANNEL, payload, {}, static_gas(TxKind.CHANNEL, payload))


def build_register(
    client: RpcClient, key: SigningKey, payload: SetIdentity | TransferName | NameAgent
) -> bytes:
    """A REGISTER transaction (an identity: name, roles, metadata, encryption key; or the name
    of an agent the signer deployed)."""
    return _sign(client, key, TxKind.REGISTER, payload, {}, static_gas(TxKind.REGISTER, payload))


def next_members(view: dict[str, Any], removed: bytes | None = None) -> list[bytes]:
    """The members of a channel's next epoch as the chain checks a rotation (`view` as
    aither_getChannel returns it): the current ones plus pending joins minus pending leaves,
    without `removed`."""
    members = {parse_address(str(a)) for a in view["members"]}
    pending = {parse_address(str(a)) for a in view["pendingJoins"]}
    leaving = {parse_address(str(a)) for a in view["pendingLeaves"]}
    chosen = (members | pending) - leaving
    chosen.discard(removed)
    return sorted(chosen)


def member_keys(client: RpcClient, addresses: list[bytes]) -> list[MemberKeys]:
    """The chain's keys of `addresses`, to seal a channel's epoch key to. Raises
    RpcClientError if one has no certified encryption key."""
    keys = []
    for address in addresses:
        found = client.call("aither_getIdentity", to_checksum_address(address))
        if not isinstance(found, dict) or not found.get("encryptionKey"):
            raise RpcClientError(
                f"{to_checksum_address(address)} has no certified encryption key on chain"
            )
        keys.append(
            MemberKeys(
                address,
                bytes.fromhex(str(found["publicKey"])[2:]),
                bytes.fromhex(str(found["encryptionKey"])[2:]),
            )
        )
    return keys
