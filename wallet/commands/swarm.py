"""`aither swarm`: channels and their messages, over a node's JSON-RPC and WebSocket.

Channel transactions (create, join, leave, remove, rotate, accept, and a send's reward) are
built by wallet/txbuilder.py and signed here with a key from the
keystore (`--from NAME`) or a public dev key (`--dev-account N`). Rotations are made here too:
the epoch key is generated, sealed to each member's certified X25519 key (read over RPC) and
forgotten; member nodes unseal their copies from the chain. Messages are sent and read by the
node's swarm service for an identity whose keys it holds (`--as NAME|ADDRESS`); those calls are
admin methods, so `send`, `listen` and `accept` pass the node's admin token (`--token-file`,
or the dev node's own: `AdminToken.find`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from core.amounts import parse_amount
from core.crypto import SigningKey, parse_address, to_checksum_address
from core.rpc import DEFAULT_RPC, UNAUTHORIZED
from core.swarm_keys import rotate
from ledger.channels.payloads import (
    AcceptAnswer,
    AnyChannelPayload,
    ChannelMode,
    CreateChannel,
    JoinChannel,
    LeaveChannel,
    OfferReward,
    RemoveMember,
    RotateKey,
    channel_id_of,
    is_channel_name,
)
from ledger.identity import SetIdentity, derived_certificate
from ledger.names import is_name
from wallet.client import RpcClient, RpcClientError
from wallet.options import (
    AdminToken,
    AsJson,
    Reader,
    Rpc,
    Signer,
    TokenFile,
    console,
    err,
    finish,
    friendly_errors,
    print_result,
    reads,
    resolve,
    signed,
    submit,
)
from wallet.txbuilder import build_channel, build_register, member_keys, next_members

app = typer.Typer(
    help="Swarm channels: membership, keys and encrypted messages.", no_args_is_help=True
)

AsIdentity = Annotated[
    str | None,
    typer.Option("--as", help="The node's swarm identity (name or address) to act as."),
]

DEFAULT_REWARD_BLOCKS = 1_000


# ---- transactions ------------------------------------------------------------------------------


def _post(
    signer: Signer,
    make: Callable[[RpcClient, SigningKey], AnyChannelPayload],
    what: str,
    token: str | None = None,
) -> None:
    """Sign and send the CHANNEL transaction `make` builds, and show its outcome."""
    key = signer.key()
    with RpcClient(signer.rpc, token=token) as client:
        payload = make(client, key)
        result = submit(client, build_channel(client, key, payload), signer.wait)
    finish(signer.as_json, result, what)


# ---- reading the chain -------------------------------------------------------------------------


def _channel_id(client: RpcClient, channel: str) -> bytes:
    if channel.startswith("0x") and len(channel) == 66:
        return bytes.fromhex(channel[2:])
    if not is_channel_name(channel):
        raise ValueError(f"{channel!r} is neither a channel name nor a 0x channel id")
    return channel_id_of(int(str(client.call("aither_chainId")), 16), channel)


def _channel(client: RpcClient, channel: str) -> dict[str, Any]:
    view = client.call("aither_getChannel", "0x" + _channel_id(client, channel).hex())
    if not isinstance(view, dict):
        raise ValueError(f"no channel {channel}")
    return view


# ---- commands: membership ----------------------------------------------------------------------


@app.command("create")
@signed
def create(
    channel: str,
    invite: bool = typer.Option(False, "--invite", help="Invite-only: the admin adds members."),
    *,
    signer: Signer,
) -> None:
    """Create CHANNEL with yourself as admin and only member (epoch 0)."""
    if not is_channel_name(channel):
        raise ValueError("a channel name is 1..64 of a-z 0-9 . _ -, starting with a letter/digit")

    def make(client: RpcClient, key: SigningKey) -> AnyChannelPayload:
        channel_id = _channel_id(client, channel)
        _, rotation = rotate(channel_id, 0, member_keys(client, [key.address]))
        mode = ChannelMode.INVITE if invite else ChannelMode.OPEN
        return CreateChannel(channel, mode, rotation)

    _post(signer, make, f"created {channel}")


@app.command("join")
@signed
def join(
    channel: str,
    member: str | None = typer.Option(
        None, "--member", help="Admin: add this identity (name or address)."
    ),
    *,
    signer: Signer,
) -> None:
    """Join CHANNEL (pending until the next `rotate`), or add --member as its admin."""

    def make(client: RpcClient, key: SigningKey) -> AnyChannelPayload:
        added = None if member is None else resolve(member, signer.keystore, signer.rpc)
        return JoinChannel(_channel_id(client, channel), added)

    _post(signer, make, f"join of {channel} pending until the next rotation")


@app.command("leave")
@signed
def leave(
    channel: str,
    *,
    signer: Signer,
) -> None:
    """Leave CHANNEL (effective at the next `rotate`)."""

    def make(client: RpcClient, key: SigningKey) -> AnyChannelPayload:
        return LeaveChannel(_channel_id(client, channel))

    _post(signer, make, f"leaving {channel} at the next rotation")


@app.command("remove")
@signed
def remove(
    channel: str,
    member: str,
    *,
    signer: Signer,
) -> None:
    """Admin: remove MEMBER and rotate the key in the same transaction."""

    def make(client: RpcClient, key: SigningKey) -> AnyChannelPayload:
        view = _channel(client, channel)
        removed = resolve(member, signer.keystore, signer.rpc)
        members = member_keys(client, next_members(view, removed))
        channel_id = bytes.fromhex(str(view["id"])[2:])
        _, rotation = rotate(channel_id, int(view["epoch"]) + 1, members)
        return RemoveMember(channel_id, removed, rotation)

    _post(signer, make, f"removed {member} from {channel}; key rotated")


@app.command("rotate")
@signed
def rotate_key(
    channel: str,
    *,
    signer: Signer,
) -> None:
    """Rotate CHANNEL's key, taking in pending joins and dropping pending leaves."""

    def make(client: RpcClient, key: SigningKey) -> AnyChannelPayload:
        view = _channel(client, channel)
        members = member_keys(client, next_members(view))
        channel_id = bytes.fromhex(str(view["id"])[2:])
        _, rotation = rotate(channel_id, int(view["epoch"]) + 1, members)
        return RotateKey(channel_id, rotation)

    _post(signer, make, f"rotated the key of {channel}")


@app.command("members")
@reads
def members(channel: str, *, reader: Reader) -> None:
    """CHANNEL's admin, epoch, members (with names) and pending changes."""
    with RpcClient(reader.rpc) as client:
        view = _channel(client, channel)
        names: dict[str, str | None] = {}
        for address in [*view["members"], *view["pendingJoins"]]:
            found = client.call("aither_getIdentity", address)
            names[str(address)] = found.get("name") if isinstance(found, dict) else None
    if reader.as_json:
        print(json.dumps({**view, "names": names}))
        return
    console.print(f"[bold]{view['name']}[/bold] {view['id']}")
    console.print(f"  mode {view['mode']}, epoch {view['epoch']}, admin {view['admin']}")
    table = Table("address", "name", "status")
    leaving = set(view["pendingLeaves"])
    for address in view["members"]:
        status = "leaving" if address in leaving else "member"
        table.add_row(str(address), names.get(str(address)) or "", status)
    for address in view["pendingJoins"]:
        table.add_row(str(address), names.get(str(address)) or "", "joins at next rotation")
    console.print(table)


# ---- the node's admin methods ------------------------------------------------------------------


def admin_call(client: RpcClient, token: AdminToken, method: str, *args: object) -> object:
    """Call admin method `method` (the client sends `token`); a refused token becomes what to
    do about it."""
    try:
        return client.call(method, *args)
    except RpcClientError as exc:
        if exc.code != UNAUTHORIZED:
            raise
        raise token.refused(method) from None


# ---- commands: messages ------------------------------------------------------------------------


@app.command("send")
@signed
def send(
    channel: str,
    text: str,
    as_identity: AsIdentity = None,
    reward: str | None = typer.Option(
        None, "--reward", help="Escrow this many AVM for an accepted answer."
    ),
    timeout_blocks: int = typer.Option(
        DEFAULT_REWARD_BLOCKS, "--timeout", min=1, help="Blocks before an unpaid reward returns."
    ),
    token_file: TokenFile = None,
    *,
    signer: Signer,
) -> None:
    """Send TEXT on CHANNEL as the node's identity; with --reward, escrow a reward on chain
    (signed with --from / --dev-account, which must be the same identity)."""
    amount = None if reward is None else parse_amount(reward)
    token = AdminToken.find(token_file, signer.rpc)
    with RpcClient(signer.rpc, token=token.value) as client:
        channel_id = "0x" + _channel_id(client, channel).hex()
        args: list[object] = [channel_id, "0x" + text.encode().hex()]
        if as_identity is not None:
            args.append(as_identity)
        sent = admin_call(client, token, "swarm_send", *args)
        assert isinstance(sent, dict)
        escrow = None
        if amount:
            key = signer.key()
            height = int(str(client.call("aither_blockNumber")), 16)
            payload = OfferReward(
                bytes.fromhex(channel_id[2:]),
                bytes.fromhex(str(sent["messageHash"])[2:]),
                amount,
                height + timeout_blocks,
            )
            escrow = submit(client, build_channel(client, key, payload), signer.wait)
    if signer.as_json:
        print(json.dumps({"sent": sent} if escrow is None else {"sent": sent, "reward": escrow}))
    else:
        console.print(f"sent {sent['messageHash']} (epoch {sent['epoch']}, seq {sent['sequence']})")
        if escrow is not None:
            print_result(escrow, f"reward of {reward} AVM escrowed")
    if escrow is not None and escrow["status"] == "failed":
        raise typer.Exit(1)


def _ws_url(rpc: str) -> str:
    base = rpc.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/ws"
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + "/ws"
    return base + "/ws"


def format_message(message: dict[str, Any]) -> str:
    """One line per message: time, sender name (or address), text (or hex)."""
    stamp = datetime.fromtimestamp(int(message["timestamp"]), UTC).strftime("%H:%M:%S")
    who = message.get("senderName") or message["sender"]
    body = message.get("text")
    if body is None:
        body = message["payload"]
    return f"[{stamp}] {who}: {body}  ({str(message['messageHash'])[:18]})"


@app.command("listen")
@friendly_errors
def listen(
    channel: str,
    as_identity: AsIdentity = None,
    token_file: TokenFile = None,
    rpc: Rpc = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Print CHANNEL's messages as the node decrypts them, with sender names, until Ctrl-C."""
    from websockets.sync.client import connect  # only this command needs it

    token = AdminToken.find(token_file, rpc)
    with RpcClient(rpc) as client:
        channel_id = "0x" + _channel_id(client, channel).hex()
    params: list[object] = ["swarm", channel_id]
    if as_identity is not None:
        params.append(as_identity)
    headers = {} if token.value is None else {"Authorization": f"Bearer {token.value}"}
    try:
        with connect(_ws_url(rpc), max_size=2**21, additional_headers=headers) as socket:
            request = {"jsonrpc": "2.0", "id": 1, "method": "aither_subscribe", "params": params}
            socket.send(json.dumps(request))
            answer = json.loads(socket.recv())
            if "error" in answer:
                if answer["error"].get("code") == UNAUTHORIZED:
                    raise token.refused("listening")
                raise ValueError(answer["error"].get("message", "subscription refused"))
            who = "" if as_identity is None else f" as {as_identity}"
            err.print(
                f"listening on {channel}{who}: a line per message as the node decrypts it "
                "(Ctrl-C to stop)"
            )
            for raw in socket:
                note = json.loads(raw)
                message = note.get("params", {}).get("result")
                if not isinstance(message, dict):
                    continue
                print(json.dumps(message) if as_json else format_message(message), flush=True)
    except KeyboardInterrupt:
        pass


@app.command("accept")
@signed
def accept(
    message_hash: str,
    request: str = typer.Option(
        ..., "--for", help="Hash (or unique prefix) of your rewarded message this one answers."
    ),
    token_file: TokenFile = None,
    *,
    signer: Signer,
) -> None:
    """Accept MESSAGE_HASH as the answer to your rewarded message: pays its sender on chain.

    The node must have decrypted the answer (you are a member); the chain sees only its signed
    statement (channel, epoch, sender, sequence, timestamp, payload hash), never the text.
    """

    def make(client: RpcClient, key: SigningKey) -> AnyChannelPayload:
        found = admin_call(client, token, "swarm_message", message_hash)
        if not isinstance(found, dict):
            raise ValueError(f"this node has not decrypted a message {message_hash}")
        return AcceptAnswer(
            client.full_id("message", request),
            bytes.fromhex(str(found["channel"])[2:]),
            int(found["epoch"]),
            parse_address(str(found["sender"])),
            int(found["sequence"]),
            int(found["timestamp"]),
            bytes.fromhex(str(found["payloadHash"])[2:]),
            bytes.fromhex(str(found["signature"])[2:]),
        )

    token = AdminToken.find(token_file, signer.rpc)
    what = f"accepted {message_hash[:18]}; reward paid"
    _post(signer, make, what, token.value)


# ---- identities --------------------------------------------------------------------------------


def _metadata(entries: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep:
            raise ValueError(f"metadata {entry!r} is not key=value")
        pairs.append((key, value))
    return tuple(sorted(pairs))


@app.command("register")
@signed
def register(
    name: str = typer.Argument("", help="A name such as masha-trader.avm ('' for none)."),
    role: list[str] = typer.Option([], "--role", help="A role; repeat for several."),
    meta: list[str] = typer.Option([], "--meta", help="Metadata key=value; repeat."),
    new_encryption_key: bool = typer.Option(
        False, "--new-encryption-key", help="Certify a fresh X25519 key (a higher valid_from)."
    ),
    *,
    signer: Signer,
) -> None:
    """Register (or update) your identity: NAME, roles, metadata, and the X25519 key that
    channel keys are sealed to, derived from your key so the node can re-derive it."""
    if name and not is_name(name):
        raise ValueError(f"{name!r} is not a name: lowercase label, then .avm (say alice.avm)")

    def make(client: RpcClient, key: SigningKey) -> SetIdentity:
        current = client.call("aither_getIdentity", to_checksum_address(key.address))
        valid_from = current.get("encryptionKeyValidFrom") if isinstance(current, dict) else None
        if valid_from is None:
            certificate = derived_certificate(key, 1)
        elif new_encryption_key:
            certificate = derived_certificate(key, int(valid_from) + 1)
        else:
            certificate = None  # keep the certified key
        return SetIdentity(name, certificate, tuple(role), _metadata(meta))

    key = signer.key()
    with signer.client() as client:
        result = submit(client, build_register(client, key, make(client, key)), signer.wait)
    finish(signer.as_json, result, f"registered {name or to_checksum_address(key.address)}")
