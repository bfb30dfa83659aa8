"""`aither wallet role define|grant|revoke`: roles on chain (ledger/roles.py), read by the
agents' CHECK_PERMISSIONS."""

from __future__ import annotations

from typing import Annotated

import typer

from core.crypto import to_checksum_address
from ledger.roles import DefineRole, GrantRole
from wallet.options import Signer, finish, resolve, signed, submit
from wallet.txbuilder import build_role

app = typer.Typer()
role_app = typer.Typer(help="Define roles and grant them (CHECK_PERMISSIONS).")
app.add_typer(role_app, name="role")

Holder = Annotated[str, typer.Argument(metavar="ADDRESS_OR_NAME", help="An account or agent.")]


@role_app.command("define")
@signed
def define(
    role: str,
    action: Annotated[
        list[str], typer.Option("--action", help="An action the role permits (repeat; * for all).")
    ] = [],  # noqa: B006
    *,
    signer: Signer,
) -> None:
    """Define ROLE and the actions it permits; you become its admin (or, as its admin, change
    them)."""
    actions = tuple(sorted(set(action)))
    key = signer.key()
    with signer.client() as client:
        result = submit(client, build_role(client, key, DefineRole(role, actions)), signer.wait)
    result.update(role=role, actions=list(actions))
    finish(signer.as_json, result, f"defined role {role} ({', '.join(actions) or 'no actions'})")


def _grant(role: str, holder: str, revoke: bool, signer: Signer) -> None:
    address = resolve(holder, signer.keystore, signer.rpc)
    key = signer.key()
    with signer.client() as client:
        payload = GrantRole(role, address, revoke)
        result = submit(client, build_role(client, key, payload), signer.wait)
    who = to_checksum_address(address)
    result.update(role=role, holder=who)
    what = f"revoked {role} from {who}" if revoke else f"granted {role} to {who}"
    finish(signer.as_json, result, what)


@role_app.command("grant")
@signed
def grant(role: str, holder: Holder, *, signer: Signer) -> None:
    """Grant ROLE to an account or agent (the role's admin only)."""
    _grant(role, holder, False, signer)


@role_app.command("revoke")
@signed
def revoke(role: str, holder: Holder, *, signer: Signer) -> None:
    """Take ROLE back from an account or agent (the role's admin only)."""
    _grant(role, holder, True, signer)
