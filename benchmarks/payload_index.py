"""The first filter on a metadata key that a large index has no payload index for: built in place
by that search (as before), against built on a copy in a child process while searches answer
without it (now, from 20,000 memories on), with searches every 10 ms meanwhile.

N memories (384-d, 10 namespaces, each with a ``topic`` of 20), ingested and optimized once; the
directory is copied before each run. The action, on a thread: one search filtered on ``topic``
(timed), then the wait until the index is built. The caller meanwhile searches one namespace,
without a filter, every 10 ms; every search that started during the action is timed. After it,
ten filtered searches give the latency the index brings.

- **in place (before)**: the search that first filters builds the index (qdrant-edge-py holds
  the GIL throughout, so every other call waits);
- **on a copy, in a child process**: ``Memory`` as it is now.

Run::

    .venv/bin/python benchmarks/payload_index.py                      # N = 100,000
    .venv/bin/python benchmarks/payload_index.py --items 30000 --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import markdown_table, namespace_of, print_footer, print_header, random_vectors
from integrity import under_searches

from omega_memory_plugin import Memory

WAYS = ("in place (before)", "on a copy, in a child process")
FILTER = {"topic": "t3"}


def _ingest(memory: Memory, vectors: np.ndarray) -> None:
    for start in range(0, len(vectors), 1000):
        with memory.transaction() as tx:
            for i in range(start, min(start + 1000, len(vectors))):
                tx.upsert(
                    f"memory {i}",
                    id=str(i),
                    vectors=vectors[i],
                    namespace=namespace_of(i),
                    metadata={"topic": f"t{i % 20}"},
                )


def _first_filter(memory: Memory, query: np.ndarray, spent: list[float]) -> None:
    started = time.perf_counter()
    memory.search(query, namespace="ns3", limit=10, filter=FILTER)
    spent.append(time.perf_counter() - started)
    while memory._indexing is not None:  # built on a copy, in the background
        time.sleep(0.01)


def _run(path: Path, way: str, queries: np.ndarray) -> dict[str, float]:
    with Memory(path) as memory:
        if way == WAYS[0]:
            memory.projection.index_on_copies = False
        first: list[float] = []
        measured = under_searches(memory, lambda: _first_filter(memory, queries[0], first), queries, pause=0.01)
        filtered = []
        for query in queries[:10]:
            started = time.perf_counter()
            memory.search(query, namespace="ns3", limit=10, filter=FILTER)
            filtered.append(time.perf_counter() - started)
        return {**measured, "first_ms": first[0] * 1e3, "after_ms": statistics.median(filtered) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print_header("A payload index for a newly filtered key: in place against on a copy, searches meanwhile")
    queries = random_vectors(50, 384, seed=9)
    runs: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        loaded = Path(tmp) / "loaded"
        with Memory(loaded) as memory:
            _ingest(memory, random_vectors(args.items, 384))
            memory.optimize()
        for _ in range(args.repeat):
            for way in WAYS:
                here = Path(tmp) / "run"
                shutil.copytree(loaded, here)
                runs[way].append(_run(here, way, queries))
                shutil.rmtree(here)
    rows = []
    for way, measured in runs.items():
        rows.append(
            [
                way,
                ", ".join(f"{r['first_ms']:,.0f}" for r in measured),
                ", ".join(f"{r['seconds']:.1f}" for r in measured),
                f"{statistics.median(r['searches'] for r in measured):,.0f}",
                f"{statistics.median(r['p50_ms'] for r in measured):.2f}",
                f"{statistics.median(r['p99_ms'] for r in measured):.1f}",
                f"{statistics.median(r['max_ms'] for r in measured):,.1f}",
                f"{statistics.median(r['after_ms'] for r in measured):.2f}",
            ]
        )
    print(
        f"\n{args.items:,} memories, first filter on `topic`, searches every 10 ms meanwhile, medians of {args.repeat}"
    )
    headers = ["index built", "first filtered search (ms)", "until built (s)", "searches", "p50 ms", "p99 ms"]
    print(markdown_table([*headers, "max ms", "filtered after, p50 ms"], rows))
    print_footer()


if __name__ == "__main__":
    main()
