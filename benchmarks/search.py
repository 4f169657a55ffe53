"""Filtered vector search: latency and recall@10 of the embedded default against its peers.

N random 384-d vectors spread round robin over ten namespaces; each query asks for the top 10
within one namespace. Every backend answers the same queries in the same run:

- omega (Edge, fresh): ``Memory(tmpdir)`` (SQLite log + Qdrant Edge) right after the bulk write;
- omega (Edge, optimized): the same memory after ``memory.optimize()`` (Edge builds HNSW);
- omega (Edge, exact=True): the optimized memory asked for an exact search;
- qdrant-client local: ``QdrantClient(":memory:")`` with a namespace payload filter (brute force);
- numpy exact: cosine top-10 over the namespace's rows, the floor, and the ground truth.

recall@10 is reported beside every latency: a fast answer that misses neighbours does not count.

Run::

    .venv/bin/python benchmarks/search.py                    # N = 10,000 and 100,000
    .venv/bin/python benchmarks/search.py --sizes 2000 --queries 50   # a quick smoke run
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from _common import (
    DIM,
    NAMESPACES,
    SEED,
    markdown_table,
    namespace_of,
    percentiles_ms,
    print_footer,
    print_header,
    random_vectors,
    scratch_dir,
    time_each,
    timed,
)
from qdrant_client import QdrantClient, models

from omega_memory_plugin import Memory

K = 10


@dataclass
class Workload:
    """The stored vectors, the queries (each with its namespace) and their exact answers."""

    vectors: np.ndarray
    queries: np.ndarray
    query_namespaces: list[str]
    by_namespace: dict[str, tuple[np.ndarray, np.ndarray]]  # ns -> (row ids, unit rows)
    truth: list[set[int]]

    @property
    def size(self) -> int:
        return len(self.vectors)


@dataclass
class Row:
    backend: str
    size: int
    queries: int
    p50_ms: float
    p99_ms: float
    recall: float

    def cells(self) -> list[object]:
        return [self.backend, self.size, self.queries, self.p50_ms, self.p99_ms, f"{self.recall:.3f}"]


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def exact_top_k(ids: np.ndarray, unit_rows: np.ndarray, query: np.ndarray) -> list[int]:
    """Cosine top-k by brute force: one matrix-vector product and a partial sort."""
    scores = unit_rows @ _unit(query)
    best = np.argpartition(-scores, K)[:K]
    return ids[best[np.argsort(-scores[best])]].tolist()


def make_workload(size: int, n_queries: int) -> Workload:
    vectors = random_vectors(size)
    # A different seed: queries are new points, not stored ones (a stored point finds itself).
    queries = random_vectors(n_queries, seed=SEED + 1)
    query_namespaces = [namespace_of(j) for j in range(n_queries)]
    by_namespace = {}
    for n in range(NAMESPACES):
        ids = np.arange(n, size, NAMESPACES)
        by_namespace[namespace_of(n)] = (ids, np.ascontiguousarray(_unit(vectors[ids])))
    truth = [set(exact_top_k(*by_namespace[ns], q)) for q, ns in zip(queries, query_namespaces, strict=True)]
    return Workload(vectors, queries, query_namespaces, by_namespace, truth)


def recall_at_k(answers: Sequence[Sequence[int]], truth: Sequence[set[int]]) -> float:
    return float(np.mean([len(set(a) & t) / K for a, t in zip(answers, truth, strict=True)]))


def measure(
    backend: str, work: Workload, search: Callable[[np.ndarray, str], list[int]], n_queries: int, warmup: int
) -> Row:
    calls = [
        partial(search, q, ns)
        for q, ns in zip(work.queries[:n_queries], work.query_namespaces[:n_queries], strict=True)
    ]
    durations, answers = time_each(calls, warmup=min(warmup, n_queries))
    p50, p99 = percentiles_ms(durations)
    return Row(backend, work.size, n_queries, p50, p99, recall_at_k(answers, work.truth[:n_queries]))


def bench_numpy(work: Workload, n_queries: int, warmup: int) -> Row:
    return measure("numpy exact (floor)", work, lambda q, ns: exact_top_k(*work.by_namespace[ns], q), n_queries, warmup)


def bench_omega(work: Workload, n_queries: int, warmup: int, batch: int, setup: list[list[object]]) -> list[Row]:
    rows = []
    with scratch_dir("omega-bench-search-") as path, Memory(path) as memory:

        def load() -> None:
            with memory.writer(batch_size=batch) as writer:
                for i, vector in enumerate(work.vectors):
                    writer.upsert(f"memory {i}", id=str(i), vectors=vector, namespace=namespace_of(i))

        load_s = timed(load)

        def search(exact: bool) -> Callable[[np.ndarray, str], list[int]]:
            return lambda q, ns: [int(hit.id) for hit in memory.search(q, namespace=ns, limit=K, exact=exact)]

        rows.append(measure("omega (Edge, fresh)", work, search(False), n_queries, warmup))
        optimize_s = timed(memory.optimize)
        rows.append(measure("omega (Edge, optimized)", work, search(False), n_queries, warmup))
        rows.append(measure("omega (Edge, optimized, exact=True)", work, search(True), n_queries, warmup))
    setup.append(["omega (Edge)", work.size, f"{load_s:.1f}", f"{optimize_s:.1f}"])
    return rows


def bench_qdrant_local(work: Workload, n_queries: int, warmup: int, batch: int, setup: list[list[object]]) -> Row:
    client = QdrantClient(":memory:")
    try:
        name = "bench"
        client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))

        def load() -> None:
            for start in range(0, work.size, batch):
                chunk = range(start, min(start + batch, work.size))
                points = [
                    models.PointStruct(id=i, vector=work.vectors[i].tolist(), payload={"namespace": namespace_of(i)})
                    for i in chunk
                ]
                client.upsert(name, points=points)

        load_s = timed(load)

        def search(q: np.ndarray, ns: str) -> list[int]:
            scope = models.Filter(must=[models.FieldCondition(key="namespace", match=models.MatchValue(value=ns))])
            hits = client.query_points(name, query=q.tolist(), query_filter=scope, limit=K).points
            return [int(hit.id) for hit in hits]

        row = measure("qdrant-client local (:memory:)", work, search, n_queries, warmup)
    finally:
        client.close()
    setup.append(["qdrant-client local", work.size, f"{load_s:.1f}", "n/a"])
    return row


def local_queries(size: int, n_queries: int, cap_above: int, capped: int) -> int:
    """qdrant-client local mode is brute force in Python; at large N a few hundred queries take
    minutes, so it answers fewer (the table's ``queries`` column says how many)."""
    return min(n_queries, capped) if size > cap_above else n_queries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="numbers of memories")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per backend")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries run first")
    parser.add_argument("--batch", type=int, default=1000, help="write batch size for loading")
    parser.add_argument(
        "--local-queries", type=int, default=50, help="queries for qdrant-client local mode when N > 20,000"
    )
    args = parser.parse_args(argv)
    # Local mode warns above 20,000 points; being slow there is what its row shows.
    warnings.filterwarnings("ignore", message="Local mode is not recommended")

    print_header("Filtered search: top-10 within one of 10 namespaces, 384-d, cosine")
    rows: list[Row] = []
    setup: list[list[object]] = []
    for size in args.sizes:
        print(f"N={size:,}: generating data and exact answers ...", file=sys.stderr, flush=True)
        work = make_workload(size, args.queries)
        rows.append(bench_numpy(work, args.queries, args.warmup))
        print(f"N={size:,}: omega (Edge) ...", file=sys.stderr, flush=True)
        rows.extend(bench_omega(work, args.queries, args.warmup, args.batch, setup))
        print(f"N={size:,}: qdrant-client local ...", file=sys.stderr, flush=True)
        n_local = local_queries(size, args.queries, 20_000, args.local_queries)
        rows.append(bench_qdrant_local(work, n_local, min(args.warmup, 5), args.batch, setup))
    print(markdown_table(["backend", "N", "queries", "p50 ms", "p99 ms", "recall@10"], [r.cells() for r in rows]))
    print()
    print(markdown_table(["backend", "N", "load s", "optimize s"], setup))
    print_footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
