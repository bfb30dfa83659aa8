"""The ledger's error hierarchy. Each carries a message a person can act on."""


class AitherError(Exception):
    """Base of every error the project raises on purpose."""


class DecodeError(AitherError):
    """Bytes that are not the canonical encoding of the expected schema."""


class InvalidTransaction(AitherError):
    """A transaction that can never be included: bad signature, wrong chain, bad payload."""


class TransactionRejected(AitherError):
    """A well-formed transaction refused now: nonce too low, funds too short, pool full."""


class ExecutionFailed(AitherError):
    """A transaction that was included but whose effects were rolled back (fee still paid)."""


class InvalidBlock(AitherError):
    """A block that does not follow from its parent."""
