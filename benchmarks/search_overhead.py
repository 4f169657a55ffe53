"""A search's own overhead: ``memory.search`` against the bare Qdrant Edge query under it.

N random 384-d vectors in ten namespaces, optimized; each query asks for the top 10 in one
namespace. Per query, in turn (so that the machine's drift hits every row alike):

- Edge query (floor): ``shard.query`` with the same filter and payloads, built beforehand;
- ``memory.search``: a sync call, on the embedded default (the caller's thread runs it while
  the engine is idle);
- ``memory.search``, engine not lent: the same call with one hop to the engine's thread;
- ``memory.asearch``: awaited from an asyncio loop in the caller's thread (one hop each way).

``--metadata`` gives every memory five metadata keys (strings, a number, a list, a bool), as
memories written by agents carry; the index keeps copies of them for filters.

Three repetitions; the table gives each row's median p50 and the overhead above the floor.

Run::

    .venv/bin/python benchmarks/search_overhead.py                  # N = 10,000 and 100,000
    .venv/bin/python benchmarks/search_overhead.py --sizes 2000 --queries 200   # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import qdrant_edge as qe
from _common import (
    NAMESPACES,
    markdown_table,
    namespace_of,
    print_footer,
    print_header,
    random_vectors,
    scratch_dir,
)

from omega_memory_plugin import Memory
from omega_memory_plugin.index.edge import _APPROXIMATE, EdgeProjection

K = 10
ROWS = ("Edge query (floor)", "memory.search", "memory.search, engine not lent", "memory.asearch")


def metadata_of(i: int) -> dict[str, object]:
    return {"user": f"u{i % 50}", "topic": f"t{i % 7}", "score": i * 0.5, "tags": ["a", "b"], "done": i % 2 == 0}


def measure(size: int, queries: int, repetitions: int, metadata: bool) -> dict[str, list[float]]:
    """Each row's p50 (ms) per repetition."""
    vectors = random_vectors(size)
    asked = random_vectors(queries, seed=7)
    p50s: dict[str, list[float]] = {row: [] for row in ROWS}
    with scratch_dir("omega-bench-overhead-") as path, Memory(path) as memory:
        with memory.writer(batch_size=1000) as writer:
            for i, vector in enumerate(vectors):
                writer.upsert(
                    f"memory {i}",
                    id=str(i),
                    vectors=vector,
                    namespace=namespace_of(i),
                    metadata=metadata_of(i) if metadata else None,
                )
        memory.optimize()
        projection = memory.projection
        assert isinstance(projection, EdgeProjection)
        (collection,) = projection._local.shards
        shard = projection._local.shards[collection]
        requests = [
            qe.QueryRequest(
                limit=K,
                query=qe.Query.Nearest(q.tolist(), using="dense"),
                filter=projection._filter(collection, namespace_of(j), None),
                with_payload=True,
                with_vector=False,
                params=_APPROXIMATE,
            )
            for j, q in enumerate(asked)
        ]
        loop = asyncio.new_event_loop()
        engine = memory._engine

        def unlent(q: np.ndarray, ns: str) -> object:
            engine.lendable = False
            try:
                return memory.search(q, namespace=ns, limit=K)
            finally:
                engine.lendable = True

        calls: dict[str, Callable[[int], object]] = {
            ROWS[0]: lambda j: shard.query(requests[j]),
            ROWS[1]: lambda j: memory.search(asked[j], namespace=namespace_of(j), limit=K),
            ROWS[2]: lambda j: unlent(asked[j], namespace_of(j)),
            ROWS[3]: lambda j: loop.run_until_complete(memory.asearch(asked[j], namespace=namespace_of(j), limit=K)),
        }
        for j in range(min(100, queries)):  # warm up: each namespace's vectors faulted in
            for call in calls.values():
                call(j)
        for _ in range(repetitions):
            samples: dict[str, list[float]] = {row: [] for row in ROWS}
            for j in range(queries):
                order = ROWS[j % len(ROWS) :] + ROWS[: j % len(ROWS)]
                for row in order:
                    started = time.perf_counter()
                    calls[row](j)
                    samples[row].append(time.perf_counter() - started)
            for row in ROWS:
                p50s[row].append(statistics.median(samples[row]) * 1000)
        loop.close()
    return p50s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="numbers of memories")
    parser.add_argument("--queries", type=int, default=1500, help="timed queries per row and repetition")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--metadata", action="store_true", help="five metadata keys on every memory")
    args = parser.parse_args(argv)
    carrying = ", five metadata keys each" if args.metadata else ""
    print_header(f"A search's own overhead: top-10 in one of {NAMESPACES} namespaces, 384-d, optimized{carrying}")
    rows = []
    for size in args.sizes:
        print(f"N={size:,} ...", file=sys.stderr, flush=True)
        p50s = measure(size, args.queries, args.repetitions, args.metadata)
        floor = statistics.median(p50s[ROWS[0]])
        for row in ROWS:
            p50 = statistics.median(p50s[row])
            runs = " / ".join(f"{x:.3f}" for x in p50s[row])
            rows.append([size, row, f"{p50:.3f}", runs, "-" if row == ROWS[0] else f"{p50 - floor:+.3f}"])
    print(markdown_table(["N", "call", "p50 ms (median)", "p50 per repetition", "above the floor (ms)"], rows))
    print_footer()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
