"""Encrypted ed25519 keys on disk: one JSON file per named key.

A key's 32-byte seed is sealed with XSalsa20-Poly1305 (`nacl.secret.SecretBox`) under a key
derived from the password by Argon2id. The address and public key stay in clear so listing keys
needs no password. Files are written 0600 through a temporary file in a 0700 directory, and a
name once taken is never overwritten.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret

from core.crypto import SigningKey, address_of, to_checksum_address
from core.errors import AitherError

FORMAT_VERSION = 1
KEYSTORE_ENV = "AITHER_KEYSTORE"
DEFAULT_DIRECTORY = Path("~/.aither/keystore")

KDF_NAME = "argon2id"
CIPHER_NAME = "xsalsa20-poly1305"
# libsodium's MODERATE setting: 3 passes over 256 MiB, about 0.45 s on the 2-core dev machine.
DEFAULT_OPSLIMIT = argon2id.OPSLIMIT_MODERATE
DEFAULT_MEMLIMIT = argon2id.MEMLIMIT_MODERATE

SEED_SIZE = 32
_SALT_SIZE = argon2id.SALTBYTES
_NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE
_CIPHERTEXT_SIZE = SEED_SIZE + nacl.secret.SecretBox.MACBYTES
_CHECK_SIZE = 32
_CHECK_PERSON = b"aither-pw-check"

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_PRIVATE_KEY = re.compile(r"(?:0[xX])?([0-9a-fA-F]{64})")

_T = TypeVar("_T")


class KeystoreError(AitherError):
    """A keystore operation that cannot be done; the message says why and what to do."""


class WrongPassword(KeystoreError):
    """The password does not open the key."""


class KeyNotFound(KeystoreError):
    """No key is stored under the name."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What the keystore shows about a key without its password."""

    name: str
    address: str
    path: Path
    created: str


@dataclass(frozen=True, slots=True)
class _KeyFile:
    """The validated content of one keystore file."""

    info: KeyInfo
    pubkey: bytes
    opslimit: int
    memlimit: int
    salt: bytes
    password_check: bytes
    nonce: bytes
    ciphertext: bytes


def default_directory() -> Path:
    """`$AITHER_KEYSTORE` if set, else `~/.aither/keystore`."""
    configured = os.environ.get(KEYSTORE_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_DIRECTORY.expanduser()


def parse_private_key(text: str) -> bytes:
    """The 32-byte seed written as 64 hex digits, with or without 0x, surrounding space ignored.

    Raises ValueError. The message never repeats the text, since it may be a real key.
    """
    match = _PRIVATE_KEY.fullmatch(text.strip())
    if not match:
        raise ValueError(
            "a private key is 64 hex digits, optionally prefixed with 0x "
            f"(got {len(text.strip())} characters that do not fit)"
        )
    return bytes.fromhex(match.group(1))


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise KeystoreError(
            f"{name!r} is not a valid key name: use 1 to 64 of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        )


def _check_kdf_limits(opslimit: int, memlimit: int) -> None:
    if not argon2id.OPSLIMIT_MIN <= opslimit <= argon2id.OPSLIMIT_MAX:
        raise ValueError(
            f"opslimit must be between {argon2id.OPSLIMIT_MIN} and {argon2id.OPSLIMIT_MAX}"
        )
    if not argon2id.MEMLIMIT_MIN <= memlimit <= argon2id.MEMLIMIT_MAX:
        raise ValueError(
            f"memlimit must be between {argon2id.MEMLIMIT_MIN} and {argon2id.MEMLIMIT_MAX}"
        )


def _derive_key(password: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        password.encode(),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )


def _password_check(box_key: bytes) -> bytes:
    # The MAC alone cannot tell a wrong password from a damaged ciphertext; this hash of the
    # derived key can, and it gives a guesser nothing the MAC does not (each guess still costs
    # one Argon2id run).
    return hashlib.blake2b(box_key, digest_size=_CHECK_SIZE, person=_CHECK_PERSON).digest()


class Keystore:
    """A directory of password-encrypted ed25519 keys, one `<name>.json` file each."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        opslimit: int | None = None,
        memlimit: int | None = None,
    ) -> None:
        """Keys live in `directory`, else `$AITHER_KEYSTORE`, else `~/.aither/keystore`.

        `opslimit` and `memlimit` set the Argon2id cost of keys written from now on (default
        libsodium's MODERATE); a key is always opened with the cost stored in its file.
        Raises ValueError for a cost outside libsodium's bounds.
        """
        self.directory = (
            Path(directory).expanduser() if directory is not None else default_directory()
        )
        self.opslimit = DEFAULT_OPSLIMIT if opslimit is None else opslimit
        self.memlimit = DEFAULT_MEMLIMIT if memlimit is None else memlimit
        _check_kdf_limits(self.opslimit, self.memlimit)

    def create(self, name: str, password: str) -> KeyInfo:
        """Store a new random key under `name`. Raises KeystoreError if the name is taken."""
        return self.import_key(name, SigningKey.generate().seed, password)

    def import_key(self, name: str, seed: bytes, password: str) -> KeyInfo:
        """Store the key with this 32-byte seed under `name`.

        Raises ValueError for a seed of the wrong size, KeystoreError for a bad or taken name,
        an empty password, or a directory that cannot be written.
        """
        _check_name(name)
        key = SigningKey(seed)
        if not password:
            raise KeystoreError(f"a password is required to encrypt key {name!r}")
        path = self._path(name)
        if path.exists():
            raise self._exists(name)

        salt = secrets.token_bytes(_SALT_SIZE)
        nonce = secrets.token_bytes(_NONCE_SIZE)
        box_key = _derive_key(password, salt, self.opslimit, self.memlimit)
        ciphertext = nacl.secret.SecretBox(box_key).encrypt(key.seed, nonce).ciphertext
        info = KeyInfo(
            name=name,
            address=to_checksum_address(key.address),
            path=path,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        document = {
            "version": FORMAT_VERSION,
            "address": info.address,
            "pubkey": key.pubkey.hex(),
            "kdf": {
                "name": KDF_NAME,
                "opslimit": self.opslimit,
                "memlimit": self.memlimit,
                "salt": salt.hex(),
                "password_check": _password_check(box_key).hex(),
            },
            "cipher": {"name": CIPHER_NAME, "nonce": nonce.hex(), "ciphertext": ciphertext.hex()},
            "created": info.created,
        }
        self._write_new(name, (json.dumps(document, indent=2) + "\n").encode())
        return info

    def list(self) -> list[KeyInfo]:
        """Every key, sorted by name. Files that are not `<valid name>.json` are ignored.

        Raises KeystoreError naming the first damaged key file, or if the directory is unreadable.
        """
        try:
            paths = self.directory.iterdir() if self.directory.exists() else iter(())
            entries = sorted(paths, key=lambda path: path.stem)
        except OSError as exc:
            raise KeystoreError(f"cannot read keystore {self.directory}: {exc.strerror}") from None
        return [
            self._read(path).info
            for path in entries
            if path.suffix == ".json" and _NAME.fullmatch(path.stem) and path.is_file()
        ]

    def info(self, name: str) -> KeyInfo:
        """The named key's address and file. Raises KeyNotFound or KeystoreError."""
        _check_name(name)
        return self._read(self._path(name)).info

    def unlock(self, name: str, password: str) -> SigningKey:
        """Decrypt the named key.

        Raises KeyNotFound, WrongPassword, or KeystoreError if the file is damaged (including a
        stored address that does not belong to the decrypted key).
        """
        _check_name(name)
        stored = self._read(self._path(name))
        box_key = _derive_key(password, stored.salt, stored.opslimit, stored.memlimit)
        if not hmac.compare_digest(_password_check(box_key), stored.password_check):
            raise WrongPassword(f"wrong password for key {name!r}")
        try:
            seed = nacl.secret.SecretBox(box_key).decrypt(stored.ciphertext, stored.nonce)
        except nacl.exceptions.CryptoError:
            raise _damaged(stored.info.path, "the ciphertext fails authentication") from None
        key = SigningKey(seed)
        if key.pubkey != stored.pubkey:
            raise _damaged(
                stored.info.path, f"the key inside does not belong to {stored.info.address}"
            )
        return key

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _exists(self, name: str) -> KeystoreError:
        return KeystoreError(
            f"a key named {name!r} already exists in {self.directory}; choose another name"
        )

    def _read(self, path: Path) -> _KeyFile:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(
                f"no key named {path.stem!r} in {self.directory} "
                "(aither wallet list shows the keys)"
            ) from None
        except OSError as exc:
            raise KeystoreError(f"cannot read keystore file {path}: {exc.strerror}") from None
        return _parse_key_file(path, raw)

    def _write_new(self, name: str, content: bytes) -> None:
        """Write `<name>.json` atomically without ever replacing an existing file."""
        path = self._path(name)
        temp = self.directory / f".{name}.json.{secrets.token_hex(8)}.tmp"
        try:
            self._make_directory()
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(content)
                    file.flush()
                    os.fsync(file.fileno())
                # A hard link, unlike os.replace, fails if another writer took the name since
                # our check: a key is never silently overwritten.
                try:
                    os.link(temp, path)
                except FileExistsError:
                    raise self._exists(name) from None
            finally:
                temp.unlink(missing_ok=True)
            _fsync_directory(self.directory)
        except OSError as exc:
            raise KeystoreError(
                f"cannot write key {name!r} to {self.directory}: {exc.strerror}"
            ) from None

    def _make_directory(self) -> None:
        if self.directory.is_dir():
            return
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self.directory.mkdir(mode=0o700)
        # mkdir's mode is filtered by the umask; make it exactly owner-only.
        self.directory.chmod(0o700)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _damaged(path: Path, reason: str) -> KeystoreError:
    return KeystoreError(f"keystore file {path} is damaged: {reason}")


def _parse_key_file(path: Path, raw: bytes) -> _KeyFile:
    """Validate a keystore file's structure and its address against its public key."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _damaged(path, "not a JSON object")
    version = document.get("version")
    if version != FORMAT_VERSION:
        raise _damaged(path, f"unknown version {version!r} (this node reads {FORMAT_VERSION})")

    kdf = _field(path, document, "kdf", dict)
    cipher = _field(path, document, "cipher", dict)
    if kdf.get("name") != KDF_NAME:
        raise _damaged(path, f"unknown kdf {kdf.get('name')!r} (expected {KDF_NAME!r})")
    if cipher.get("name") != CIPHER_NAME:
        raise _damaged(path, f"unknown cipher {cipher.get('name')!r} (expected {CIPHER_NAME!r})")
    opslimit = _field(path, kdf, "opslimit", int)
    memlimit = _field(path, kdf, "memlimit", int)
    try:
        _check_kdf_limits(opslimit, memlimit)
    except ValueError as exc:
        raise _damaged(path, str(exc)) from None

    pubkey = _hex_field(path, document, "pubkey", 32)
    address = _field(path, document, "address", str)
    if address != to_checksum_address(address_of(pubkey)):
        raise _damaged(path, f"address {address} does not match its public key")
    return _KeyFile(
        info=KeyInfo(
            name=path.stem,
            address=address,
            path=path,
            created=_field(path, document, "created", str),
        ),
        pubkey=pubkey,
        opslimit=opslimit,
        memlimit=memlimit,
        salt=_hex_field(path, kdf, "salt", _SALT_SIZE),
        password_check=_hex_field(path, kdf, "password_check", _CHECK_SIZE),
        nonce=_hex_field(path, cipher, "nonce", _NONCE_SIZE),
        ciphertext=_hex_field(path, cipher, "ciphertext", _CIPHERTEXT_SIZE),
    )


def _field(path: Path, mapping: dict[str, object], key: str, kind: type[_T]) -> _T:
    value = mapping.get(key)
    # bool is an int subclass; `true` is never a valid cost.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _damaged(path, f"field {key!r} is missing or not a {kind.__name__}")
    return value


def _hex_field(path: Path, mapping: dict[str, object], key: str, size: int) -> bytes:
    text = _field(path, mapping, key, str)
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise _damaged(path, f"field {key!r} is not hex") from None
    if len(value) != size:
        raise _damaged(path, f"field {key!r} is {len(value)} bytes, expected {size}")
    return value
