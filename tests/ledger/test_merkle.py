from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.crypto import hash32
from core.encoding import decode, encode
from core.errors import DecodeError
from ledger.merkle import (
    EMPTY_ROOT,
    Internal,
    Leaf,
    MemoryNodeStore,
    MissingNode,
    Proof,
    ProofLevel,
    StateTree,
    decode_node,
    encode_node,
    node_hash,
    verify_proof,
)


def _nibbles(data: bytes) -> list[int]:
    return [n for byte in data for n in (byte >> 4, byte & 0x0F)]


def reference_root(state: dict[bytes, bytes]) -> bytes:
    """The root written straight from the spec, independently of StateTree's update code."""

    def subtree(entries: list[tuple[list[int], bytes, bytes]], depth: int) -> bytes:
        if len(entries) == 1:
            _, key_hash, value_hash = entries[0]
            return hash32(b"\x00" + key_hash + value_hash)
        groups: dict[int, list[tuple[list[int], bytes, bytes]]] = defaultdict(list)
        for entry in entries:
            groups[entry[0][depth]].append(entry)
        bitmap = sum(1 << n for n in groups)
        children = b"".join(subtree(groups[n], depth + 1) for n in sorted(groups))
        return hash32(b"\x01" + bitmap.to_bytes(2, "big") + children)

    if not state:
        return EMPTY_ROOT
    entries = [(_nibbles(hash32(k)), hash32(k), hash32(v)) for k, v in state.items()]
    return subtree(entries, 0)


def _keys_sharing_prefix(prefix_bytes: int, count: int) -> list[bytes]:
    """Keys whose hashes share their first `prefix_bytes` bytes with another key's, found by
    search, so that the tests reach deep paths and chains of one-child internal nodes."""
    by_prefix: dict[bytes, list[bytes]] = defaultdict(list)
    found: list[bytes] = []
    i = 0
    while len(found) < count:
        key = b"deep-%d" % i
        group = by_prefix[hash32(key)[:prefix_bytes]]
        group.append(key)
        if len(group) == 2:
            found.extend(group)
        elif len(group) > 2:
            found.append(key)
        i += 1
    return found[:count]


DEEP_KEYS = _keys_sharing_prefix(2, 8)
KEY_POOL = [b"k%d" % i for i in range(40)] + DEEP_KEYS

keys_st = st.one_of(st.sampled_from(KEY_POOL), st.binary(max_size=8))
values_st = st.binary(max_size=6)
states_st = st.dictionaries(keys_st, values_st, max_size=40)


class Chain:
    """A tree and its store, applying updates the way a block would."""

    def __init__(self) -> None:
        self.store = MemoryNodeStore()
        self.tree = StateTree(self.store)

    def apply(self, root: bytes, changes: dict[bytes, bytes | None]) -> bytes:
        new_root, nodes = self.tree.update(root, changes)
        self.store.put_nodes(nodes)
        return new_root

    def build(self, state: dict[bytes, bytes]) -> bytes:
        return self.apply(EMPTY_ROOT, dict(state))


def test_deep_keys_really_share_prefixes() -> None:
    assert hash32(DEEP_KEYS[0])[:2] == hash32(DEEP_KEYS[1])[:2]


def test_empty_tree() -> None:
    chain = Chain()
    assert chain.tree.update(EMPTY_ROOT, {}) == (EMPTY_ROOT, {})
    assert chain.tree.update(EMPTY_ROOT, {b"absent": None}) == (EMPTY_ROOT, {})
    assert chain.tree.get_value_hash(EMPTY_ROOT, b"a") is None
    proof = chain.tree.prove(EMPTY_ROOT, b"a")
    assert proof == Proof((), None)
    assert verify_proof(EMPTY_ROOT, b"a", None, proof)
    assert not verify_proof(EMPTY_ROOT, b"a", b"1", proof)
    assert reference_root({}) == EMPTY_ROOT


def test_single_key_is_a_leaf_at_the_root() -> None:
    chain = Chain()
    root = chain.build({b"a": b"1"})
    assert root == hash32(b"\x00" + hash32(b"a") + hash32(b"1"))
    assert root == reference_root({b"a": b"1"})
    assert chain.tree.get_value_hash(root, b"a") == hash32(b"1")
    assert chain.tree.get_value_hash(root, b"b") is None
    assert chain.apply(root, {b"a": None}) == EMPTY_ROOT


def test_update_and_delete_back_to_empty() -> None:
    chain = Chain()
    state = {key: key + b"!" for key in KEY_POOL}
    root = chain.build(state)
    assert root == reference_root(state)
    root = chain.apply(root, {key: b"new" for key in KEY_POOL[::3]})
    assert chain.tree.get_value_hash(root, KEY_POOL[0]) == hash32(b"new")
    assert chain.tree.get_value_hash(root, KEY_POOL[1]) == hash32(KEY_POOL[1] + b"!")
    for key in KEY_POOL[:-1]:
        root = chain.apply(root, {key: None})
    assert root == hash32(b"\x00" + hash32(KEY_POOL[-1]) + hash32(KEY_POOL[-1] + b"!"))
    assert chain.apply(root, {KEY_POOL[-1]: None}) == EMPTY_ROOT


def test_deleting_one_of_two_deep_keys_lifts_the_other_to_the_root() -> None:
    chain = Chain()
    a, b = DEEP_KEYS[0], DEEP_KEYS[1]
    root = chain.build({a: b"x", b: b"y"})
    assert root == reference_root({a: b"x", b: b"y"})
    # At least levels 0-3 are one-child internal nodes above the node that splits the two leaves.
    assert len(chain.tree.prove(root, a).levels) >= 5
    lifted = chain.apply(root, {a: None})
    assert lifted == hash32(b"\x00" + hash32(b) + hash32(b"y"))


def _find_key(prefix: list[int]) -> bytes:
    """A key whose path starts with the nibbles `prefix`, found by search."""
    for i in range(1_000_000):
        key = b"find-%d" % i
        if _nibbles(hash32(key))[: len(prefix)] == prefix:
            return key
    raise AssertionError("no such key")


def test_a_delete_leaving_an_untouched_lone_leaf_lifts_it() -> None:
    a = _find_key([1, 2])
    b = _find_key([1, 3])
    c = _find_key([4])
    chain = Chain()
    root = chain.build({a: b"a", b: b"b", c: b"c"})
    root = chain.apply(root, {a: None})
    assert root == reference_root({b: b"b", c: b"c"})
    assert len(chain.tree.prove(root, b).levels) == 1


def test_a_delete_leaving_an_untouched_lone_internal_node_keeps_it() -> None:
    a = _find_key([1, 2])
    b = _find_key([1, 3, 5])
    c = _find_key([1, 3, 6])
    d = _find_key([4])
    chain = Chain()
    root = chain.build({a: b"a", b: b"b", c: b"c", d: b"d"})
    root = chain.apply(root, {a: None})
    assert root == reference_root({b: b"b", c: b"c", d: b"d"})
    assert len(chain.tree.prove(root, b).levels) == 3


def test_rewriting_the_same_value_changes_nothing() -> None:
    chain = Chain()
    state = {key: b"v" for key in KEY_POOL}
    root = chain.build(state)
    assert chain.tree.update(root, {KEY_POOL[3]: b"v", DEEP_KEYS[0]: b"v"}) == (root, {})
    assert chain.tree.update(root, {b"never there": None}) == (root, {})


def test_one_change_writes_one_node_per_level() -> None:
    chain = Chain()
    root = chain.build({b"key%d" % i: b"v" for i in range(3000)})
    new_root, nodes = chain.tree.update(root, {b"key7": b"w"})
    depth = len(chain.tree.prove(root, b"key7").levels)
    assert len(nodes) == depth + 1
    assert new_root in nodes


@settings(max_examples=150, deadline=None)
@given(
    initial=states_st,
    batches=st.lists(st.dictionaries(keys_st, st.none() | values_st, max_size=15), max_size=6),
)
def test_root_depends_only_on_the_final_state(
    initial: dict[bytes, bytes], batches: list[dict[bytes, bytes | None]]
) -> None:
    chain = Chain()
    root = chain.build(initial)
    state = dict(initial)
    for batch in batches:
        root = chain.apply(root, batch)
        for key, value in batch.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
    assert root == reference_root(state)
    assert root == Chain().build(state)
    assert root == Chain().build(dict(reversed(state.items())))


@settings(max_examples=100, deadline=None)
@given(state=states_st, data=st.data())
def test_root_independent_of_insertion_order_and_batching(
    state: dict[bytes, bytes], data: st.DataObject
) -> None:
    items = data.draw(st.permutations(list(state.items())))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(items)), max_size=5)))
    chain = Chain()
    root = EMPTY_ROOT
    for start, end in zip([0, *cuts], [*cuts, len(items)], strict=True):
        root = chain.apply(root, dict(items[start:end]))
    assert root == Chain().build(state)


@settings(max_examples=100, deadline=None)
@given(state=states_st, absent=st.lists(keys_st, max_size=10))
def test_proofs_verify_for_present_and_absent_keys(
    state: dict[bytes, bytes], absent: list[bytes]
) -> None:
    chain = Chain()
    root = chain.build(state)
    for key, value in state.items():
        proof = chain.tree.prove(root, key)
        assert verify_proof(root, key, value, proof)
        assert not verify_proof(root, key, value + b"x", proof)
        assert not verify_proof(root, key, None, proof)
        assert not verify_proof(hash32(root), key, value, proof)
        assert not verify_proof(root, key + b"x", value, proof)
    for key in absent:
        if key in state:
            continue
        proof = chain.tree.prove(root, key)
        assert verify_proof(root, key, None, proof)
        assert not verify_proof(root, key, b"", proof)
        if root != EMPTY_ROOT:
            assert not verify_proof(hash32(root), key, None, proof)
        for other in state:
            assert not verify_proof(root, other, None, proof)


def test_non_inclusion_through_another_keys_leaf_and_through_an_empty_slot() -> None:
    chain = Chain()
    root = chain.build({DEEP_KEYS[0]: b"x", b"other": b"y"})
    found_leaf = found_empty = False
    for i in range(200):
        key = b"probe%d" % i
        proof = chain.tree.prove(root, key)
        assert verify_proof(root, key, None, proof)
        found_leaf |= proof.leaf is not None
        found_empty |= proof.leaf is None
    assert found_leaf and found_empty


def test_a_present_key_cannot_be_proven_absent_with_a_neighbours_proof() -> None:
    chain = Chain()
    a, b = DEEP_KEYS[0], DEEP_KEYS[1]
    root = chain.build({a: b"x", b: b"y", b"far": b"z"})
    proof_b = chain.tree.prove(root, b)
    assert not verify_proof(root, a, None, proof_b)
    assert not verify_proof(root, a, b"x", proof_b)


@settings(max_examples=300, deadline=None)
@given(
    state=st.dictionaries(st.sampled_from(KEY_POOL), values_st, min_size=1, max_size=30),
    data=st.data(),
)
def test_flipped_bytes_in_an_encoded_proof_never_verify(
    state: dict[bytes, bytes], data: st.DataObject
) -> None:
    chain = Chain()
    root = chain.build(state)
    key = data.draw(st.sampled_from([*state, b"absent"]))
    value = state.get(key)
    encoded = encode(chain.tree.prove(root, key).to_value())
    position = data.draw(st.integers(0, len(encoded) - 1))
    flip = data.draw(st.integers(1, 255))
    mutated = bytearray(encoded)
    mutated[position] ^= flip
    try:
        proof = Proof.from_value(decode(bytes(mutated)))
    except DecodeError:
        return
    assert verify_proof(root, key, value, proof) is False


_junk = st.one_of(
    st.none(),
    st.integers(-(2**70), 2**70),
    st.binary(max_size=40),
    st.text(max_size=3),
    st.just(()),
    st.just([b"\x00" * 32]),
)


@settings(max_examples=300, deadline=None)
@given(
    state=st.dictionaries(st.sampled_from(KEY_POOL), values_st, min_size=1, max_size=30),
    data=st.data(),
)
def test_tampered_proof_objects_return_false_and_never_raise(
    state: dict[bytes, bytes], data: st.DataObject
) -> None:
    chain = Chain()
    root = chain.build(state)
    key = data.draw(st.sampled_from([*state, b"absent"]))
    value = state.get(key)
    proof = chain.tree.prove(root, key)
    levels = list(proof.levels)
    choice = data.draw(st.integers(0, 5))
    if choice == 0 and levels:
        i = data.draw(st.integers(0, len(levels) - 1))
        levels[i] = replace(levels[i], bitmap=data.draw(st.integers(0, 2**16) | _junk))
        tampered = replace(proof, levels=tuple(levels))
    elif choice == 1 and any(level.siblings for level in levels):
        i = data.draw(st.sampled_from([i for i, lv in enumerate(levels) if lv.siblings]))
        siblings = list(levels[i].siblings)
        siblings[data.draw(st.integers(0, len(siblings) - 1))] = data.draw(
            st.binary(min_size=32, max_size=32) | _junk
        )
        levels[i] = replace(levels[i], siblings=tuple(siblings))
        tampered = replace(proof, levels=tuple(levels))
    elif choice == 2 and levels:
        del levels[data.draw(st.integers(0, len(levels) - 1))]
        tampered = replace(proof, levels=tuple(levels))
    elif choice == 3:
        extra = ProofLevel(data.draw(st.integers(1, 2**16 - 1)), (hash32(b"x"),))
        tampered = replace(proof, levels=(*levels, extra))
    elif choice == 4:
        leaf = data.draw(
            st.builds(
                Leaf, st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32)
            )
            | st.none()
            | _junk
        )
        tampered = replace(proof, leaf=leaf)
    else:
        tampered = Proof(data.draw(_junk), data.draw(_junk))
    if tampered == proof:
        return
    assert verify_proof(root, key, value, tampered) is False


def test_proof_round_trips_through_value_and_json() -> None:
    chain = Chain()
    root = chain.build({key: b"v" for key in KEY_POOL})
    for key in [*KEY_POOL[:5], DEEP_KEYS[0], b"absent", b"also absent"]:
        proof = chain.tree.prove(root, key)
        assert Proof.from_value(decode(encode(proof.to_value()))) == proof
        assert Proof.from_json(proof.to_json()) == proof
    with pytest.raises(DecodeError):
        Proof.from_json({"levels": [{"bitmap": 3, "siblings": ["zz"]}], "leaf": None})
    with pytest.raises(DecodeError):
        Proof.from_value([[[0, []]], None])


def test_old_roots_stay_readable() -> None:
    chain = Chain()
    roots = [EMPTY_ROOT]
    states: list[dict[bytes, bytes]] = [{}]
    for step in range(6):
        changes: dict[bytes, bytes | None] = {key: b"%d" % step for key in KEY_POOL[step::4]}
        changes.update({key: None for key in KEY_POOL[step + 1 :: 7]})
        roots.append(chain.apply(roots[-1], changes))
        state = dict(states[-1])
        for key, value in changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        states.append(state)
    for root, state in zip(roots, states, strict=True):
        assert root == reference_root(state)
        for key in KEY_POOL:
            expected = None if key not in state else hash32(state[key])
            assert chain.tree.get_value_hash(root, key) == expected
            assert verify_proof(root, key, state.get(key), chain.tree.prove(root, key))


def test_update_does_not_mutate_the_store() -> None:
    chain = Chain()
    root = chain.build({key: b"v" for key in KEY_POOL})
    before = len(chain.store)
    new_root, nodes = chain.tree.update(root, {KEY_POOL[0]: None, b"new": b"n"})
    assert len(chain.store) == before
    with pytest.raises(MissingNode):
        StateTree(chain.store).get_value_hash(new_root, b"new")
    assert nodes


def test_missing_and_corrupt_nodes_are_reported() -> None:
    chain = Chain()
    root = chain.build({b"a": b"1", b"b": b"2"})
    with pytest.raises(MissingNode):
        chain.tree.get_value_hash(hash32(b"nowhere"), b"a")
    forged = MemoryNodeStore({root: encode([0, hash32(b"a"), hash32(b"9")])})
    with pytest.raises(DecodeError):
        StateTree(forged).get_value_hash(root, b"a")


@pytest.mark.parametrize(
    "value",
    [
        [],
        [2, b"\x00" * 32, b"\x00" * 32],
        [0, b"\x00" * 31, b"\x00" * 32],
        [0, b"\x00" * 32],
        [1, 0, []],
        [1, 3, [b"\x00" * 32]],
        [1, 1 << 16, [b"\x00" * 32]],
        [1, 1, [b"\x00" * 32]],
        [1, 3, b"\x00" * 32],
        [1, 1, b"\x00" * 33],
        "leaf",
    ],
)
def test_decode_node_rejects_bad_shapes(value: object) -> None:
    with pytest.raises(DecodeError):
        decode_node(encode(value))  # type: ignore[arg-type]


def test_nodes_round_trip_through_their_encoding() -> None:
    chain = Chain()
    root = chain.build({key: b"v" for key in KEY_POOL})
    seen = 0
    for key in KEY_POOL:
        for level in chain.tree.prove(root, key).levels:
            for sibling in level.siblings:
                data = chain.store.get_node(sibling)
                assert data is not None
                node = decode_node(data)
                assert encode_node(node) == data
                assert node_hash(node) == sibling
                seen += 1
    assert seen > len(KEY_POOL)


def test_non_canonical_node_bytes_are_rejected() -> None:
    data = encode_node(Leaf(hash32(b"k"), hash32(b"v")))
    longer_tag = data[:1] + b"\xcc\x00" + data[2:]  # the tag as a uint8 instead of a fixint
    with pytest.raises(DecodeError):
        decode_node(longer_tag)
    with pytest.raises(DecodeError):
        decode_node(data + b"\x00")


def test_a_chain_deeper_than_any_path_is_rejected() -> None:
    key_hash = hash32(b"k")
    current = node_hash(Leaf(key_hash, hash32(b"v")))
    nodes = {}
    for depth in reversed(range(65)):
        nibble = 0 if depth == 64 else (key_hash[depth // 2] >> (0 if depth % 2 else 4)) & 0x0F
        children: list[bytes | None] = [None] * 16
        children[nibble] = current
        node = Internal(1 << nibble, tuple(children))
        current = node_hash(node)
        nodes[current] = encode_node(node)
    with pytest.raises(DecodeError):
        StateTree(MemoryNodeStore(nodes)).get_value_hash(current, b"k")


def test_non_inclusion_needs_a_leaf_on_the_keys_own_path() -> None:
    # A tree no honest update makes: another key's leaf placed under the wrong first nibble.
    key, other = b"a", b"b"
    n = hash32(key)[0] >> 4
    assert hash32(other)[0] >> 4 != n
    decoy = Leaf(hash32(other), hash32(b"v"))
    sibling = hash32(b"sibling")
    placed = sorted([(n, node_hash(decoy)), ((n + 1) % 16, sibling)])
    root = hash32(
        b"\x01" + sum(1 << i for i, _ in placed).to_bytes(2, "big") + b"".join(h for _, h in placed)
    )
    proof = Proof((ProofLevel(sum(1 << i for i, _ in placed), (sibling,)),), decoy)
    assert not verify_proof(root, key, None, proof)
