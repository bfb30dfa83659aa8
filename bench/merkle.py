"""Benchmark of the state tree: block-sized batch updates on a 100,000-key tree.

Run: .venv/bin/python bench/merkle.py [--keys N] [--profile]

Each block changes half existing keys (new values) and half new keys. The store is in memory, so
the figures are the tree's own cost (hashing, encoding, decoding), without LevelDB.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time

from ledger.merkle import EMPTY_ROOT, MemoryNodeStore, StateTree


def _block(rng: random.Random, existing: list[bytes], size: int, serial: int) -> dict[bytes, bytes]:
    changes = {key: rng.randbytes(32) for key in rng.sample(existing, size // 2)}
    changes.update({b"new-%d-%d" % (serial, i): rng.randbytes(32) for i in range(size - size // 2)})
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the initial tree")
    parser.add_argument("--rounds", type=int, default=3, help="blocks timed per batch size")
    parser.add_argument("--profile", action="store_true", help="profile one 10,000-key block")
    args = parser.parse_args()

    rng = random.Random(7)
    store = MemoryNodeStore()
    tree = StateTree(store)
    keys = [b"account-%d" % i for i in range(args.keys)]
    start = time.perf_counter()
    root, nodes = tree.update(EMPTY_ROOT, {key: rng.randbytes(32) for key in keys})
    elapsed = time.perf_counter() - start
    store.put_nodes(nodes)
    print(
        f"build {args.keys:,} keys: {elapsed:.2f} s, {elapsed / args.keys * 1e6:.1f} µs/key, "
        f"{len(nodes) / args.keys:.2f} nodes/key"
    )

    serial = 0
    for size in (1_000, 10_000):
        times = []
        written = []
        for _ in range(args.rounds):
            serial += 1
            changes = _block(rng, keys, size, serial)
            start = time.perf_counter()
            root, nodes = tree.update(root, changes)
            times.append(time.perf_counter() - start)
            written.append(len(nodes))
            store.put_nodes(nodes)
            keys.extend(key for key in changes if key.startswith(b"new-"))
        best = min(times)
        print(
            f"block of {size:,} changes on {len(keys):,} keys: "
            f"best {best / size * 1e6:.1f} µs/key, "
            f"mean {sum(times) / len(times) / size * 1e6:.1f} µs/key, "
            f"{sum(written) / len(written) / size:.2f} nodes written/key"
        )

    if args.profile:
        changes = _block(rng, keys, 10_000, serial + 1)
        profiler = cProfile.Profile()
        profiler.runcall(tree.update, root, changes)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
