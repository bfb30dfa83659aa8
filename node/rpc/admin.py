"""Admin methods, and the token that unlocks them.

Some methods act with, or reveal, what the node's local keys give: `swarm_send` signs with a
local identity's key, `swarm_messages` returns plaintext the node decrypted. They are admin
methods: every `swarm_*` method, and the WebSocket `swarm` subscription.

At each start the node writes a fresh random token to `admin-token` in its data dir, readable
by its own user only (mode 0600, as bitcoind's `.cookie`). A call to an admin method must carry
it as `Authorization: Bearer <token>`, on the HTTP request or on the WebSocket handshake;
without it the answer is a JSON-RPC error with code UNAUTHORIZED that says what to send.
Other methods do not look at the header.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from core.rpc import ADMIN_TOKEN_FILE, UNAUTHORIZED
from node.rpc.errors import RpcError

TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class AdminToken:
    value: str = field(repr=False)

    @classmethod
    def create(cls, directory: Path) -> AdminToken:
        """A new token, written to `directory/admin-token` (0600), replacing the last one."""
        token = cls(secrets.token_hex(TOKEN_BYTES))
        path = directory / ADMIN_TOKEN_FILE
        temporary = path.with_name(ADMIN_TOKEN_FILE + ".tmp")
        temporary.unlink(missing_ok=True)
        # Created 0600 (not chmod-ed after): no moment at which another user may read it.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(token.value + "\n")
        os.replace(temporary, path)
        return token

    def matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.value.encode())


@dataclass(frozen=True, slots=True)
class Access:
    """What one HTTP request or WebSocket connection may call."""

    admin: bool
    refusal: str = ""  # why not, when `admin` is False: the end of the error message

    def require(self, what: str) -> None:
        """Raise RpcError(UNAUTHORIZED) naming `what` unless the caller is admin."""
        if not self.admin:
            raise RpcError(UNAUTHORIZED, f"unauthorized: {what} is an admin method; {self.refusal}")


ADMIN = Access(True)


def access_for(token: AdminToken | None, authorization: str | None) -> Access:
    """The access an `Authorization` header value gives on a node holding `token`."""
    if token is None:
        return Access(False, "this node was started without an admin token")
    if authorization is None:
        return Access(
            False,
            f"send 'Authorization: Bearer <token>' with the token the node wrote to "
            f"{ADMIN_TOKEN_FILE} in its data dir",
        )
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return Access(False, "the Authorization header must be 'Bearer <token>'")
    if not token.matches(presented.strip()):
        return Access(
            False,
            f"the token sent is not this node's (it writes a new one to {ADMIN_TOKEN_FILE} in its "
            "data dir at each start)",
        )
    return ADMIN
