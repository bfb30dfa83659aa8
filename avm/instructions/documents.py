"""The document store (§11.11): text with fixed-point embedding vectors, searched by cosine
similarity computed in integers (optionally with Maximal Marginal Relevance).

Layout in agent storage: each document under `DOC_PREFIX`, each collection's sorted id list under
`COLLECTION_PREFIX`. Besides §11's per-dimension price, stored bytes pay the KV_STORE byte price:
otherwise text would be stored almost for free.
"""

from __future__ import annotations

from math import isqrt

from avm.errors import BadOperand
from avm.gas import per_unit
from avm.instructions.storage import load
from avm.machine import Machine
from avm.opcodes import Family, P
from avm.values import FIXED_SCALE, MAX_ITEMS, AvmMap, Value, check_key, encode_value, type_name

family = Family("documents")

DOC_PREFIX = b"d"
COLLECTION_PREFIX = b"c"
MMR_LAMBDA = (1, 2)  # relevance weight of MMR as a fraction: 1/2


def _doc_key(collection: str, doc_id: Value) -> bytes:
    return DOC_PREFIX + encode_value((collection, doc_id))


def _collection_key(collection: str) -> bytes:
    return COLLECTION_PREFIX + encode_value(collection)


def _want_collection(collection: Value) -> str:
    if type(collection) is not str:
        raise BadOperand(f"a collection name is a str, not {type_name(collection)}")
    return collection


def _want_vector(vector: Value) -> tuple[int, ...]:
    if type(vector) is tuple:
        ints = tuple(x for x in vector if type(x) is int)
        if len(ints) == len(vector):
            return ints
    raise BadOperand(f"a vector is a list of fixed-point ints, not {type_name(vector)}")


def _stored(doc: Value) -> tuple[Value, tuple[int, ...]]:
    """A stored document's text and vector (DOC_STORE writes them as one list)."""
    if type(doc) is not tuple or len(doc) != 2:
        raise BadOperand(f"a stored document is [text, vector], not {type_name(doc)}")
    return doc[0], _want_vector(doc[1])


def _ids(vm: Machine, collection: str) -> tuple[Value, ...]:
    ids, _ = load(vm, _collection_key(collection))
    return ids if type(ids) is tuple else ()


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Cosine similarity of two vectors as a fixed-point int (FIXED_SCALE = 1.0)."""
    if len(a) != len(b):
        raise BadOperand(f"vectors of different dimensions: {len(a)} and {len(b)}")
    norm = isqrt(sum(x * x for x in a) * sum(y * y for y in b))
    if norm == 0:
        return 0
    return sum(x * y for x, y in zip(a, b, strict=True)) * FIXED_SCALE // norm


@family.op("DOC_STORE", P("collection"), P("doc_id"), P("text"), P("vector"), gas="simple")
def doc_store(vm: Machine, collection: Value, doc_id: Value, text: Value, vector: Value) -> bool:
    name = _want_collection(collection)
    key = check_key(doc_id)
    vec = _want_vector(vector)
    if type(text) is not str:
        raise BadOperand(f"document text is a str, not {type_name(text)}")
    data = encode_value((text, vec))
    vm.charge(
        per_unit(vm.sched.doc_store_per_dim, len(vec)) + vm.sched.kv_store_per_byte * len(data)
    )
    ids = _ids(vm, name)
    if not any(type(i) is type(doc_id) and i == doc_id for i in ids):
        if len(ids) >= MAX_ITEMS:
            raise BadOperand(f"collection {name} already holds {MAX_ITEMS} documents")
        ids = AvmMap.of((check_key(i), None) for i in (*ids, key)).keys()  # canonical order
        vm.host.storage_put(_collection_key(name), encode_value(ids))
    vm.host.storage_put(_doc_key(name, doc_id), data)
    return True


@family.op("DOC_FETCH", P("collection"), P("doc_id"), gas="simple")
def doc_fetch(vm: Machine, collection: Value, doc_id: Value) -> Value:
    """(text, vector), or null when absent."""
    doc, _ = load(vm, _doc_key(_want_collection(collection), check_key(doc_id)))
    if doc is not None:
        _, vec = _stored(doc)
        vm.charge(per_unit(vm.sched.doc_fetch_per_dim, len(vec)))
    return doc


@family.op("DOC_SEARCH", P("collection"), P("query"), P("top_k"), P("mmr", False), gas="simple")
def doc_search(vm: Machine, collection: Value, query: Value, top_k: Value, mmr: Value) -> Value:
    """Up to top_k documents as maps {id, score, text}, best first (ties: canonical id order)."""
    name = _want_collection(collection)
    q = _want_vector(query)
    if type(top_k) is not int or top_k < 0:
        raise BadOperand(f"top_k is a non-negative int, not {top_k!r}")
    docs = []
    for doc_id in _ids(vm, name):
        doc, _ = load(vm, _doc_key(name, doc_id))
        text, vec = _stored(doc)
        docs.append((doc_id, text, vec))
    ops = len(docs) * len(q) * (1 + (min(top_k, len(docs)) if mmr else 0))
    vm.charge(
        per_unit(vm.sched.doc_search_per_op, ops) + per_unit(vm.sched.doc_search_per_k, top_k)
    )
    relevance = [similarity(q, vec) for _, _, vec in docs]
    chosen: list[int] = []
    remaining = list(range(len(docs)))
    num, den = MMR_LAMBDA
    while remaining and len(chosen) < top_k:

        def score(i: int) -> int:
            if not mmr or not chosen:
                return relevance[i]
            redundancy = max(similarity(docs[i][2], docs[j][2]) for j in chosen)
            return (num * relevance[i] - (den - num) * redundancy) // den

        best = max(remaining, key=lambda i: (score(i), -i))
        chosen.append(best)
        remaining.remove(best)
    return tuple(
        AvmMap.of([("id", docs[i][0]), ("score", relevance[i]), ("text", docs[i][1])])
        for i in chosen
    )


@family.op("DELETE_DOC", P("collection"), P("doc_id"), gas="delete_doc")
def delete_doc(vm: Machine, collection: Value, doc_id: Value) -> bool:
    name = _want_collection(collection)
    check_key(doc_id)
    ids = _ids(vm, name)
    kept = tuple(i for i in ids if not (type(i) is type(doc_id) and i == doc_id))
    if len(kept) == len(ids):
        return False
    vm.host.storage_put(_collection_key(name), encode_value(kept))
    return vm.host.storage_delete(_doc_key(name, doc_id))


@family.op("DELETE_COLLECTION", P("collection"), gas="delete_collection")
def delete_collection(vm: Machine, collection: Value) -> bool:
    name = _want_collection(collection)
    ids = _ids(vm, name)
    for doc_id in ids:
        vm.host.storage_delete(_doc_key(name, doc_id))
    return vm.host.storage_delete(_collection_key(name))
