"""LlamaIndex ``VectorStore.query`` with metadata filters: omega's adapter beside its peers.

N nodes (random 384-d vectors; metadata ``{"group": i % 10, "rank": i}``) in one store; every
query asks for the top 10 under a LlamaIndex ``MetadataFilters``, in two shapes, in the same run:

- ``group == g``: one group, 10% of the nodes;
- ``group in [g, g+1] AND rank >= N/2``: two groups in the upper half, also about 10%.

Stores, each answering the same ``VectorStoreQuery`` objects:

- omega adapter: ``OmegaMemoryVectorStore`` on the embedded default (SQLite log + Qdrant Edge);
- omega direct: ``Memory.search`` on the same memory with the translated filter, to measure what
  the adapter adds (filter translation, rebuilding each node from its stored JSON);
- llama-index-vector-stores-qdrant: ``QdrantVectorStore`` on ``QdrantClient(":memory:")``;
- SimpleVectorStore: LlamaIndex's own in-memory store (filters evaluated in Python).

recall@10 against an exact numpy answer is reported beside each latency.

Run::

    .venv/bin/python benchmarks/llama_index_bench.py                   # N = 10,000
    .venv/bin/python benchmarks/llama_index_bench.py --size 2000 --queries 50
"""

from __future__ import annotations

import argparse
import sys
import uuid
import warnings
from collections.abc import Callable

import numpy as np
from _common import (
    DIM,
    SEED,
    markdown_table,
    percentiles_ms,
    print_footer,
    print_header,
    random_vectors,
    scratch_dir,
    time_each,
    timed,
)
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores import SimpleVectorStore
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.vector_stores.omega_memory import OmegaMemoryVectorStore
from llama_index.vector_stores.omega_memory.filters import to_filter
from qdrant_client import QdrantClient

from omega_memory_plugin import Memory

K = 10
GROUPS = 10
BATCH = 1000


def node_id(i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"node-{i}"))  # UUIDs: the Qdrant store takes no other ids


def shapes(size: int) -> dict[str, tuple[Callable[[int], MetadataFilters], Callable[[int, np.ndarray], np.ndarray]]]:
    """Each filter shape: the LlamaIndex filters for query j, and the rows they select."""
    half = size // 2
    return {
        "group == g": (
            lambda g: MetadataFilters(filters=[MetadataFilter(key="group", value=g)]),
            lambda g, rows: rows[rows % GROUPS == g],
        ),
        "group in [g, g+1] AND rank >= N/2": (
            lambda g: MetadataFilters(
                filters=[
                    MetadataFilter(key="group", value=[g, (g + 1) % GROUPS], operator=FilterOperator.IN),
                    MetadataFilter(key="rank", value=half, operator=FilterOperator.GTE),
                ]
            ),
            lambda g, rows: rows[((rows % GROUPS == g) | (rows % GROUPS == (g + 1) % GROUPS)) & (rows >= half)],
        ),
    }


def exact_answers(vectors: np.ndarray, queries: np.ndarray, selected: list[np.ndarray]) -> list[set[str]]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    answers = []
    for query, rows in zip(queries, selected, strict=True):
        scores = unit[rows] @ (query / np.linalg.norm(query))
        answers.append({node_id(int(rows[i])) for i in np.argsort(-scores)[:K]})
    return answers


def recall(answers: list[list[str]], truth: list[set[str]]) -> float:
    return float(np.mean([len(set(a) & t) / K for a, t in zip(answers, truth, strict=True)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Local mode is not recommended")

    vectors = random_vectors(args.size)
    queries = random_vectors(args.queries, seed=SEED + 1)
    nodes = [
        TextNode(id_=node_id(i), text=f"node {i}", metadata={"group": i % GROUPS, "rank": i}, embedding=v.tolist())
        for i, v in enumerate(vectors)
    ]

    print_header(f"LlamaIndex VectorStore.query with filters, {args.size:,} nodes, {DIM}-d, top {K}")
    rows: list[list[object]] = []
    setup: list[list[object]] = []
    with scratch_dir("omega-bench-llama-index-") as tmp, Memory(tmp) as memory:
        stores: dict[str, BasePydanticVectorStore] = {
            "omega adapter (Edge)": OmegaMemoryVectorStore(memory, namespace="bench"),
            "llama-index qdrant (:memory:)": _qdrant_store(),
            "SimpleVectorStore": SimpleVectorStore(),
        }
        for name, store in stores.items():
            load_s = timed(lambda store=store: [store.add(nodes[s : s + BATCH]) for s in range(0, len(nodes), BATCH)])
            setup.append([name, args.size, f"{load_s:.1f}"])

        for shape, (make_filters, select) in shapes(args.size).items():
            groups = [j % GROUPS for j in range(args.queries)]
            truth = exact_answers(vectors, queries, [select(g, np.arange(args.size)) for g in groups])
            asks = [
                VectorStoreQuery(query_embedding=q.tolist(), similarity_top_k=K, filters=make_filters(g))
                for q, g in zip(queries, groups, strict=True)
            ]
            runs: dict[str, list[Callable[[], list[str]]]] = {
                name: [lambda store=store, ask=ask: list(store.query(ask).ids or []) for ask in asks]
                for name, store in stores.items()
            }
            runs["omega Memory.search (direct)"] = [
                lambda ask=ask: [
                    r.id
                    for r in memory.search(
                        ask.query_embedding,
                        filter=to_filter(ask.filters),
                        limit=K,
                        namespace="bench",
                        collection="llama_index",
                    )
                ]
                for ask in asks
            ]
            p50s: dict[str, float] = {}
            results = []
            for name, calls in runs.items():
                durations, answers = time_each(calls, warmup=args.warmup)
                p50, p99 = percentiles_ms(durations)
                p50s[name] = p50
                results.append((name, p50, p99, recall(answers, truth)))
            base = p50s["omega adapter (Edge)"]
            for name, p50, p99, found in results:
                rows.append([shape, name, p50, p99, f"{p50 / base:.2f}x", f"{found:.3f}"])

    print(markdown_table(["filter", "store", "p50 ms", "p99 ms", "p50 vs omega adapter", "recall@10"], rows))
    print()
    print(markdown_table(["store", "nodes", "add s (batches of 1,000)"], setup))
    print_footer()
    return 0


def _qdrant_store() -> BasePydanticVectorStore:
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    return QdrantVectorStore(client=QdrantClient(":memory:"), collection_name="bench")


if __name__ == "__main__":
    sys.exit(main())
