"""The write paths of the peers a user would pick instead of omega, for throughput.py.

Run by throughput.py with another interpreter (``--peers-python``), one that has ``chromadb`` and
``lancedb`` installed: they pin versions of shared packages (pydantic, numpy, opentelemetry) that
omega's own environment must not inherit. It imports nothing of omega and prints one JSON line per
row: ``{"path": ..., "items": n, "seconds": [...], "unit": ...}``.

The same data as throughput.py (``_common.random_vectors``, ten namespaces round robin):

- bulk: batches of ``--batch`` through each peer's own bulk call (Chroma ``collection.add``,
  LanceDB ``table.add``), into an on-disk store;
- concurrent single writes: one item per call from 32 threads, the peer's equivalent of many
  agents calling ``store()`` at once (Chroma's client is thread-safe; LanceDB's table too, each
  ``add`` writing a new fragment).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _common import namespace_of, random_vectors, scratch_dir, timed

Add = Callable[[range, np.ndarray], None]


def chroma(path: str, dim: int) -> Add:
    import chromadb

    client = chromadb.PersistentClient(path=path)
    collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})

    def add(indices: range, vectors: np.ndarray) -> None:
        collection.add(
            ids=[str(i) for i in indices],
            embeddings=vectors[indices.start : indices.stop],
            documents=[f"memory {i}" for i in indices],
            metadatas=[{"namespace": namespace_of(i)} for i in indices],
        )

    return add


def lance(path: str, dim: int) -> Add:
    import lancedb
    import pyarrow as pa

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("text", pa.string()),
            ("namespace", pa.string()),
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )
    table = lancedb.connect(path).create_table("bench", schema=schema)

    def add(indices: range, vectors: np.ndarray) -> None:
        block = vectors[indices.start : indices.stop]
        table.add(
            pa.table(
                {
                    "id": [str(i) for i in indices],
                    "text": [f"memory {i}" for i in indices],
                    "namespace": [namespace_of(i) for i in indices],
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), dim),
                },
                schema=schema,
            )
        )

    return add


PEERS: dict[str, Callable[[str, int], Add]] = {"chroma (PersistentClient)": chroma, "lancedb": lance}


def bulk(make: Callable[[str, int], Add], vectors: np.ndarray, batch: int) -> float:
    with scratch_dir("omega-bench-peer-") as path:
        add = make(path, vectors.shape[1])
        return timed(
            lambda: [add(range(s, min(s + batch, len(vectors))), vectors) for s in range(0, len(vectors), batch)]
        )


def concurrent(make: Callable[[str, int], Add], vectors: np.ndarray, threads: int) -> tuple[float, int]:
    """Seconds, and how many of the calls raised (LanceDB gives up on a commit conflict after
    20 retries once the table has enough versions)."""
    failed = [0]

    def one(i: int) -> None:
        try:
            add(range(i, i + 1), vectors)
        except Exception:
            failed[0] += 1

    with scratch_dir("omega-bench-peer-") as path:
        add = make(path, vectors.shape[1])
        with ThreadPoolExecutor(threads) as pool:
            return timed(lambda: list(pool.map(one, range(len(vectors))))), failed[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--concurrent", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    vectors = random_vectors(args.items)
    for name, make in PEERS.items():
        runs = [bulk(make, vectors, args.batch) for _ in range(args.repeat)]
        print(
            json.dumps(
                {"path": f"{name}: add() x{args.batch:,}", "items": args.items, "seconds": runs, "unit": "memories/s"}
            ),
            flush=True,
        )
        some = vectors[: args.concurrent]
        outcomes = [concurrent(make, some, 32) for _ in range(args.repeat)]
        failed = max(f for _, f in outcomes)
        path = f"{name}: add() of one item from 32 threads" + (f" ({failed:,} calls failed)" if failed else "")
        row = {"path": path, "items": len(some), "seconds": [s for s, _ in outcomes], "unit": "memories/s"}
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
