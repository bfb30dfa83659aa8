"""`aither wallet role define|grant|revoke|policy`: roles on chain (ledger/roles.py), read by the
agents' CHECK_PERMISSIONS."""

from __future__ import annotations

from typing import Annotated

import typer

from core.amounts import parse_amount
from core.crypto import to_checksum_address
from core.encoding import Value
from core.errors import InvalidTransaction
from ledger.policy import AgentPolicy
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


Callers = Annotated[
    list[str], typer.Option("--caller", help="A caller the agent serves (repeat; none: any).")
]
PolicyRoles = Annotated[
    list[str], typer.Option("--role", help="A role a caller must hold one of (repeat).")
]
SpendLimit = Annotated[
    str, typer.Option("--spend-limit", help="AVM the agent's SECURITY_CHECK passes a period.")
]
Period = Annotated[int, typer.Option("--period", min=0, help="Seconds of a period.")]


def read_policy(agent: str, callers: list[str], roles: list[str], spend_limit: str, period: int,
                signer: Signer) -> AgentPolicy:  # fmt: skip
    """The policy the options describe (names and keystore keys resolved), checked as the chain
    checks it."""
    target = resolve(agent, signer.keystore, signer.rpc)
    listed = tuple(sorted({resolve(c, signer.keystore, signer.rpc) for c in callers}))
    try:
        limit = parse_amount(spend_limit)
    except ValueError as exc:
        raise ValueError(f"--spend-limit {spend_limit!r}: {exc}") from None
    names: list[Value] = [r for r in sorted(set(roles))]
    rules: list[Value] = [list(listed), names, limit, period]
    try:
        return AgentPolicy.from_rules(target, rules)
    except InvalidTransaction as exc:
        raise ValueError(str(exc)) from None


@role_app.command("policy")
@signed
def policy(
    agent: Holder,
    caller: Callers = [],  # noqa: B006
    role: PolicyRoles = [],  # noqa: B006
    spend_limit: SpendLimit = "0",
    period: Period = 0,
    *,
    signer: Signer,
) -> None:
    """Set an agent's SECURITY_CHECK policy (its deployer only; a council-governed agent's is
    set by `aither wallet propose-policy`)."""
    rules = read_policy(agent, caller, role, spend_limit, period, signer)
    key = signer.key()
    with signer.client() as client:
        result = submit(client, build_role(client, key, SetPolicy(rules)), signer.wait)
    result.update(agent=to_checksum_address(rules.agent), policy=rules.to_json())
    finish(signer.as_json, result, f"set the policy of {to_checksum_address(rules.agent)}")
