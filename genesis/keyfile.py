"""Node and validator key files: plain JSON with mode 0600, as CometBFT keeps them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.crypto import SigningKey
from core.errors import AitherError


class KeyFileError(AitherError):
    """A key file that cannot be read or used."""


def write_key_file(path: Path, key: SigningKey, kind: str) -> None:
    """Write a node or validator key as CometBFT does: plain JSON, mode 0600, never overwritten.

    A validator signs unattended, so its key cannot wait for a password; the file mode and the
    directory are its protection (as in CometBFT's priv_validator_key.json).
    """
    doc = {
        "type": f"{kind}/ed25519",
        "pubkey": "0x" + key.pubkey.hex(),
        "seed": "0x" + key.seed.hex(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(doc, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_key_file(path: Path) -> SigningKey:
    try:
        doc = json.loads(path.read_text())
        seed = bytes.fromhex(str(doc["seed"]).removeprefix("0x"))
        key = SigningKey(seed)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"key file {path} is damaged: {exc}") from None
    if "pubkey" in doc and doc["pubkey"] != "0x" + key.pubkey.hex():
        raise KeyFileError(f"key file {path} is damaged: its public key does not match its seed")
    return key
