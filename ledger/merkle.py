"""The state root: a radix-16 Merkle tree with path compression, in the style of Diem/Aptos's
Jellyfish Merkle Tree, with proofs of inclusion and of non-inclusion.

The tree commits to values; the ledger keeps the values themselves elsewhere. A key's path is the
64 nibbles of `hash32(key)`, high nibble of each byte first. There are two kinds of node:

- a leaf commits to one entry: `hash32(0x00 || key_hash || value_hash)`, stored as
  `encode([0, key_hash, value_hash])`;
- an internal node has 1 to 16 children, one per nibble: `hash32(0x01 || bitmap || hashes)`, with
  bit `n` of the 2-byte big-endian bitmap set when child `n` exists and `hashes` the children's
  hashes in nibble order; stored as `encode([1, bitmap, hashes])` (hashes concatenated).

The shape is a function of the set of keys alone, so the root does not depend on the order of
insertions and deletions: an empty subtree is absent, a subtree holding exactly one entry is that
entry's leaf (placed as high as it is alone, however deep its key's path goes), and a subtree
holding two or more entries is an internal node. A leaf's hash does not include its depth, so
lifting a leaf after a deletion does not rewrite it.

Nodes are content-addressed and never overwritten: `StateTree.update` only returns new nodes, and
every older root stays readable for as long as its nodes are kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeGuard

import msgpack

from core.crypto import HASH_SIZE, hash32
from core.encoding import Value, encode
from core.errors import AitherError, DecodeError

EMPTY_ROOT = bytes(HASH_SIZE)
RADIX = 16
PATH_NIBBLES = 2 * HASH_SIZE
LEAF_TAG = 0
INTERNAL_TAG = 1
_LEAF_PREFIX = bytes([LEAF_TAG])
_INTERNAL_PREFIX = bytes([INTERNAL_TAG])
_FULL_BITMAP = (1 << RADIX) - 1
# Each msgpack item has one shortest form, which `encode` always picks, and any other form is
# longer: so the bytes of a well-shaped node are canonical exactly when they have the size below.
_LEAF_SIZE = 2 + 2 * (2 + HASH_SIZE)  # list and tag, then two 32-byte strings with headers
MAX_NODE_SIZE = 8 + RADIX * HASH_SIZE  # list, tag, a 3-byte bitmap, a 3-byte header, 16 hashes
# The top four levels (at most 4,369 internal nodes per root) lie on the paths of nearly every
# block's changes, so they are cached; deeper nodes are reached at random and would only churn
# the cache. The default size holds the top levels of a few recent roots.
CACHED_LEVELS = 4
DEFAULT_CACHE_SIZE = 16_384


class MissingNode(AitherError):
    """A node that a root refers to is not in the store (pruned, or never written)."""


class NodeStore(Protocol):
    def get_node(self, node_hash: bytes) -> bytes | None:
        """The encoded node with this hash, or None if the store does not hold it."""
        ...


class MemoryNodeStore:
    """A NodeStore in a dict, for tests and replay."""

    __slots__ = ("_nodes",)

    def __init__(self, nodes: Mapping[bytes, bytes] | None = None) -> None:
        self._nodes: dict[bytes, bytes] = dict(nodes or {})

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self._nodes.get(node_hash)

    def put_nodes(self, nodes: Mapping[bytes, bytes]) -> None:
        self._nodes.update(nodes)

    def __len__(self) -> int:
        return len(self._nodes)


@dataclass(frozen=True, slots=True)
class Leaf:
    key_hash: bytes
    value_hash: bytes


@dataclass(frozen=True, slots=True)
class Internal:
    """Children by nibble: 16 slots, None where the subtree is empty; bit n of `bitmap` is set
    iff child n exists (kept beside the slots so updates need not recount them)."""

    bitmap: int
    children: tuple[bytes | None, ...]

    @property
    def joined_children(self) -> bytes:
        return _join_present(self.children)


Node = Leaf | Internal


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    return hash32(_LEAF_PREFIX + key_hash + value_hash)


def internal_hash(bitmap: int, joined_children: bytes) -> bytes:
    """Hash of an internal node from its bitmap and its children's hashes joined in nibble order."""
    return hash32(_INTERNAL_PREFIX + bitmap.to_bytes(2, "big") + joined_children)


def _nibble(key_hash: bytes, depth: int) -> int:
    byte = key_hash[depth >> 1]
    return byte & 0x0F if depth & 1 else byte >> 4


def _join_present(children: Sequence[bytes | None]) -> bytes:
    return b"".join(filter(None, children))


def encode_node(node: Node) -> bytes:
    if isinstance(node, Leaf):
        return encode([LEAF_TAG, node.key_hash, node.value_hash])
    return encode([INTERNAL_TAG, node.bitmap, node.joined_children])


def node_hash(node: Node) -> bytes:
    if isinstance(node, Leaf):
        return leaf_hash(node.key_hash, node.value_hash)
    return internal_hash(node.bitmap, node.joined_children)


def decode_node(data: bytes) -> Node:
    """Decode a stored node. Raises DecodeError unless it is exactly what `encode_node` makes."""
    # Not core.encoding.decode: that one walks values of any shape and re-encodes them, and this
    # runs for every node an update reads. The shape here is fixed, so it is checked directly.
    if type(data) is not bytes or len(data) > MAX_NODE_SIZE:
        raise DecodeError(f"a tree node is at most {MAX_NODE_SIZE} bytes")
    try:
        value = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"malformed tree node: {exc}") from exc
    if type(value) is not list or len(value) != 3:
        raise DecodeError("a tree node is [0, key_hash, value_hash] or [1, bitmap, hashes]")
    tag, first, second = value
    if type(tag) is not int or tag not in (LEAF_TAG, INTERNAL_TAG):
        raise DecodeError(f"unknown tree node tag {tag!r}")
    if tag == LEAF_TAG and not (_is_hash(first) and _is_hash(second)):
        raise DecodeError("a leaf holds two 32-byte hashes")
    if tag == INTERNAL_TAG:
        if type(first) is not int or not 0 < first <= _FULL_BITMAP:
            raise DecodeError("an internal node's bitmap is a non-zero 16-bit integer")
        if type(second) is not bytes or len(second) != HASH_SIZE * first.bit_count():
            raise DecodeError("an internal node holds one 32-byte hash per bit of its bitmap")
    if len(data) != (_LEAF_SIZE if tag == LEAF_TAG else _internal_size(first, len(second))):
        raise DecodeError("non-canonical tree node encoding")
    if tag == LEAF_TAG:
        return Leaf(first, second)
    children: list[bytes | None] = [None] * RADIX
    offset = 0
    rest = first
    while rest:  # one step per child, lowest nibble first
        lowest = rest & -rest
        children[lowest.bit_length() - 1] = second[offset : offset + HASH_SIZE]
        offset += HASH_SIZE
        rest ^= lowest
    return Internal(first, tuple(children))


def _internal_size(bitmap: int, joined_size: int) -> int:
    """The size of an internal node's canonical encoding (see _LEAF_SIZE)."""
    bitmap_size = 1 if bitmap < 0x80 else 2 if bitmap < 0x100 else 3
    joined_header = 2 if joined_size < 0x100 else 3
    return 2 + bitmap_size + joined_header + joined_size


def _is_hash(value: object) -> TypeGuard[bytes]:
    return type(value) is bytes and len(value) == HASH_SIZE


class StateTree:
    """Reads, updates and proves over tree nodes in a NodeStore. Never writes to the store.

    Internal nodes of the top CACHED_LEVELS levels, read or made, are kept decoded in a bounded
    LRU cache: that is safe whatever becomes of a block, because a node's hash fixes its content.
    """

    def __init__(self, store: NodeStore, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self._store = store
        self._cache: OrderedDict[bytes, Internal] = OrderedDict()
        self._cache_size = cache_size

    def get_value_hash(self, root: bytes, key: bytes) -> bytes | None:
        """The hash of `key`'s value under `root`, or None if the key is absent.

        Raises MissingNode or DecodeError if the store lacks or holds a bad node of that root.
        """
        key_hash = hash32(key)
        leaf = self._find(root, key_hash, None)
        if leaf is None or leaf.key_hash != key_hash:
            return None
        return leaf.value_hash

    def prove(self, root: bytes, key: bytes) -> Proof:
        """A proof of `key`'s value under `root`, or of its absence. Raises as `get_value_hash`."""
        levels: list[ProofLevel] = []
        leaf = self._find(root, hash32(key), levels)
        return Proof(tuple(levels), leaf)

    def update(
        self, root: bytes, changes: Mapping[bytes, bytes | None]
    ) -> tuple[bytes, dict[bytes, bytes]]:
        """Apply all changes of one block at once (value None deletes the key).

        Returns the new root and the new nodes (node hash -> encoded node) for the caller to store.
        Nothing is mutated. Raises MissingNode or DecodeError if a node of `root` is lacking or bad.
        """
        if not changes:
            return root, {}
        # Changed entries sorted by path, as parallel lists, so each subtree is one index range.
        entries = sorted(
            (hash32(key), None if value is None else hash32(value))
            for key, value in changes.items()
        )
        key_hashes = [k for k, _ in entries]
        value_hashes = [v for _, v in entries]
        new_nodes: dict[bytes, bytes] = {}
        start = None if root == EMPTY_ROOT else root
        new_root, _ = self._update(start, 0, key_hashes, value_hashes, 0, len(entries), new_nodes)
        return (EMPTY_ROOT if new_root is None else new_root), new_nodes

    def _find(self, root: bytes, key_hash: bytes, levels: list[ProofLevel] | None) -> Leaf | None:
        """The leaf on `key_hash`'s path (maybe another key's), recording the levels passed."""
        if root == EMPTY_ROOT:
            return None
        current = root
        depth = 0
        while True:
            node = self._load(current, depth)
            if isinstance(node, Leaf):
                return node
            n = _nibble(key_hash, depth)
            if levels is not None:
                siblings = tuple(h for i, h in enumerate(node.children) if h is not None and i != n)
                levels.append(ProofLevel(node.bitmap, siblings))
            child = node.children[n]
            if child is None:
                return None
            current = child
            depth += 1

    def _update(
        self,
        current: bytes | None,
        depth: int,
        key_hashes: list[bytes],
        value_hashes: list[bytes | None],
        lo: int,
        hi: int,
        new_nodes: dict[bytes, bytes],
    ) -> tuple[bytes | None, bool]:
        """Apply changes [lo, hi) to the subtree `current` at `depth`.

        Returns the new subtree's hash (None if empty) and whether it is a single leaf.
        """
        if current is None:
            keys, values = _merge_leaf(None, key_hashes, value_hashes, lo, hi)
            return self._build(keys, values, 0, len(keys), depth, new_nodes, None)

        node = self._load(current, depth)
        if isinstance(node, Leaf):
            keys, values = _merge_leaf(node, key_hashes, value_hashes, lo, hi)
            return self._build(keys, values, 0, len(keys), depth, new_nodes, current)

        children = list(node.children)
        bitmap = node.bitmap
        changed = False
        is_leaf: dict[int, bool] = {}
        for n, start, end in _groups(key_hashes, depth, lo, hi):
            child, is_leaf[n] = self._update(
                children[n], depth + 1, key_hashes, value_hashes, start, end, new_nodes
            )
            if child != children[n]:
                changed = True
                children[n] = child
                bitmap = bitmap | 1 << n if child is not None else bitmap & ~(1 << n)
        if not changed:
            return current, False
        if bitmap == 0:
            return None, False
        if bitmap & (bitmap - 1) == 0:
            # A lone leaf moves up to where it is alone; its hash does not depend on depth.
            n = bitmap.bit_length() - 1
            lone = children[n]
            assert lone is not None
            if is_leaf[n] if n in is_leaf else isinstance(self._load(lone, depth + 1), Leaf):
                return lone, True
        return self._emit_internal(bitmap, children, depth, new_nodes), False

    def _build(
        self,
        keys: list[bytes],
        values: list[bytes],
        lo: int,
        hi: int,
        depth: int,
        new_nodes: dict[bytes, bytes],
        existing: bytes | None,
    ) -> tuple[bytes | None, bool]:
        """Build the subtree of the sorted entries [lo, hi) at `depth`, from nothing.

        Returns its hash (None if empty) and whether it is a single leaf. `existing` is a leaf
        already in the store, which is not emitted again.
        """
        if lo == hi:
            return None, False
        if hi - lo == 1:
            key_hash, value_hash = keys[lo], values[lo]
            hash_ = leaf_hash(key_hash, value_hash)
            if hash_ != existing:
                new_nodes[hash_] = encode([LEAF_TAG, key_hash, value_hash])
            return hash_, True
        children: list[bytes | None] = [None] * RADIX
        bitmap = 0
        for n, start, end in _groups(keys, depth, lo, hi):
            children[n], _ = self._build(keys, values, start, end, depth + 1, new_nodes, existing)
            bitmap |= 1 << n
        return self._emit_internal(bitmap, children, depth, new_nodes), False

    def _emit_internal(
        self, bitmap: int, children: list[bytes | None], depth: int, new_nodes: dict[bytes, bytes]
    ) -> bytes:
        joined = _join_present(children)
        hash_ = internal_hash(bitmap, joined)
        new_nodes[hash_] = encode([INTERNAL_TAG, bitmap, joined])
        if depth < CACHED_LEVELS:
            # The next block starts from these nodes: keeping them spares decoding them again.
            self._remember(hash_, Internal(bitmap, tuple(children)))
        return hash_

    def _load(self, hash_: bytes, depth: int) -> Node:
        """The node with this hash, found at `depth`. Raises MissingNode or DecodeError."""
        node = self._cache.get(hash_)
        if node is not None:
            self._cache.move_to_end(hash_)
            return node
        data = self._store.get_node(hash_)
        if data is None:
            raise MissingNode(f"tree node {hash_.hex()} is not in the store")
        loaded = decode_node(data)
        if node_hash(loaded) != hash_:
            raise DecodeError(f"stored tree node {hash_.hex()} does not match its hash")
        if depth >= PATH_NIBBLES and isinstance(loaded, Internal):
            # Hash-checked nodes can still chain deeper than any path, if the store was fed them.
            raise DecodeError(f"tree node {hash_.hex()} lies deeper than {PATH_NIBBLES} levels")
        if depth < CACHED_LEVELS and isinstance(loaded, Internal):
            self._remember(hash_, loaded)
        return loaded

    def _remember(self, hash_: bytes, node: Internal) -> None:
        self._cache[hash_] = node
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _groups(
    key_hashes: list[bytes], depth: int, lo: int, hi: int
) -> Iterator[tuple[int, int, int]]:
    """Split sorted [lo, hi) into runs sharing the nibble at `depth`, as (nibble, start, end)."""
    index = depth >> 1
    shift = 0 if depth & 1 else 4
    start = lo
    nibble = key_hashes[lo][index] >> shift & 0x0F
    for i in range(lo + 1, hi):
        n = key_hashes[i][index] >> shift & 0x0F
        if n != nibble:
            yield nibble, start, i
            start, nibble = i, n
    yield nibble, start, hi


def _merge_leaf(
    leaf: Leaf | None,
    key_hashes: list[bytes],
    value_hashes: list[bytes | None],
    lo: int,
    hi: int,
) -> tuple[list[bytes], list[bytes]]:
    """The entries of a subtree holding `leaf` (or nothing) after changes [lo, hi), by path."""
    keys: list[bytes] = []
    values: list[bytes] = []
    pending = leaf  # still to be placed, unless a change to its own key replaces it
    for i in range(lo, hi):
        key_hash = key_hashes[i]
        if pending is not None and key_hash >= pending.key_hash:
            if key_hash > pending.key_hash:
                keys.append(pending.key_hash)
                values.append(pending.value_hash)
            pending = None
        value_hash = value_hashes[i]
        if value_hash is not None:
            keys.append(key_hash)
            values.append(value_hash)
    if pending is not None:
        keys.append(pending.key_hash)
        values.append(pending.value_hash)
    return keys, values


@dataclass(frozen=True, slots=True)
class ProofLevel:
    """One internal node on the path: its bitmap and its children's hashes except the path's own."""

    bitmap: int
    siblings: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Proof:
    """The internal nodes from the root down the key's path, and the leaf found at its end.

    `leaf` is the key's own leaf (inclusion), another key's leaf sitting where the key's would be
    (non-inclusion), or None when the path ends in an empty slot or the tree is empty.
    """

    levels: tuple[ProofLevel, ...]
    leaf: Leaf | None

    def to_value(self) -> list[Value]:
        levels: list[Value] = [[lv.bitmap, list(lv.siblings)] for lv in self.levels]
        leaf: Value = None if self.leaf is None else [self.leaf.key_hash, self.leaf.value_hash]
        return [levels, leaf]

    @classmethod
    def from_value(cls, value: Value) -> Proof:
        """Rebuild a proof from `to_value`'s form. Raises DecodeError on any other shape."""
        if not isinstance(value, list) or len(value) != 2:
            raise DecodeError("a proof is [levels, leaf]")
        raw_levels, raw_leaf = value
        if not isinstance(raw_levels, list) or len(raw_levels) > PATH_NIBBLES:
            raise DecodeError(f"a proof has a list of at most {PATH_NIBBLES} levels")
        levels = []
        for item in raw_levels:
            if not isinstance(item, list) or len(item) != 2:
                raise DecodeError("a proof level is [bitmap, siblings]")
            bitmap, siblings = item
            if type(bitmap) is not int or not 0 < bitmap <= _FULL_BITMAP:
                raise DecodeError("a proof level's bitmap is a non-zero 16-bit integer")
            if not isinstance(siblings, list) or len(siblings) >= RADIX:
                raise DecodeError("a proof level has a list of at most 15 siblings")
            hashes = [h for h in siblings if _is_hash(h)]
            if len(hashes) != len(siblings):
                raise DecodeError("a proof level's siblings are 32-byte hashes")
            levels.append(ProofLevel(bitmap, tuple(hashes)))
        match raw_leaf:
            case None:
                leaf = None
            case [bytes() as key_hash, bytes() as value_hash] if _is_hash(key_hash) and _is_hash(
                value_hash
            ):
                leaf = Leaf(key_hash, value_hash)
            case _:
                raise DecodeError("a proof's leaf is None or [key_hash, value_hash]")
        return cls(tuple(levels), leaf)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready form: hashes as 0x-hex strings."""
        return {
            "levels": [
                {"bitmap": lv.bitmap, "siblings": ["0x" + h.hex() for h in lv.siblings]}
                for lv in self.levels
            ],
            "leaf": None
            if self.leaf is None
            else {
                "key_hash": "0x" + self.leaf.key_hash.hex(),
                "value_hash": "0x" + self.leaf.value_hash.hex(),
            },
        }

    @classmethod
    def from_json(cls, data: object) -> Proof:
        """Parse `to_json`'s form. Raises DecodeError on anything else."""
        if not isinstance(data, dict) or set(data) != {"levels", "leaf"}:
            raise DecodeError("a JSON proof is an object with 'levels' and 'leaf'")
        levels, leaf = data["levels"], data["leaf"]
        if not isinstance(levels, list):
            raise DecodeError("a JSON proof's levels are a list")
        raw_levels: list[Value] = []
        for item in levels:
            if not isinstance(item, dict) or set(item) != {"bitmap", "siblings"}:
                raise DecodeError("a JSON proof level is an object with 'bitmap' and 'siblings'")
            siblings = item["siblings"]
            if not isinstance(siblings, list):
                raise DecodeError("a JSON proof level's siblings are a list")
            raw_levels.append([item["bitmap"], [_from_hex(h) for h in siblings]])
        raw_leaf: Value = None
        if leaf is not None:
            if not isinstance(leaf, dict) or set(leaf) != {"key_hash", "value_hash"}:
                raise DecodeError("a JSON proof leaf is an object with 'key_hash' and 'value_hash'")
            raw_leaf = [_from_hex(leaf["key_hash"]), _from_hex(leaf["value_hash"])]
        return cls.from_value([raw_levels, raw_leaf])


def _from_hex(text: object) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise DecodeError(f"expected a 0x-hex string, got {text!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise DecodeError(f"{text!r} is not hex") from None


def verify_proof(root: bytes, key: bytes, value: bytes | None, proof: Proof) -> bool:
    """True iff `proof` shows that `key` maps to `value` under `root` (value None: key absent).

    Never raises on a malformed proof: anything that does not check out is False.
    """
    if not _well_formed(proof) or not _is_hash(root):
        return False
    key_hash = hash32(key)
    leaf = proof.leaf
    depth = len(proof.levels)
    if value is not None:
        if leaf is None or leaf.key_hash != key_hash or leaf.value_hash != hash32(value):
            return False
    elif leaf is not None and (
        leaf.key_hash == key_hash or not _same_prefix(leaf.key_hash, key_hash, depth)
    ):
        return False

    current = None if leaf is None else leaf_hash(leaf.key_hash, leaf.value_hash)
    if not proof.levels:
        return root == (EMPTY_ROOT if current is None else current)
    # From the bottom up: the path's child is the leaf, or nothing (an empty slot), or the node
    # just rebuilt from the level below.
    for level_depth in reversed(range(depth)):
        level = proof.levels[level_depth]
        n = _nibble(key_hash, level_depth)
        has_path_child = bool(level.bitmap >> n & 1)
        if has_path_child != (current is not None):
            return False
        if len(level.siblings) != level.bitmap.bit_count() - has_path_child:
            return False
        children = list(level.siblings)
        if current is not None:
            children.insert((level.bitmap & ((1 << n) - 1)).bit_count(), current)
        current = internal_hash(level.bitmap, b"".join(children))
    return current == root


def _same_prefix(a: bytes, b: bytes, nibbles: int) -> bool:
    whole = nibbles >> 1
    if a[:whole] != b[:whole]:
        return False
    return not nibbles & 1 or a[whole] >> 4 == b[whole] >> 4


def _well_formed(proof: object) -> bool:
    """Shape checks, so that a hand-built or mutated Proof is rejected rather than raising."""
    if not isinstance(proof, Proof) or not isinstance(proof.levels, tuple):
        return False
    if len(proof.levels) > PATH_NIBBLES:
        return False
    for level in proof.levels:
        if not isinstance(level, ProofLevel) or not isinstance(level.siblings, tuple):
            return False
        if type(level.bitmap) is not int or not 0 < level.bitmap <= _FULL_BITMAP:
            return False
        if not all(_is_hash(h) for h in level.siblings):
            return False
    leaf = proof.leaf
    return leaf is None or (
        isinstance(leaf, Leaf) and _is_hash(leaf.key_hash) and _is_hash(leaf.value_hash)
    )
