"""`aither wallet role define|grant|revoke`: roles on chain (ledger/roles.py), read by the
agents' CHECK_PERMISSIONS."""

from __future__ import annotations

from typing import Annotated

import typer

from core.amounts import parse_amount
from core.crypto import to_checksum_address
from ledger.roles import DefineRole, GrantRole, SetPolicy
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


@role_app.command("policy")
@signed
def policy(
    agent: Holder,
    caller: Annotated[
        list[str], typer.Option("--caller", help="A caller the agent serves (repeat; none: any).")
    ] = [],  # noqa: B006
    role: Annotated[
        list[str], typer.Option("--role", help="A role a caller must hold one of (repeat).")
    ] = [],  # noqa: B006
    spend_limit: Annotated[
        str, typer.Option("--spend-limit", help="AVM the agent's SECURITY_CHECK passes a period.")
    ] = "0",
    period: Annotated[int, typer.Option("--period", min=0, help="Seconds of a period.")] = 0,
    *,
    signer: Signer,
) -> None:
    """Set an agent's SECURITY_CHECK policy (its deployer only; a council-governed agent's
    changes only by proposal)."""
    target = resolve(agent, signer.keystore, signer.rpc)
    callers = tuple(sorted({resolve(c, signer.keystore, signer.rpc) for c in caller}))
    try:
        limit = parse_amount(spend_limit)
    except ValueError as exc:
        raise ValueError(f"--spend-limit {spend_limit!r}: {exc}") from None
    payload = SetPolicy(target, callers, tuple(sorted(set(role))), limit, period)
    key = signer.key()
    with signer.client() as client:
        result = submit(client, build_role(client, key, payload), signer.wait)
    result.update(agent=to_checksum_address(target))
    finish(signer.as_json, result, f"set the policy of {to_checksum_address(target)}")
