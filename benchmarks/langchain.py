"""LangChain ``similarity_search`` with a metadata filter: omega's adapter beside its peers.

N documents (random 384-d vectors, ``{"group": i % 10}`` metadata) in one namespace; every query
asks for the top 10 documents of one group (10% of the store), through each store's own filter
form, in the same run:

- omega adapter: ``OmegaMemoryVectorStore.similarity_search(q, k=10, filter={"group": g})`` on the
  embedded default (SQLite log + Qdrant Edge);
- omega direct: ``Memory.search(vector, filter={"group": g}, limit=10)`` on the same memory, to
  measure what the adapter adds (query embedding lookup, Document construction);
- langchain-qdrant: ``QdrantVectorStore`` on ``QdrantClient(":memory:")`` with a
  ``models.Filter`` on ``metadata.group``;
- InMemoryVectorStore: LangChain's own, with a ``lambda doc: doc.metadata["group"] == g`` filter.

Queries are embedded by a lookup table, so embedding costs nothing and every store gets the same
vectors; recall@10 against an exact numpy answer is reported beside each latency.

Run::

    .venv/bin/python benchmarks/langchain.py                  # N = 10,000
    .venv/bin/python benchmarks/langchain.py --size 2000 --queries 50
"""

from __future__ import annotations

import argparse
import sys
import uuid
import warnings

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
from _lookup_embeddings import LookupEmbeddings
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore
from qdrant_client import QdrantClient, models

from langchain_omega_memory import OmegaMemoryVectorStore
from omega_memory_plugin import Memory

K = 10
GROUPS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    vectors = random_vectors(args.size)
    queries = random_vectors(args.queries, seed=SEED + 1)
    texts = [f"document {i}" for i in range(args.size)]
    query_texts = [f"query {j}" for j in range(args.queries)]
    table = {t: v.tolist() for t, v in zip(texts + query_texts, np.vstack([vectors, queries]), strict=True)}
    embeddings = LookupEmbeddings(table)
    metadatas = [{"group": i % GROUPS} for i in range(args.size)]
    ids = [doc_id(i) for i in range(args.size)]  # UUIDs: langchain-qdrant accepts no other string ids
    groups = [j % GROUPS for j in range(args.queries)]
    truth = _exact_answers(vectors, queries, groups)

    print_header(f"LangChain similarity_search with a filter, {args.size:,} documents, {DIM}-d, k={K}")
    with scratch_dir("omega-bench-langchain-") as tmp, Memory(tmp) as memory:
        omega = OmegaMemoryVectorStore(memory, embeddings, namespace="bench")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # langchain-qdrant warns about the local mode's speed
            qdrant = _qdrant_store(embeddings)
        in_memory = InMemoryVectorStore(embeddings)
        for store in (omega, qdrant, in_memory):
            for start in range(0, args.size, 1000):
                end = start + 1000
                store.add_texts(texts[start:end], metadatas[start:end], ids=ids[start:end])

        runs = {
            "omega adapter (Edge)": [
                lambda q=q, g=g: [d.id for d in omega.similarity_search(q, k=K, filter={"group": g})]
                for q, g in zip(query_texts, groups, strict=True)
            ],
            "omega Memory.search (direct)": [
                lambda v=v, g=g: [
                    r.id
                    for r in memory.search(v, filter={"group": g}, limit=K, namespace="bench", collection="langchain")
                ]
                for v, g in zip(queries.tolist(), groups, strict=True)
            ],
            "langchain-qdrant (:memory:)": [
                # langchain-qdrant leaves Document.id empty and puts the id in metadata["_id"]
                lambda q=q, g=g: [d.metadata["_id"] for d in qdrant.similarity_search(q, k=K, filter=_qdrant_filter(g))]
                for q, g in zip(query_texts, groups, strict=True)
            ],
            "InMemoryVectorStore": [
                lambda q=q, g=g: [
                    d.id
                    for d in in_memory.similarity_search(q, k=K, filter=lambda doc, g=g: doc.metadata["group"] == g)
                ]
                for q, g in zip(query_texts, groups, strict=True)
            ],
        }
        rows = []
        p50s: dict[str, float] = {}
        for name, calls in runs.items():
            durations, answers = time_each(calls, warmup=20)
            p50, p99 = percentiles_ms(durations)
            p50s[name] = p50
            rows.append([name, p50, p99, _recall(answers, truth)])
        base = p50s["omega adapter (Edge)"]
        table_rows = [[*row[:3], f"{p50s[row[0]] / base:.2f}x", f"{row[3]:.3f}"] for row in rows]
        print(markdown_table(["store", "p50 ms", "p99 ms", "p50 vs omega adapter", "recall@10"], table_rows))
        overhead = _paired_overhead_us(runs["omega adapter (Edge)"], runs["omega Memory.search (direct)"])
        print(
            f"\n- adapter overhead over a direct `Memory.search`, the same query timed back to back: "
            f"median {overhead:.0f} µs (target < 300 µs)"
        )
    print_footer()


def _paired_overhead_us(adapter: list, direct: list) -> float:
    """Median of (adapter - direct) over the same queries, each pair run back to back, so that
    machine noise between runs does not swamp a difference far smaller than one search."""
    differences = []
    for _ in range(3):
        for a, d in zip(adapter, direct, strict=True):
            differences.append(timed(a) - timed(d))
    return float(np.median(differences)) * 1e6


def doc_id(i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"doc-{i}"))


def _qdrant_store(embeddings: Embeddings) -> VectorStore:
    from langchain_qdrant import QdrantVectorStore

    client = QdrantClient(":memory:")
    client.create_collection("bench", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    return QdrantVectorStore(client, "bench", embeddings)


def _qdrant_filter(group: int) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="metadata.group", match=models.MatchValue(value=group))])


def _exact_answers(vectors: np.ndarray, queries: np.ndarray, groups: list[int]) -> list[set[str]]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    answers = []
    for query, group in zip(queries, groups, strict=True):
        rows = np.arange(group, len(vectors), GROUPS)
        scores = unit[rows] @ (query / np.linalg.norm(query))
        answers.append({doc_id(int(rows[i])) for i in np.argsort(-scores)[:K]})
    return answers


def _recall(answers: list[list[str | None]], truth: list[set[str]]) -> float:
    return float(np.mean([len(set(a) & t) / K for a, t in zip(answers, truth, strict=True)]))


if __name__ == "__main__":
    sys.exit(main())
