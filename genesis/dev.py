"""The dev chain: accounts and validator derived from a published seed, as anvil does.

These keys are public. Anyone can spend what they hold on any chain that funds them.
"""

from __future__ import annotations

from core.amounts import UNIT
from core.crypto import SigningKey, hash32
from ledger.genesis import Allocation, Genesis, GenesisIdentity, Validator
from ledger.governance.council import CouncilMember
from ledger.governance.params import GovernanceParams, Role

DEV_SEED = "aither dev seed: these keys are public, never send them real value"
DEV_CHAIN_ID = 7331
DEV_BALANCE = 10_000 * UNIT
DEV_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so every dev chain has one genesis


def dev_key(index: int) -> SigningKey:
    """Dev account `index` (0-based): blake2b-256(seed || "account" || index)."""
    return SigningKey(hash32(DEV_SEED.encode() + b"account" + index.to_bytes(4, "big")))


def dev_validator_key() -> SigningKey:
    return SigningKey(hash32(DEV_SEED.encode() + b"validator"))


# The dev council: dev accounts 5..9, one per role, in this order.
DEV_COUNCIL_ROLES: tuple[tuple[int, Role], ...] = (
    (5, Role.SECURITY_AUDITOR),
    (6, Role.LATENCY_PROFILER),
    (7, Role.MEMORY_OPTIMIZER),
    (8, Role.REGRESSION_HUNTER),
    (9, Role.STANDARDS_ENFORCER),
)
# Council members are registered identities: genesis registers the dev council's by these names.
DEV_COUNCIL_NAMES: tuple[tuple[int, str], ...] = (
    (5, "security-auditor.avm"),
    (6, "latency-profiler.avm"),
    (7, "memory-optimizer.avm"),
    (8, "regression-hunter.avm"),
    (9, "standards-enforcer.avm"),
)
# Short periods, in blocks. The dev node makes a block whenever transactions wait, so each of
# the five members' votes may take a block of its own: the periods leave room for all of them.
DEV_GOVERNANCE = GovernanceParams(voting_period=10, emergency_voting_period=6, enactment_delay=2)


def dev_council(params: GovernanceParams = DEV_GOVERNANCE) -> tuple[CouncilMember, ...]:
    return tuple(
        CouncilMember(dev_key(index).address, role, params.initial_accuracy_ppm)
        for index, role in DEV_COUNCIL_ROLES
    )


def dev_council_identities() -> tuple[GenesisIdentity, ...]:
    """The dev council's identities: its name, and its council role as the identity's role."""
    names = dict(DEV_COUNCIL_NAMES)
    return tuple(
        GenesisIdentity(dev_key(index).pubkey, names[index], (role.value,))
        for index, role in DEV_COUNCIL_ROLES
    )


def dev_genesis(accounts: int = 10) -> Genesis:
    return Genesis(
        name="aither-dev",
        chain_id=DEV_CHAIN_ID,
        timestamp=DEV_TIMESTAMP,
        validators=(Validator(dev_validator_key().pubkey, 1),),
        allocations=tuple(Allocation(dev_key(i).address, DEV_BALANCE) for i in range(accounts)),
        governance=DEV_GOVERNANCE,
        identities=dev_council_identities(),
        council=dev_council(),
    )
