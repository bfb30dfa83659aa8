"""Identities on a real `State`: names, certificates, roles, metadata, transfers, payload schema."""

from __future__ import annotations

import pytest

from core.crypto import SigningKey
from core.encoding import decode, encode
from core.errors import DecodeError, ExecutionFailed, InvalidTransaction
from core.swarm_keys import EncryptionKey, X25519Certificate, certify
from ledger import identity as ident
from ledger.state import State


class Memory:
    """Committed state as a dict: the reader under a `State`."""

    def __init__(self) -> None:
        self.entries: dict[bytes, bytes] = {}

    def get_state(self, key: bytes) -> bytes | None:
        return self.entries.get(key)


@pytest.fixture
def state() -> State:
    return State(Memory())


def _key(n: int) -> SigningKey:
    return SigningKey(bytes([n]) * 32)


def _apply(state: State, key: SigningKey, payload: ident.RegisterPayload, height: int = 1):
    # Through the wire format, as tx.py will decode it.
    parsed = ident.RegisterPayload.from_value(decode(encode(payload.to_value())))
    assert parsed == payload
    state.begin()
    try:
        logs = ident.apply_register(state, key.pubkey, parsed, height)
    except ExecutionFailed:
        state.rollback()
        raise
    state.commit()
    return logs


def test_register_name_certificate_roles_metadata(state: State) -> None:
    key, box = _key(1), EncryptionKey.generate()
    cert = certify(key, box, 1)
    payload = ident.SetIdentity(
        "masha-trader.avm", cert, ("trader", "SecurityAuditor"), (("bio", "hi"), ("url", "x"))
    )
    logs = _apply(state, key, payload, height=7)
    assert logs[0].name == "IdentityRegistered"
    assert ident.resolve_name(state, "masha-trader.avm") == key.address
    found = ident.lookup(state, "masha-trader.avm")
    assert found is not None and found.box_pubkey == box.public and found.since == 7
    assert ident.lookup(state, key.address) == found
    view = found.to_json()
    assert view["name"] == "masha-trader.avm"
    assert view["encryptionKey"] == "0x" + box.public.hex()
    assert view["roles"] == ["trader", "SecurityAuditor"]
    assert view["metadata"] == {"bio": "hi", "url": "x"}


def test_first_come_first_served_and_rename_releases(state: State) -> None:
    _apply(state, _key(1), ident.SetIdentity("alpha.avm"))
    with pytest.raises(ident.NameTaken, match=r"alpha\.avm belongs to 0x"):
        _apply(state, _key(2), ident.SetIdentity("alpha.avm"))
    assert ident.load_identity(state, _key(2).address) is None  # rolled back
    _apply(state, _key(1), ident.SetIdentity("beta.avm"))
    assert ident.resolve_name(state, "alpha.avm") is None
    _apply(state, _key(2), ident.SetIdentity("alpha.avm"))
    assert ident.resolve_name(state, "alpha.avm") == _key(2).address
    # Re-registering the same name keeps it; "" releases it.
    _apply(state, _key(2), ident.SetIdentity("alpha.avm", roles=("x",)))
    _apply(state, _key(2), ident.SetIdentity(""))
    assert ident.resolve_name(state, "alpha.avm") is None


def test_certificate_must_be_senders_valid_and_newer(state: State) -> None:
    key, other = _key(1), _key(2)
    box = EncryptionKey.generate()
    with pytest.raises(ident.BadCertificate, match="another address"):
        _apply(state, key, ident.SetIdentity("", certify(other, box, 1)))
    cert = certify(key, box, 5)
    forged = X25519Certificate(cert.address, cert.x25519_pubkey, 6, cert.signature)
    with pytest.raises(ident.BadCertificate, match="bad certificate signature"):
        _apply(state, key, ident.SetIdentity("", forged))
    weak = X25519Certificate(key.address, bytes(32), 1, key.sign(b"x"))
    with pytest.raises(ident.BadCertificate):
        _apply(state, key, ident.SetIdentity("", weak))
    _apply(state, key, ident.SetIdentity("", cert))
    with pytest.raises(ident.BadCertificate, match="not after"):
        _apply(state, key, ident.SetIdentity("", certify(key, EncryptionKey.generate(), 5)))
    # None keeps the certificate; a newer one replaces it.
    _apply(state, key, ident.SetIdentity("k.avm"))
    assert ident.load_identity(state, key.address).certificate == cert  # type: ignore[union-attr]
    newer = certify(key, EncryptionKey.generate(), 6)
    _apply(state, key, ident.SetIdentity("k.avm", newer))
    assert ident.load_identity(state, key.address).certificate == newer  # type: ignore[union-attr]


def test_transfer_name(state: State) -> None:
    a, b, c = _key(1), _key(2), _key(3)
    _apply(state, a, ident.SetIdentity("shop.avm"))
    with pytest.raises(ident.UnknownIdentity, match="must register"):
        _apply(state, a, ident.TransferName("shop.avm", b.address))
    _apply(state, b, ident.SetIdentity(""))
    _apply(state, c, ident.SetIdentity("other.avm"))
    with pytest.raises(ident.NotNameOwner):
        _apply(state, b, ident.TransferName("shop.avm", b.address))
    with pytest.raises(ident.NameHeld, match=r"already holds other\.avm"):
        _apply(state, a, ident.TransferName("shop.avm", c.address))
    logs = _apply(state, a, ident.TransferName("shop.avm", b.address))
    assert logs[0].name == "NameTransferred"
    assert ident.resolve_name(state, "shop.avm") == b.address
    assert ident.load_identity(state, a.address).name == ""  # type: ignore[union-attr]
    assert ident.load_identity(state, b.address).name == "shop.avm"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name",
    ["Masha.avm", "masha", "-a.avm", "a-.avm", "a_b.avm", "a.eth", "x" * 33 + ".avm", ".avm", 5],
)
def test_bad_names_refused_at_decode(name: object) -> None:
    with pytest.raises(InvalidTransaction, match="lowercase label"):
        ident.RegisterPayload.from_value([0, name, None, [], []])


def test_good_names() -> None:
    for name in ("a.avm", "masha-trader.avm", "x" * 32 + ".avm", "0day.avm"):
        assert ident.is_name(name)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ([], DecodeError),
        ([9, "a.avm"], InvalidTransaction),
        ([True, "a.avm", None, [], []], InvalidTransaction),
        ([0, "a.avm", None, []], DecodeError),
        ([0, "a.avm", [b"x"], [], []], InvalidTransaction),
        ([0, "a.avm", None, ["r"] * 9, []], InvalidTransaction),
        ([0, "a.avm", None, ["r", "r"], []], InvalidTransaction),
        ([0, "a.avm", None, ["1r"], []], InvalidTransaction),
        ([0, "a.avm", None, [], [["b", "1"], ["a", "2"]]], InvalidTransaction),
        ([0, "a.avm", None, [], [["a", "x" * 257]]], InvalidTransaction),
        ([0, "a.avm", None, [], [["A", "x"]]], InvalidTransaction),
        ([0, "a.avm", None, [], [["k", "v"]] * 17], InvalidTransaction),
        ([1, "a.avm", b"short"], InvalidTransaction),
    ],
)
def test_payload_schema(value: list, error: type[Exception]) -> None:
    with pytest.raises(error):
        ident.RegisterPayload.from_value(value)


def test_gas_counts_certificate() -> None:
    key = _key(1)
    plain = ident.SetIdentity("a.avm")
    with_cert = ident.SetIdentity("a.avm", certify(key, EncryptionKey.generate(), 1))
    assert ident.execution_gas(with_cert) > ident.execution_gas(plain)
