"""Every gas constant of the ledger's transactions, named, in one place."""

TX_BASE = 21_000
TX_PAYLOAD_BYTE = 16
TOKEN_TRANSFER = 4_000
TOKEN_CREATE = 50_000

# The dev node's defaults; a genesis file may set others.
DEFAULT_GAS_PRICE = 10**9
DEFAULT_BLOCK_GAS_LIMIT = 1_000_000_000
