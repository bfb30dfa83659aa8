"""Why a governance action is refused: one exception class per reason, all GovernanceError.

Raised by the state transition (ledger/governance/transition.py) before it changes anything; the
transaction's receipt carries the message.
"""

from __future__ import annotations

from core.errors import AitherError


class GovernanceError(AitherError):
    """A governance action refused with a reason; nothing was changed."""


class UnknownProposal(GovernanceError):
    """No proposal has this id."""


class UnknownAgent(GovernanceError):
    """The target address holds no agent."""


class UnknownRegion(GovernanceError):
    """The agent's code has no region of that name."""


class RegionPolicyError(GovernanceError):
    """The region's policy does not let governance rewrite it."""


class LockedRegion(RegionPolicyError):
    """A `locked` region: nobody may rewrite it, not even the council."""


class NotCouncilRegion(RegionPolicyError):
    """A `self` region: the agent rewrites it itself, the council does not."""


class BadIR(GovernanceError):
    """IR text (or tests) that does not assemble, or patched code that is not valid.

    `line` and `col` locate the error in the submitted text when known.
    """

    def __init__(self, message: str, line: int | None = None, col: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


class DepositTooSmall(GovernanceError):
    """The deposit is below `min_deposit`."""


class InsufficientFunds(GovernanceError):
    """The proposer's balance does not cover the deposit."""


class FieldTooLarge(GovernanceError):
    """A text field (rationale, explanation, IR, tests) is over its size bound."""


class NotAMember(GovernanceError):
    """The voter is not in the council that the proposal's tally counts."""


class VotingClosed(GovernanceError):
    """The proposal is not in its voting period (not started, or over)."""


class NotCancellable(GovernanceError):
    """Only the proposer may cancel, and only before voting ends."""


class InvalidSpec(GovernanceError):
    """A proposal whose content cannot apply (bad parameters, bad council change, no snapshot)."""


class NotRegistered(InvalidSpec):
    """A council member without a registered identity (ledger/identity.py): only registered
    identities sit on the council."""


class TooManyProposals(GovernanceError):
    """The number of open proposals is at `max_active_proposals`."""
