"""The encrypted keystore: round trips, file safety, and the errors a person sees."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import nacl.pwhash.argon2id as argon2id
import pytest

from core.crypto import SigningKey, to_checksum_address, verify
from wallet.keystore import (
    DEFAULT_MEMLIMIT,
    DEFAULT_OPSLIMIT,
    KeyInfo,
    KeyNotFound,
    Keystore,
    KeystoreError,
    WrongPassword,
    parse_private_key,
)

# A fixed seed and its address, computed independently of the keystore.
SEED = bytes(range(32))
SEED_ADDRESS = to_checksum_address(SigningKey(SEED).address)
CHEAP = {"opslimit": argon2id.OPSLIMIT_MIN, "memlimit": argon2id.MEMLIMIT_MIN}


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "keystore"


@pytest.fixture
def keystore(directory: Path) -> Keystore:
    return Keystore(directory, **CHEAP)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _edit(path: Path, change: dict[str, object]) -> None:
    document = json.loads(path.read_text())
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        target = document
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    path.write_text(json.dumps(document))


def test_create_then_unlock_gives_the_same_key(keystore: Keystore) -> None:
    info = keystore.create("alice", "correct horse")
    key = keystore.unlock("alice", "correct horse")
    assert to_checksum_address(key.address) == info.address
    assert verify(key.pubkey, b"hello", key.sign(b"hello"))
    assert info == KeyInfo("alice", info.address, keystore.directory / "alice.json", info.created)


def test_two_created_keys_differ(keystore: Keystore) -> None:
    assert keystore.create("a", "pw").address != keystore.create("b", "pw").address


def test_file_is_0600_in_a_0700_directory_with_no_temp_files_left(
    keystore: Keystore, directory: Path
) -> None:
    info = keystore.create("alice", "pw")
    assert _mode(directory) == 0o700
    assert _mode(info.path) == 0o600
    assert [p.name for p in directory.iterdir()] == ["alice.json"]


def test_file_records_address_pubkey_kdf_and_cipher(keystore: Keystore) -> None:
    info = keystore.import_key("alice", SEED, "pw")
    document = json.loads(info.path.read_text())
    assert document["version"] == 1
    assert document["address"] == SEED_ADDRESS
    assert document["pubkey"] == SigningKey(SEED).pubkey.hex()
    assert document["kdf"]["name"] == "argon2id"
    assert document["kdf"]["opslimit"] == argon2id.OPSLIMIT_MIN
    assert document["kdf"]["memlimit"] == argon2id.MEMLIMIT_MIN
    assert len(bytes.fromhex(document["kdf"]["salt"])) == argon2id.SALTBYTES
    assert document["cipher"]["name"] == "xsalsa20-poly1305"
    assert len(bytes.fromhex(document["cipher"]["nonce"])) == 24
    assert len(bytes.fromhex(document["cipher"]["ciphertext"])) == 48
    assert document["created"] == info.created


def test_default_cost_is_moderate() -> None:
    keystore = Keystore(Path("unused"))
    assert (keystore.opslimit, keystore.memlimit) == (DEFAULT_OPSLIMIT, DEFAULT_MEMLIMIT)
    assert (DEFAULT_OPSLIMIT, DEFAULT_MEMLIMIT) == (
        argon2id.OPSLIMIT_MODERATE,
        argon2id.MEMLIMIT_MODERATE,
    )


def test_out_of_range_cost_is_refused(directory: Path) -> None:
    with pytest.raises(ValueError, match="memlimit"):
        Keystore(directory, opslimit=argon2id.OPSLIMIT_MIN, memlimit=1)


def test_a_key_opens_with_the_cost_in_its_file_not_the_keystores(
    keystore: Keystore, directory: Path
) -> None:
    keystore.import_key("alice", SEED, "pw")
    other = Keystore(directory, opslimit=argon2id.OPSLIMIT_MIN + 1, memlimit=argon2id.MEMLIMIT_MIN)
    assert other.unlock("alice", "pw").seed == SEED


def test_import_of_a_known_seed_gives_its_address(keystore: Keystore) -> None:
    info = keystore.import_key("imported", SEED, "pw")
    assert info.address == SEED_ADDRESS
    assert keystore.unlock("imported", "pw").seed == SEED


def test_import_refuses_a_seed_of_the_wrong_size(keystore: Keystore) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        keystore.import_key("short", SEED[:31], "pw")


def test_file_never_contains_the_seed(keystore: Keystore) -> None:
    info = keystore.import_key("alice", SEED, "pw")
    raw = info.path.read_bytes()
    assert SEED not in raw
    assert SEED.hex().encode() not in raw.lower()


def test_wrong_password(keystore: Keystore) -> None:
    keystore.create("bob", "right")
    with pytest.raises(WrongPassword, match="wrong password for key 'bob'"):
        keystore.unlock("bob", "wrong")


def test_empty_password_is_refused(keystore: Keystore, directory: Path) -> None:
    with pytest.raises(KeystoreError, match="password is required"):
        keystore.create("bob", "")
    assert not (directory / "bob.json").exists()


def test_missing_key(keystore: Keystore, directory: Path) -> None:
    message = f"no key named 'bob' in {directory} (aither wallet list shows the keys)"
    with pytest.raises(KeyNotFound, match=re.escape(message)):
        keystore.unlock("bob", "pw")
    with pytest.raises(KeyNotFound):
        keystore.info("bob")


def test_duplicate_name_is_refused_and_the_first_key_kept(keystore: Keystore) -> None:
    first = keystore.import_key("bob", SEED, "pw")
    with pytest.raises(KeystoreError, match="a key named 'bob' already exists"):
        keystore.create("bob", "other")
    assert keystore.info("bob") == first
    assert keystore.unlock("bob", "pw").seed == SEED


def test_tampered_ciphertext_is_reported_as_damage_not_a_wrong_password(
    keystore: Keystore,
) -> None:
    info = keystore.import_key("bob", SEED, "pw")
    ciphertext = bytearray.fromhex(json.loads(info.path.read_text())["cipher"]["ciphertext"])
    ciphertext[0] ^= 1
    _edit(info.path, {"cipher.ciphertext": ciphertext.hex()})
    with pytest.raises(KeystoreError, match=r"is damaged: the ciphertext fails") as caught:
        keystore.unlock("bob", "pw")
    assert not isinstance(caught.value, WrongPassword)
    assert str(info.path) in str(caught.value)


def test_address_swapped_for_another_key_is_caught_on_unlock(keystore: Keystore) -> None:
    info = keystore.import_key("bob", SEED, "pw")
    other = SigningKey(bytes(32))
    _edit(
        info.path,
        {"address": to_checksum_address(other.address), "pubkey": other.pubkey.hex()},
    )
    assert keystore.info("bob").address == to_checksum_address(other.address)
    with pytest.raises(KeystoreError, match="damaged: the key inside does not belong"):
        keystore.unlock("bob", "pw")


def test_address_that_does_not_match_the_pubkey_is_damage(keystore: Keystore) -> None:
    info = keystore.import_key("bob", SEED, "pw")
    _edit(info.path, {"address": to_checksum_address(bytes(20))})
    with pytest.raises(KeystoreError, match="does not match its public key"):
        keystore.info("bob")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"version": 99}', "unknown version 99"),
        (b'{"version": 1}', "field 'kdf' is missing"),
    ],
)
def test_corrupt_file_is_reported_clearly(
    keystore: Keystore, directory: Path, content: bytes, reason: str
) -> None:
    keystore.create("good", "pw")
    (directory / "broken.json").write_bytes(content)
    message = f"keystore file {directory / 'broken.json'} is damaged: {reason}"
    for attempt in (keystore.list, lambda: keystore.info("broken")):
        with pytest.raises(KeystoreError) as caught:
            attempt()
        assert str(caught.value).startswith(message)


def test_list_needs_no_password_is_sorted_and_ignores_unrelated_files(
    keystore: Keystore, directory: Path
) -> None:
    keystore.create("zed", "pw1")
    keystore.import_key("alice", SEED, "pw2")
    keystore.create("m.key-2", "pw3")
    keystore.create("a-b", "pw4")  # sorts before "alice.json" as a file, after "a" as a name
    keystore.create("a", "pw5")
    (directory / "notes.txt").write_text("not a key")
    (directory / "UPPER.json").write_text("{}")
    (directory / ".alice.json.0123.tmp").write_text("partial")
    (directory / "folder.json").mkdir()

    listed = keystore.list()
    assert [info.name for info in listed] == ["a", "a-b", "alice", "m.key-2", "zed"]
    assert listed[2] == keystore.info("alice")
    assert listed[2].address == SEED_ADDRESS


def test_a_file_where_the_directory_should_be_is_reported(tmp_path: Path) -> None:
    (tmp_path / "keystore").write_text("")
    keystore = Keystore(tmp_path / "keystore", **CHEAP)
    with pytest.raises(KeystoreError, match=r"cannot write key 'bob' to .*: File exists"):
        keystore.create("bob", "pw")
    with pytest.raises(KeystoreError, match=r"cannot read keystore .*: Not a directory"):
        keystore.list()


def test_list_of_a_missing_directory_is_empty(keystore: Keystore, directory: Path) -> None:
    assert keystore.list() == []
    assert not directory.exists()


@pytest.mark.parametrize(
    "name", ["", "Bob", "-bob", ".bob", "_bob", "a/b", "../bob", "bob\n", "b ob", "a" * 65]
)
def test_bad_names_are_refused(keystore: Keystore, name: str) -> None:
    for attempt in (
        lambda: keystore.create(name, "pw"),
        lambda: keystore.info(name),
        lambda: keystore.unlock(name, "pw"),
    ):
        with pytest.raises(KeystoreError, match="is not a valid key name"):
            attempt()
    assert not keystore.directory.exists()


@pytest.mark.parametrize("name", ["0", "a" * 64, "my-key_1.v2"])
def test_good_names_are_accepted(keystore: Keystore, name: str) -> None:
    assert keystore.create(name, "pw").path.name == f"{name}.json"


def test_directory_from_argument_env_or_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AITHER_KEYSTORE", raising=False)
    assert Keystore().directory == tmp_path / "home" / ".aither" / "keystore"
    monkeypatch.setenv("AITHER_KEYSTORE", str(tmp_path / "env"))
    assert Keystore().directory == tmp_path / "env"
    assert Keystore(tmp_path / "explicit").directory == tmp_path / "explicit"


@pytest.mark.parametrize(
    "text",
    [SEED.hex(), "0x" + SEED.hex(), "0X" + SEED.hex().upper(), f"  0x{SEED.hex()}\n"],
)
def test_parse_private_key_accepts(text: str) -> None:
    assert parse_private_key(text) == SEED


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        SEED.hex()[:-1],
        SEED.hex() + "0",
        "zz" + SEED.hex()[2:],
        SEED.hex()[:32] + " " + SEED.hex()[32:],
        "0x0x" + SEED.hex()[4:],
    ],
)
def test_parse_private_key_refuses_without_echoing_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="a private key is 64 hex digits") as caught:
        parse_private_key(text)
    assert SEED.hex()[8:24] not in str(caught.value)
