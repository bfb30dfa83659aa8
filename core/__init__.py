"""Primitives every layer shares, with no I/O: the canonical encoding, hashing, ed25519 and
X25519 through PyNaCl, addresses, amounts, the error hierarchy, payload schemas, and the swarm's
key and envelope formats (the chain checks them, so they live below the ledger)."""
