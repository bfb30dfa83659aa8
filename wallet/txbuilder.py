"""Build and sign transactions with the nonce, gas price and gas limit the node gives."""

from __future__ import annotations

from ledger.crypto import SigningKey, to_checksum_address
from ledger.tx import TokenCreate, Transaction, Transfer, TxKind
from wallet.client import RpcClient


def _sign(
    client: RpcClient, key: SigningKey, kind: TxKind, payload: Transfer | TokenCreate, spec: dict
) -> bytes:
    chain_id = int(str(client.call("aither_chainId")), 16)
    account = client.call("aither_getAccount", to_checksum_address(key.address))
    assert isinstance(account, dict)
    nonce = int(account["pendingNonce"], 16)
    gas_price = int(str(client.call("eth_gasPrice")), 16)
    gas_limit = int(str(client.call("aither_estimateGas", spec)), 16)
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
