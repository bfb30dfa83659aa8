"""Swarm identities and channels on a real node, set up in the test process: the same signed
REGISTER and CHANNEL transactions `aither swarm register / create / join / rotate` send, without
a CLI process per step."""

from __future__ import annotations

from core.crypto import SigningKey
from core.swarm_keys import rotate
from ledger.channels.payloads import (
    ChannelMode,
    CreateChannel,
    JoinChannel,
    RotateKey,
    channel_id_of,
)
from ledger.identity import SetIdentity, derived_certificate
from wallet.client import RpcClient
from wallet.txbuilder import build_channel, build_register, member_keys, next_members


def _send(client: RpcClient, raw: bytes) -> None:
    tx_hash = str(client.call("aither_sendRawTransaction", "0x" + raw.hex()))
    receipt = client.wait_for_receipt(tx_hash, 20.0)
    assert receipt["status"] == "0x1", receipt


def register(url: str, key: SigningKey) -> None:
    """An identity with a certified X25519 key derived from `key` (what the node re-derives)."""
    with RpcClient(url) as client:
        _send(client, build_register(client, key, SetIdentity("", derived_certificate(key, 1))))


def create_channel(url: str, admin: SigningKey, name: str) -> bytes:
    """An open channel with `admin` its only member; its id."""
    with RpcClient(url) as client:
        channel_id = channel_id_of(int(str(client.call("aither_chainId")), 16), name)
        _, rotation = rotate(channel_id, 0, member_keys(client, [admin.address]))
        _send(client, build_channel(client, admin, CreateChannel(name, ChannelMode.OPEN, rotation)))
    return channel_id


def join_and_rotate(url: str, joiner: SigningKey, rotator: SigningKey, name: str) -> None:
    """`joiner` joins `name`, and `rotator` rotates its key so the join takes effect."""
    with RpcClient(url) as client:
        view = client.call("aither_getChannel", name)
        assert isinstance(view, dict)
        channel_id = bytes.fromhex(str(view["id"])[2:])
        _send(client, build_channel(client, joiner, JoinChannel(channel_id)))
        view = client.call("aither_getChannel", name)
        assert isinstance(view, dict)
        members = member_keys(client, next_members(view))
        _, rotation = rotate(channel_id, int(str(view["epoch"])) + 1, members)
        _send(client, build_channel(client, rotator, RotateKey(channel_id, rotation)))
