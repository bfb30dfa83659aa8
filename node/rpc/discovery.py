"""Finding services, as Fetch.ai's Almanac lets agents find each other: registered identities by
role, metadata and name prefix (`aither_findIdentities`), and swarm channels
(`aither_listChannels`), a page at a time.

Each call reads at most SCAN_LIMIT records, so a filter that matches rarely costs a bounded read:
the answer's `next` cursor continues the scan where it stopped (null at the end).
"""

from __future__ import annotations

from core.encoding import decode
from ledger import identity, roles
from ledger.channels.records import CHANNEL, channel_json
from ledger.names import MAX_NAME
from ledger.policy import load_policy
from ledger.state import State
from node.node import Node
from node.rpc import params
from node.rpc.errors import invalid_params
from node.rpc.method_table import MethodTable
from node.rpc.params import Params, arg, max_args
from node.swarm.chain import StateChannels

TABLE = MethodTable()
DEFAULT_PAGE = 20
MAX_PAGE = 100
SCAN_LIMIT = 5_000  # records one call reads, matching or not


def _page(args: Params, index: int, width: int) -> tuple[bytes | None, int]:
    """The cursor (a key of `width` bytes, or null for the start) and the page size."""
    cursor = arg(args, index, "cursor", None)
    after = None if cursor is None else params.data(cursor, "cursor", width)
    if after is not None and len(after) != width:
        raise invalid_params(f"cursor must be {width} bytes (the `next` of the last page)")
    limit = params.quantity(arg(args, index + 1, "limit", DEFAULT_PAGE), "limit")
    if not 1 <= limit <= MAX_PAGE:
        raise invalid_params(f"limit must be 1..{MAX_PAGE}")
    return after, limit


def _criteria(spec: object) -> tuple[str | None, dict[str, str], str]:
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise invalid_params("the filter is an object: {role?, metadata?, namePrefix?}")
    unknown = set(spec) - {"role", "metadata", "namePrefix"}
    if unknown:
        fields = ", ".join(sorted(unknown))
        raise invalid_params(f"unknown filter fields {fields} (role, metadata, namePrefix)")
    role = spec.get("role")
    if role is not None and not (isinstance(role, str) and identity.ROLE_PATTERN.match(role)):
        raise invalid_params("role must be a role name (a letter, then letters, digits, _ or -)")
    metadata = spec.get("metadata") or {}
    if not isinstance(metadata, dict) or len(metadata) > identity.MAX_METADATA:
        raise invalid_params(f"metadata is an object of at most {identity.MAX_METADATA} entries")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise invalid_params("metadata keys and values are strings")
    prefix = spec.get("namePrefix") or ""
    if not isinstance(prefix, str) or len(prefix) > MAX_NAME:
        raise invalid_params(f"namePrefix is a string of at most {MAX_NAME} characters")
    return role, metadata, prefix


@TABLE.method("aither_findIdentities")
def find_identities(node: Node, args: Params) -> dict[str, object]:
    """`[filter?, cursor?, limit?]`: registered identities (agents' and people's) that hold
    `role`, carry every `metadata` key with its value, and whose name starts with
    `namePrefix`; `{identities, next}` in address order, `next` continuing the scan."""
    max_args(args, 3)
    role, metadata, prefix = _criteria(arg(args, 0, "filter", None))
    after, limit = _page(args, 1, 20)
    scanned = node.ledger.state_page(identity.IDENTITY, after, SCAN_LIMIT)
    found: list[dict[str, object]] = []
    last = None
    for address, raw in scanned:
        last = address
        record = identity.Identity.from_value(address, decode(raw))
        held = dict(record.metadata)
        if (
            (role is None or role in record.roles)
            and all(held.get(k) == v for k, v in metadata.items())
            and record.name.startswith(prefix)
        ):
            found.append(record.to_json())
            if len(found) == limit:
                break
    more = last is not None and (len(found) == limit or len(scanned) == SCAN_LIMIT)
    return {"identities": found, "next": "0x" + last.hex() if more and last else None}


@TABLE.method("aither_listChannels")
def list_channels(node: Node, args: Params) -> dict[str, object]:
    """`[cursor?, limit?]`: swarm channels with their members and epochs, in channel-id order;
    `{channels, next}`."""
    max_args(args, 2)
    after, limit = _page(args, 0, 32)
    page = node.ledger.state_page(CHANNEL, after, limit)
    chain = StateChannels(node.chain_id, node.ledger.get_state)
    channels = [channel_json(chain, channel_id) for channel_id, _ in page]
    more = len(page) == limit
    return {"channels": channels, "next": "0x" + page[-1][0].hex() if more else None}


@TABLE.method("aither_getRole")
def get_role(node: Node, args: Params) -> dict[str, object] | None:
    """`[role]`: its admin and the actions it permits (null: not defined). The council's roles
    are held by its members (aither_getCouncil)."""
    max_args(args, 1)
    name = arg(args, 0, "role")
    if not (isinstance(name, str) and identity.ROLE_PATTERN.match(name)):
        raise invalid_params("role must be a role name (a letter, then letters, digits, _ or -)")
    record = roles.load_role(State(node.ledger), name)
    return None if record is None else record.to_json()


@TABLE.method("aither_getRoles")
def get_roles(node: Node, args: Params) -> list[dict[str, object]]:
    """`[address]`: the roles granted to an account or agent, with the height of each grant."""
    max_args(args, 1)
    holder = params.address(arg(args, 0, "address"))
    granted = node.ledger.state_page(roles.GRANT + holder, None, MAX_PAGE)
    return [{"role": name.decode(), "grantedAt": decode(raw)} for name, raw in granted]


@TABLE.method("aither_getPolicy")
def get_policy(node: Node, args: Params) -> dict[str, object] | None:
    """`[agent]`: the SECURITY_CHECK policy its deployer set (null: none, everything passes)."""
    max_args(args, 1)
    agent = params.address(arg(args, 0, "agent"))
    found = load_policy(State(node.ledger), agent)
    return None if found is None else found.to_json()
