"""Roles on chain (ledger/roles.py): the payload codec, who may define, grant and revoke, and an
agent's CHECK_PERMISSIONS reading them, over a real ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_agents import ALICE, BOB, Chain, output

from avm.assembler import assemble
from core.encoding import decode, encode
from core.errors import InvalidTransaction
from genesis.dev import DEV_COUNCIL_ROLES, dev_key
from ledger.identity import NameAgent, RegisterPayload, resolve_name
from ledger.policy import AgentPolicy
from ledger.roles import DefineRole, GrantRole, RolePayload, SetPolicy, permits
from ledger.state import State
from ledger.tx import Deploy, Transaction, TxKind, decode_transaction

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,31}", fullmatch=True)
payloads = st.one_of(
    st.builds(
        DefineRole,
        names,
        st.lists(st.one_of(names, st.just("*")), max_size=16, unique=True).map(
            lambda a: tuple(sorted(a))
        ),
    ),
    st.builds(GrantRole, names, st.binary(min_size=20, max_size=20), st.booleans()),
    st.builds(
        SetPolicy,
        st.builds(
            AgentPolicy,
            st.binary(min_size=20, max_size=20),
            st.lists(st.binary(min_size=20, max_size=20), max_size=16, unique=True).map(
                lambda c: tuple(sorted(c))
            ),
            st.lists(names, max_size=8, unique=True).map(lambda r: tuple(sorted(r))),
            st.integers(0, 2**128 - 1),
            st.integers(1, 2**64 - 1),
        ),
    ),
)


@given(payloads)
def test_role_payloads_round_trip_through_their_canonical_encoding(payload) -> None:
    assert RolePayload.from_value(decode(encode(payload.to_value()))) == payload


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([7, "Oracle", []], "unknown role op"),
        ([0, "1bad", []], "is not a role"),
        ([0, "Oracle", ["b", "a"]], "unique and ascending"),
        ([1, "Oracle", b"\x01" * 19], "20-byte address"),
    ],
)
def test_bad_role_payloads_are_refused_naming_the_rule(value, says) -> None:
    with pytest.raises(InvalidTransaction, match=says):
        RolePayload.from_value(value)


GUARDED = assemble(
    """
:guarded
  CHECK_PERMISSIONS "Oracle", ARGS[0] -> ok
  RETURN ok
"""
).code


@pytest.fixture
def chain(tmp_path: Path):
    c = Chain(tmp_path / "a")
    yield c
    c.ledger.close()


def signed_tx(chain: Chain, key, payload, kind: TxKind = TxKind.ROLE):
    """Sign `payload` as a `kind` transaction from `key`, make a block of it; its receipt."""
    raw = Transaction(
        chain.ledger.chain_id, kind, key.pubkey, chain.next_nonce(key), 100_000,
        chain.ledger.genesis.min_gas_price, payload,
    ).signed(key)  # fmt: skip
    stx = decode_transaction(raw.encode())
    chain.produce(stx)
    receipt = chain.ledger.receipt(stx.hash)
    assert receipt is not None
    return receipt


def role_tx(chain: Chain, key, payload):
    return signed_tx(chain, key, payload)


def test_check_permissions_reads_roles_granted_on_chain(chain):
    _, deployed = chain.send(ALICE, Deploy(GUARDED.to_bytes(), (), 0))
    agent = output(deployed)
    _, before = chain.call(agent, "guarded", "publish")
    assert output(before) is False
    assert role_tx(chain, ALICE, DefineRole("Oracle", ("publish",))).ok
    assert role_tx(chain, ALICE, GrantRole("Oracle", agent)).ok
    _, granted = chain.call(agent, "guarded", "publish")
    assert output(granted) is True
    _, other = chain.call(agent, "guarded", "withdraw")
    assert output(other) is False  # the role does not permit that action
    assert role_tx(chain, ALICE, GrantRole("Oracle", agent, revoke=True)).ok
    _, revoked = chain.call(agent, "guarded", "publish")
    assert output(revoked) is False


def test_only_a_role_s_admin_grants_redefines_or_revokes_it(chain):
    assert role_tx(chain, ALICE, DefineRole("Oracle", ("publish",))).ok
    stranger = role_tx(chain, BOB, GrantRole("Oracle", BOB.address))
    assert not stranger.ok and "only the admin of Oracle" in stranger.error
    taken = role_tx(chain, BOB, DefineRole("Oracle", ("*",)))
    assert not taken.ok and "only the admin" in taken.error
    assert not permits(State(chain.ledger), BOB.address, "Oracle", "publish")
    missing = role_tx(chain, ALICE, GrantRole("Unknown", BOB.address))
    assert not missing.ok and "define it first" in missing.error
    not_held = role_tx(chain, ALICE, GrantRole("Oracle", BOB.address, revoke=True))
    assert not not_held.ok and "does not hold" in not_held.error
    assert role_tx(chain, ALICE, DefineRole("Oracle", ("*",))).ok  # the admin widens it
    assert role_tx(chain, ALICE, GrantRole("Oracle", BOB.address)).ok
    assert permits(State(chain.ledger), BOB.address, "Oracle", "anything")


def test_council_roles_are_held_by_council_members_only(chain):
    refused = role_tx(chain, ALICE, DefineRole("SecurityAuditor", ("*",)))
    assert not refused.ok and "council role" in refused.error
    index, role = DEV_COUNCIL_ROLES[0]
    state = State(chain.ledger)
    assert permits(state, dev_key(index).address, role.value, "review")
    assert not permits(state, ALICE.address, role.value, "review")


CHECKED = assemble(
    """
:spend
  SECURITY_CHECK ARGS[0] -> ok
  RETURN ok
"""
).code
COUNCIL_AGENT = assemble(
    """
:main
  CALL strategy
  RETURN ACC
.region STRATEGY council
:strategy
  SET ACC = 1
  RET
.endregion
"""
).code


def deploy(chain: Chain, code) -> bytes:
    _, deployed = chain.send(ALICE, Deploy(code.to_bytes(), (), 0))
    assert deployed.ok, deployed.error
    return output(deployed)


def test_security_check_applies_the_deployer_s_policy_on_callers_and_spending(chain):
    agent = deploy(chain, CHECKED)
    assert chain.call(agent, "spend", 10**9, key=BOB)[1].ok  # no policy: everything passes
    stranger = role_tx(chain, BOB, SetPolicy(AgentPolicy(agent, (ALICE.address,))))
    assert not stranger.ok and "only the deployer" in stranger.error
    policy = SetPolicy(AgentPolicy(agent, (ALICE.address,), (), spend_limit=100, period=3600))
    assert role_tx(chain, ALICE, policy).ok
    _, refused = chain.call(agent, "spend", 1, key=BOB)
    assert not refused.ok and "SECURITY_CHECK" in refused.error  # an unauthorised caller
    assert chain.call(agent, "spend", 60)[1].ok
    assert chain.call(agent, "spend", 40)[1].ok  # 100 in this period: the limit
    assert not chain.call(agent, "spend", 1)[1].ok
    chain.produce(timestamp=chain.ledger.head.timestamp + 3600)  # the next period
    assert chain.call(agent, "spend", 100)[1].ok


def test_a_policy_can_require_a_granted_role_of_the_caller(chain):
    agent = deploy(chain, CHECKED)
    assert role_tx(chain, ALICE, DefineRole("Trader", ())).ok
    assert role_tx(chain, ALICE, SetPolicy(AgentPolicy(agent, (), ("Trader",)))).ok
    assert not chain.call(agent, "spend", 1, key=BOB)[1].ok
    assert role_tx(chain, ALICE, GrantRole("Trader", BOB.address)).ok
    assert chain.call(agent, "spend", 1, key=BOB)[1].ok


def test_a_council_governed_agent_s_policy_is_not_set_by_its_deployer(chain):
    agent = deploy(chain, COUNCIL_AGENT)
    refused = role_tx(chain, ALICE, SetPolicy(AgentPolicy(agent, (ALICE.address,))))
    assert not refused.ok and "only a `policy` proposal" in refused.error


# ---- names for deployed agents (identity.NameAgent) --------------------------------------------


def register_tx(chain: Chain, key, payload):
    return signed_tx(chain, key, payload, TxKind.REGISTER)


def test_a_deployer_names_its_agent_and_the_name_resolves_to_it(chain):
    agent = deploy(chain, CHECKED)
    stranger = register_tx(chain, BOB, NameAgent(agent, "checker.avm"))
    assert not stranger.ok and "only the deployer" in stranger.error
    assert register_tx(chain, ALICE, NameAgent(agent, "checker.avm")).ok
    assert resolve_name(State(chain.ledger), "checker.avm") == agent
    other = deploy(chain, CHECKED)
    taken = register_tx(chain, ALICE, NameAgent(other, "checker.avm"))
    assert not taken.ok and "belongs to" in taken.error
    assert register_tx(chain, ALICE, NameAgent(agent, "checker-two.avm")).ok  # a rename
    assert resolve_name(State(chain.ledger), "checker.avm") is None  # the old name is free
    assert register_tx(chain, ALICE, NameAgent(other, "checker.avm")).ok
    assert register_tx(chain, ALICE, NameAgent(agent, "")).ok  # released
    assert resolve_name(State(chain.ledger), "checker-two.avm") is None


@given(st.binary(min_size=20, max_size=20), st.sampled_from(["", "a.avm", "oracle-1.avm"]))
def test_agent_name_payloads_round_trip(agent, name) -> None:
    payload = NameAgent(agent, name)
    assert RegisterPayload.from_value(decode(encode(payload.to_value()))) == payload
