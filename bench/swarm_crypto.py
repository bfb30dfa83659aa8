"""Swarm channel encryption: cost per message and per rotation, for the two candidate schemes.

(a) epoch key: one key per channel epoch, sealed to each member at rotation; a message is one
    AEAD encryption under it (what p2p/swarm.py implements).
(b) content key: a fresh key per message, sealed to each member inside the message.

For a channel of `--members` members and `--size`-byte payloads, prints microseconds per
operation, bytes on the wire, and the CPU a 4-node network needs at `--rate` messages/s
delivered to every member (the issue's target: 500 msgs/s, 10 members, 1 KB).

    .venv/bin/python bench/swarm_crypto.py [--members 10] [--size 1024] [--rate 500]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nacl.bindings
import nacl.utils

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.crypto import SigningKey, hash32
from core.encoding import decode, encode
from core.swarm_keys import EncryptionKey, MemberKeys, rotate, unseal
from core.swarm_wire import MessageSigner
from p2p.swarm import ChannelReader, ChannelView, ChannelWriter, Epoch, ReaderPolicy, Received

CHANNEL = hash32(b"bench channel")
NOW = 1_800_000_000
NODES = 4

aead_encrypt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt
aead_decrypt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt


def per_call(fn: Callable[[int], object], n: int) -> float:
    """Microseconds per call of fn(i), i in range(n), best of three runs."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("-n", type=int, default=2000, help="messages per measurement")
    args = parser.parse_args()
    n, size = args.n, args.size
    ids = [SigningKey.generate() for _ in range(args.members)]
    boxes = [EncryptionKey.generate() for _ in ids]
    members = [MemberKeys(i.address, i.pubkey, b.public) for i, b in zip(ids, boxes, strict=True)]
    payload = nacl.utils.random(size)

    # -- (a) epoch key --
    rotate_us = per_call(lambda _: rotate(CHANNEL, 1, members), 200)
    key, rotation = rotate(CHANNEL, 1, members)
    unseal_us = per_call(lambda _: unseal(rotation, ids[1].address, boxes[1]), 500)
    epoch = Epoch(1, tuple(members), key)
    writer = ChannelWriter(ids[0], CHANNEL)
    a_send = per_call(lambda _: writer.encrypt(payload, epoch, NOW), n)
    batch = [writer.encrypt(payload, epoch, NOW) for _ in range(n)]
    policy = ReaderPolicy(replay_window=4 * n)
    reader = [ChannelReader(ChannelView(CHANNEL, (epoch,)), policy)]

    def receive(i: int) -> None:
        if i == 0:  # a fresh reader per timing run: every message is new to it
            reader[0] = ChannelReader(ChannelView(CHANNEL, (epoch,)), policy)
        assert isinstance(reader[0].receive(batch[i], NOW), Received)

    a_recv = per_call(receive, n)
    a_bytes = len(batch[0])

    # -- (b) per-message content key sealed to each member --
    signer = MessageSigner.of(ids[0])

    def b_encrypt(i: int) -> bytes:
        content_key = nacl.utils.random(32)
        nonce = nacl.utils.random(24)
        statement = hash32(payload)
        inner = encode([signer.address, i, NOW, payload, signer.sign(statement)])
        sealed = [nacl.bindings.crypto_box_seal(content_key, m.box_pubkey) for m in members]
        return encode([CHANNEL, sealed, nonce + aead_encrypt(inner, CHANNEL, nonce, content_key)])

    b_send = per_call(b_encrypt, n // 4)
    b_msg = b_encrypt(0)
    b_bytes = len(b_msg)

    box_public = boxes[0].public

    def b_decrypt(_: int) -> None:
        # The receiver's slot is known (best case: recipients listed, which leaks membership);
        # without a list it trial-opens on average half the slots.
        _, sealed, ct = decode(b_msg)
        content_key = nacl.bindings.crypto_box_seal_open(sealed[0], box_public, boxes[0].secret)
        inner = decode(aead_decrypt(ct[24:], CHANNEL, ct[:24], content_key))
        nacl.bindings.crypto_sign_open(inner[4] + hash32(inner[3]), ids[0].pubkey)

    b_recv = per_call(b_decrypt, n // 2)
    seal_open_us = per_call(
        lambda _: nacl.bindings.crypto_box_seal_open(
            decode(b_msg)[1][0], box_public, boxes[0].secret
        ),
        n // 2,
    )

    # Calibration: the machine's own ed25519 figures (measured-baselines: sign 18 us, verify
    # 43 us on an idle core), so that the figures above can be scaled to another load.
    statement = bytes(150)
    sign_us = per_call(lambda _: signer.sign(statement), n)
    sig = signer.sign(statement)
    verify_us = per_call(
        lambda _: nacl.bindings.crypto_sign_open(sig + statement, ids[0].pubkey), n
    )

    m, rate = args.members, args.rate
    local = m / NODES  # member identities per node
    trial = b_recv + (m / 2 - 1) * seal_open_us
    rows = [
        f"channel of {m} members, {size}-byte payloads, {NODES} nodes, target {rate} msgs/s",
        f"calibration: ed25519 sign {sign_us:.1f} us, verify {verify_us:.1f} us",
        "",
        "(a) epoch key sealed to members at rotation, AEAD per message  [implemented]",
        f"    send (sign + AEAD + encode)        {a_send:8.1f} us/msg",
        f"    receive (decode + AEAD + verify)   {a_recv:8.1f} us/msg",
        f"    wire size                          {a_bytes:8d} B (+{a_bytes - size} over payload)",
        f"    rotation: seal to {m} members       {rotate_us:8.1f} us, {len(rotation.encode())} B",
        f"    rotation: unseal one copy          {unseal_us:8.1f} us",
        "(b) fresh content key sealed to every member in every message",
        f"    send (sign + AEAD + {m} seals)      {b_send:8.1f} us/msg",
        f"    receive, own slot known            {b_recv:8.1f} us/msg",
        f"    receive, trial-open ({m / 2:.0f} avg)      {trial:8.1f} us/msg",
        f"    wire size                          {b_bytes:8d} B (+{b_bytes - size} over payload)",
        "",
        f"CPU per node at {rate} msgs/s delivered to all (senders spread over the nodes,",
        f"{local:.1f} member identities per node, each opening every message it did not send):",
    ]
    for name, send, recv in (("(a)", a_send, a_recv), ("(b)", b_send, b_recv)):
        load = rate / NODES * send + rate * local * recv * (m - 1) / m
        rows.append(
            f"    {name} {load / 1e4:5.1f} % of one core (send {send:.0f}, receive {recv:.0f} us)"
        )
    rows.append(
        f"one sender at most: (a) {1e6 / a_send:,.0f} msgs/s, (b) {1e6 / b_send:,.0f} msgs/s"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
