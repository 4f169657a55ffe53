"""One million memories on the embedded default: ingest, index build, tenant-filtered search, reopen.

N 384-d vectors in ``--namespaces`` tenants: random Gaussian (the hardest case for HNSW: no
structure at all) or, with ``--data embedding-like``, vectors of low intrinsic dimension as real
text embeddings have (``_common.embedding_like_vectors``; no model can be loaded here). They are
written with ``memory.writer(batch_size=1000)`` and explicit vectors (numpy rows). Then
``memory.optimize()`` builds the index (quantized vectors, graphs for large tenants). Queries are
new vectors of the same kind, query ``j`` scoped to one tenant, top 10; recall@10 against exact
numpy cosine top-10 within that tenant, beside every latency. With ``--skew``, tenant sizes
follow a Zipf law (a few large tenants, many small ones), as in a multi-user deployment; queries
are spread over tenants by their size.

Rows:

- ingest: seconds from the first write to the last durable one (log and index);
- optimize: the index build after it (int8 quantization; graphs for namespaces above ~130k);
  ingest + optimize is the time to a fully indexed memory;
- search (optimized) and search ``exact=True``: p50 / p99 and recall@10;
- numpy exact: the floor (one matrix-vector product over the tenant's unit rows, kept as one
  contiguous matrix, and a partial sort);
- reopen: seconds to open the memory again (no replay: the index is current) and the RSS then.

Run::

    .venv/bin/python benchmarks/million.py                          # 1,000,000 in 10 tenants
    .venv/bin/python benchmarks/million.py --namespaces 1000 --skew # 1,000 tenants, Zipf sizes
    .venv/bin/python benchmarks/million.py --namespaces 1000 --skew --data embedding-like
    .venv/bin/python benchmarks/million.py --items 50000 --queries 50   # smoke run
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Sequence

import numpy as np
from _common import (
    embedding_like_vectors,
    markdown_table,
    percentiles_ms,
    print_footer,
    print_header,
    random_vectors,
    scratch_dir,
)

from omega_memory_plugin import Memory


def tenants_of(n: int, namespaces: int, skew: bool, seed: int = 7) -> np.ndarray:
    """The tenant of each memory: round robin, or drawn from a Zipf law over the tenants."""
    if not skew:
        return np.arange(n) % namespaces
    weights = 1.0 / np.arange(1, namespaces + 1)
    return np.random.default_rng(seed).choice(namespaces, size=n, p=weights / weights.sum())


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def recall(answers: Sequence[Sequence[str]], truth: Sequence[set[str]]) -> float:
    return float(np.mean([len(set(a) & t) / len(t) for a, t in zip(answers, truth, strict=True)]))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--skew", action="store_true", help="Zipf-distributed tenant sizes")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=("random", "embedding-like"), default="random")
    args = parser.parse_args(argv)

    layout = f"{args.namespaces:,} tenants" + (" (Zipf sizes)" if args.skew else "")
    print_header(f"{args.items:,} {args.data} memories, 384-d, {layout}: ingest, optimize, filtered search, reopen")
    make = random_vectors if args.data == "random" else embedding_like_vectors
    vectors = make(args.items)
    queries = make(args.queries, seed=11)
    tenant = tenants_of(args.items, args.namespaces, args.skew)
    rng = np.random.default_rng(11)
    asked = rng.choice(tenant, size=args.queries)  # a tenant per query, in proportion to its size
    members = {int(t): np.flatnonzero(tenant == t) for t in set(asked.tolist())}
    # The floor gets each asked tenant's unit rows as one contiguous matrix, made before the clock.
    matrices = {t: unit(vectors[rows]) for t, rows in members.items()}

    truth, floor = [], []
    for query, t in zip(queries, asked, strict=True):
        started = time.perf_counter()
        scores = matrices[int(t)] @ (query / np.linalg.norm(query))
        best = np.argpartition(-scores, min(10, len(scores) - 1))[:10]
        floor.append(time.perf_counter() - started)
        truth.append({str(i) for i in members[int(t)][best]})

    rows_out: list[list[object]] = []
    with scratch_dir("omega-bench-million-") as path:
        with Memory(path) as memory:
            print("ingest ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            with memory.writer(batch_size=1000) as writer:
                for i in range(args.items):
                    writer.upsert(f"memory {i}", id=str(i), vectors=vectors[i], namespace=f"t{tenant[i]}")
            ingest = time.perf_counter() - started
            rows_out.append(
                [
                    "ingest (writer, batches of 1,000)",
                    f"{ingest:,.0f} s",
                    f"{args.items / ingest:,.0f} memories/s",
                    "",
                    "",
                ]
            )
            print("optimize ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            memory.optimize()
            build = time.perf_counter() - started
            rows_out.append(["optimize() (index build)", f"{build:,.0f} s", "", "", ""])
            rows_out.append(["ingest + optimize", f"{ingest + build:,.0f} s", "", "", ""])
            for label, exact in (("search, optimized", False), ("search, exact=True", True)):
                print(f"{label} ...", file=sys.stderr, flush=True)
                for query, t in list(zip(queries, asked, strict=True))[:10]:  # warm-up
                    memory.search(query, namespace=f"t{t}", limit=10, exact=exact)
                times, answers = [], []
                for query, t in zip(queries, asked, strict=True):
                    started = time.perf_counter()
                    hits = memory.search(query, namespace=f"t{t}", limit=10, exact=exact)
                    times.append(time.perf_counter() - started)
                    answers.append([h.id for h in hits])
                p50, p99 = percentiles_ms(times)
                rows_out.append([label, "", "", f"{p50:.2f} / {p99:.2f} ms", f"{recall(answers, truth):.3f}"])
        p50, p99 = percentiles_ms(floor)
        rows_out.append(["numpy exact (floor)", "", "", f"{p50:.2f} / {p99:.2f} ms", "1.000"])
        del matrices
        before = rss_mb()
        started = time.perf_counter()
        with Memory(path) as memory:
            opened = time.perf_counter() - started
            memory.search(queries[0], namespace=f"t{asked[0]}", limit=10)
            rows_out.append(
                [
                    "reopen (no replay)",
                    f"{opened:.2f} s",
                    "",
                    f"RSS +{rss_mb() - before:,.0f} MB",
                    "",
                ]
            )
    print(markdown_table(["step", "time", "rate", "p50 / p99", "recall@10"], rows_out))
    print_footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
