"""Where a Qdrant Edge shard keeps its vectors (in RAM or read through mmap): what loading it
costs, what its first searches cost, and how fast it searches after.

Loading is the step of every rebuild and optimize done by a child process that still runs in the
serving process, and qdrant-edge-py holds the GIL while it loads: every search waits for it.

N random 384-d vectors in 10 namespaces go into one shard per placement, with omega's index
settings (no global graph, per-namespace full scan up to 200 MB, int8 quantization, rescoring
2 x limit). The shard is optimized and closed, then loaded three times; after each load, 100
tenant-filtered top-10 searches run twice. Reported: the loads, the first search after a load,
the median of the second pass, and recall@10 against exact numpy search.

- **in RAM**: Edge's default for the originals plus quantized vectors with ``always_ram``,
  omega's placement before Edge layout 54;
- **mmap (Memory.Cold)**: both read through the page cache, omega's placement now;
- **quantized in RAM, originals mmap**: the middle way.

Run::

    .venv/bin/python benchmarks/vector_memory.py                  # N = 100,000
    .venv/bin/python benchmarks/vector_memory.py --items 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import qdrant_edge as qe
from _common import NAMESPACES, markdown_table, print_footer, print_header, random_vectors, scratch_dir

PLACEMENTS: dict[str, tuple[qe.Memory | None, qe.ScalarQuantizationConfig]] = {
    "in RAM (before)": (None, qe.ScalarQuantizationConfig(qe.ScalarType.Int8, always_ram=True)),
    "mmap, both (now)": (qe.Memory.Cold, qe.ScalarQuantizationConfig(qe.ScalarType.Int8, memory=qe.Memory.Cold)),
    "quantized in RAM, originals mmap": (
        qe.Memory.Cold,
        qe.ScalarQuantizationConfig(qe.ScalarType.Int8, memory=qe.Memory.Pinned),
    ),
}
_HNSW = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=200_000, payload_m=16)
_PARAMS = qe.SearchParams(hnsw_ef=128, quantization=qe.QuantizationSearchParams(rescore=True, oversampling=2.0))


def _build(where: Path, vectors: np.ndarray, placement: str) -> None:
    memory, quantization = PLACEMENTS[placement]
    params = qe.EdgeVectorParams(size=vectors.shape[1], distance=qe.Distance.Cosine, memory=memory)
    config = qe.EdgeConfig(
        vectors={"v": params},
        hnsw_config=_HNSW,
        quantization_config=quantization,
        wal_enabled=False,
        max_search_threads=1,
    )
    shard = qe.EdgeShard.create(str(where), config)
    shard.update(qe.UpdateOperation.create_field_index("ns", qe.KeywordIndexParams(is_tenant=True)))
    for start in range(0, len(vectors), 2000):
        points = [
            qe.Point(i, {"v": vectors[i].tolist()}, {"ns": f"n{i % NAMESPACES}"})
            for i in range(start, min(len(vectors), start + 2000))
        ]
        shard.update(qe.UpdateOperation.upsert_points(points))
    shard.flush()
    shard.optimize()
    shard.close()


def _search(shard: qe.EdgeShard, query: np.ndarray, namespace: int) -> set[int]:
    condition = qe.Filter(must=[qe.FieldCondition("ns", match=qe.MatchValue(f"n{namespace}"))])
    request = qe.QueryRequest(
        limit=10, query=qe.Query.Nearest(query.tolist(), using="v"), filter=condition, params=_PARAMS
    )
    return {int(hit.id) for hit in shard.query(request)}


def _measure(where: Path, queries: np.ndarray, truth: list[set[int]]) -> dict[str, float]:
    started = time.perf_counter()
    shard = qe.EdgeShard.load(str(where))
    load = time.perf_counter() - started
    times, found = [], 0
    for second_pass in (False, True):
        for i, query in enumerate(queries):
            started = time.perf_counter()
            hits = _search(shard, query, i % NAMESPACES)
            times.append(time.perf_counter() - started)
            found += len(hits & truth[i]) if second_pass else 0
    shard.close()
    return {
        "load": load,
        "first_ms": times[0] * 1000,
        "p50_ms": statistics.median(times[len(queries) :]) * 1000,
        "recall": found / (10 * len(queries)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    print_header("Qdrant Edge vectors in RAM or through mmap: load, first search, search")
    vectors = random_vectors(args.items)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = random_vectors(100, seed=7)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    tenant = np.arange(args.items) % NAMESPACES
    truth = []
    for i, query in enumerate(queries):
        rows = np.flatnonzero(tenant == i % NAMESPACES)
        truth.append(set(rows[np.argsort(-(vectors[rows] @ query))[:10]].tolist()))
    rows = []
    with scratch_dir("vector-memory") as tmp:
        for n, placement in enumerate(PLACEMENTS):
            where = Path(tmp) / f"shard{n}"
            _build(where, vectors, placement)
            runs = [_measure(where, queries, truth) for _ in range(3)]
            rows.append(
                [
                    placement,
                    ", ".join(f"{r['load']:.2f}" for r in runs),
                    ", ".join(f"{r['first_ms']:.0f}" for r in runs),
                    f"{statistics.median(r['p50_ms'] for r in runs):.2f}",
                    f"{statistics.median(r['recall'] for r in runs):.3f}",
                ]
            )
            print(rows[-1], flush=True)
    print(f"\n{args.items:,} vectors, {NAMESPACES} namespaces, loaded 3 times; searches: top 10 in one namespace")
    print(markdown_table(["vectors", "loads (s)", "first search (ms)", "then p50 ms", "recall@10"], rows))
    print_footer()


if __name__ == "__main__":
    main()
