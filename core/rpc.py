"""The JSON-RPC contract the node serves and its clients read: where it listens by default, its
error codes, and the admin token's file name."""

from __future__ import annotations

DEFAULT_RPC_PORT = 8545
DEFAULT_RPC = f"http://127.0.0.1:{DEFAULT_RPC_PORT}"

# JSON-RPC 2.0's own codes, then the node's (as geth and anvil use the -32000 range).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
NOT_FOUND = -32001
TX_REJECTED = -32003
LIMIT_EXCEEDED = -32005
STATE_UNAVAILABLE = -32000  # state at a block this node does not keep (geth: missing trie node)
EXECUTION_REVERTED = 3  # eth_call/eth_estimateGas of a call that traps (geth's code for a revert)
UNAUTHORIZED = -32010  # an admin method called without the node's admin token

# The admin token (for swarm_* methods) is written to this file in the node's data directory.
ADMIN_TOKEN_FILE = "admin-token"
DEV_DATA_DIR = ".aither/dev"  # a dev node's data directory unless it is given another
