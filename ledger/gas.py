"""Every gas constant of the ledger's transactions, named, in one place.

One ledger gas is one AVM milligas (avm/gas.py), so an agent call's gas used is its intrinsic gas
plus exactly what the AVM charged, and TX_BASE (21,000) is 21 gas in the white paper's units.
"""

TX_BASE = 21_000
TX_PAYLOAD_BYTE = 16


def intrinsic(size: int) -> int:
    """The gas every transaction pays before its effect: TX_BASE plus TX_PAYLOAD_BYTE for each
    of the `size` bytes of its signed wire form."""
    return TX_BASE + TX_PAYLOAD_BYTE * size


TOKEN_TRANSFER = 4_000
TOKEN_CREATE = 50_000

# A deploy is priced like the AVM's FORK_AGENT (50 + 0.01 gas per byte of code), plus a KV_STORE
# (0.1 + 0.01 gas per byte of value) for each initial storage entry.
DEPLOY_BASE = 50_000
DEPLOY_CODE_BYTE = 10
DEPLOY_STORAGE_ENTRY = 100
DEPLOY_STORAGE_BYTE = 10

# The dev node's defaults; a genesis file may set others.
DEFAULT_GAS_PRICE = 10**9
DEFAULT_BLOCK_GAS_LIMIT = 1_000_000_000

# Governance (ledger/governance/). A proposal is checked (its IR assembled, the patched code
# built) when it is filed; its sandbox run at the block's end is paid for by its deposit. A vote
# must stay within the reviewer service's allowance (council/service.py: 50,000).
GOV_PROPOSE = 200_000
GOV_VOTE = 20_000
GOV_CANCEL = 20_000

# Swarm channels (ledger/channels/execution.py): an operation, each sealed copy of a rotation
# (one identity read), and the signature check of an accepted answer.
CHANNEL_OP = 20_000
CHANNEL_ROTATION_MEMBER = 1_000
CHANNEL_ACCEPT = 40_000

# Identities (ledger/identity.py): a registration, and the check of a new X25519 certificate.
REGISTER = 20_000
REGISTER_CERT = 30_000

# Roles (ledger/roles.py): a definition, a grant or a revocation.
ROLE_OP = 20_000

# Evidence (ledger/evidence.py): two signature checks, as an accepted channel answer's one and
# more. Charged but not paid for: an EVIDENCE transaction may carry a gas price of 0.
EVIDENCE = 60_000
