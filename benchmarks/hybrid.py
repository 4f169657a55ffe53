"""Hybrid search: latency beside dense and sparse on the same data, and retrieval quality.

**Latency.** N memories (synthetic sentences of 8-20 words drawn from a 5,000-word vocabulary with
a Zipf-like frequency, plus an order number, and a random 384-d vector each), round robin over ten
namespaces, written with ``memory.writer(batch_size=1000)`` into the embedded default (SQLite log
+ Qdrant Edge), then ``memory.optimize()``. 200 queries, query ``j`` in namespace ``ns{j % 10}``:
three words of one of that namespace's memories and a random vector; top 10. Every mode answers
the same queries in the same run: dense, sparse (BM25), hybrid with RRF and with DBSF, and dense
with MMR (diversity 0.5 over 40 candidates).

**Quality.** benchmarks/data/recall.json (written by recall_data.py): 300 memories and 300
questions with one known relevant memory each. recall@5 and MRR@10 per mode, per kind of question.
The dense side uses the built-in ``hash:384`` embedder, a bag of hashed words with no semantics:
it is a stand-in, so dense numbers say nothing about a real model.

Run::

    .venv/bin/python benchmarks/hybrid.py                      # N = 10,000 and 100,000
    .venv/bin/python benchmarks/hybrid.py --sizes 2000 --queries 50   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
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
)

from omega_memory_plugin import Memory

VOCABULARY = 5000
MODES: dict[str, dict[str, Any]] = {
    "dense": {"mode": "dense"},
    "sparse (BM25)": {"mode": "sparse"},
    "hybrid, RRF": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid, DBSF": {"mode": "hybrid", "fusion": "dbsf"},
    "dense + MMR": {"mode": "dense", "mmr": True, "diversity": 0.5, "candidates": 40},
}


def sentences(n: int, rng: np.random.Generator) -> list[str]:
    words = [f"w{i}" for i in range(VOCABULARY)]
    weights = 1.0 / np.arange(1, VOCABULARY + 1)
    weights /= weights.sum()
    lengths = rng.integers(8, 21, size=n)
    picks = rng.choice(VOCABULARY, size=int(lengths.sum()), p=weights)
    texts, start = [], 0
    for i, length in enumerate(lengths):
        body = " ".join(words[j] for j in picks[start : start + length])
        texts.append(f"{body} order ORD-{100000 + i}")
        start += length
    return texts


def latency(n: int, queries: int, warmup: int) -> list[list[object]]:
    rng = np.random.default_rng(SEED)
    texts = sentences(n, rng)
    vectors = random_vectors(n)
    query_vectors = random_vectors(queries, seed=SEED + 1)
    rows: list[list[object]] = []
    with scratch_dir("omega-hybrid-") as tmp, Memory(Path(tmp) / "m") as memory:
        with memory.writer(batch_size=1000) as writer:
            for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
                writer.upsert(text, id=str(i), vectors=vector, namespace=namespace_of(i))
        memory.optimize()
        asks = []
        for j in range(queries):
            namespace = j % NAMESPACES
            source = texts[int(rng.integers(0, n // NAMESPACES)) * NAMESPACES + namespace].split()
            words = " ".join(source[k] for k in rng.choice(len(source), size=3, replace=False))
            asks.append((words, query_vectors[j], f"ns{namespace}"))
        for name, options in MODES.items():

            def ask(words: str, vector: np.ndarray, namespace: str, options: dict[str, Any] = options) -> int:
                use_vector = None if options["mode"] == "sparse" else vector
                return len(memory.search(use_vector, text=words, namespace=namespace, limit=10, **options))

            calls = [lambda a=a: ask(*a) for a in asks]
            durations, answers = time_each(calls, warmup=warmup)
            p50, p99 = percentiles_ms(durations)
            rows.append([f"{n:,}", name, f"{p50:.2f}", f"{p99:.2f}", f"{np.mean(answers):.1f}", len(durations)])
    return rows


def quality() -> list[list[object]]:
    data = json.loads((Path(__file__).parent / "data" / "recall.json").read_text())
    rows = []
    with scratch_dir("omega-recall-") as tmp, Memory(Path(tmp) / "m", embedder="hash:384") as memory:
        with memory.writer(batch_size=1000) as writer:
            for item in data["memories"]:
                writer.upsert(item["text"], id=item["id"])
        for name, options in MODES.items():
            found: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for question in data["questions"]:
                hits = [h.id for h in memory.search(text=question["question"], limit=10, **options)]
                rank = hits.index(question["relevant"]) + 1 if question["relevant"] in hits else None
                score = (1.0 if rank is not None and rank <= 5 else 0.0, 1.0 / rank if rank else 0.0)
                found[question["kind"]].append(score)
            found["all"] = [score for scores in list(found.values()) for score in scores]
            for kind, scores in found.items():
                recall, mrr = np.mean([s[0] for s in scores]), np.mean([s[1] for s in scores])
                rows.append([name, kind, len(scores), f"{recall:.3f}", f"{mrr:.3f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    print_header("Hybrid search: latency per mode, and recall on a small evaluation")
    rows = [row for n in args.sizes for row in latency(n, args.queries, args.warmup)]
    print(markdown_table(["memories", "mode", "p50 ms", "p99 ms", "hits", "queries"], rows))
    print()
    print(markdown_table(["mode", "questions", "n", "recall@5", "MRR@10"], quality()))
    print_footer()


if __name__ == "__main__":
    main()
