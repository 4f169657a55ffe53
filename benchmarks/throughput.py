"""Ingest and replay throughput of the embedded default (SQLite log + Qdrant Edge index).

Ingest: 384-d memories with explicit vectors, spread over ten namespaces, written through

- ``with memory.transaction()`` in batches of 1,000 (SQLite ``synchronous=FULL``, the default,
  and ``NORMAL`` via ``Settings(sqlite_synchronous="NORMAL")``);
- ``memory.writer(batch_size=1000)``, the buffered writer;
- one ``memory.upsert`` call per memory (fewer items; each call waits for the previous one);
- concurrent single writes, which group commit gathers into shared commits: 500 concurrent
  ``provider.store()`` coroutines (the OMEGA provider, vectors as lists, as a provider receives
  them) and ``memory.upsert`` from 32 threads; beside them qdrant-client local mode (on disk)
  upserting one point per call (one thread: it is not safe for concurrent calls).

A write counts when its call returns: the events are committed to the log and applied to the index.

Floors, in the same run: raw ``sqlite3`` inserting rows like the log's (a JSON body and the vector
as a blob, commits of 1,000, WAL, ``synchronous=FULL``), and qdrant-edge-py upserting points with
the vector and a namespace payload in batches of 1,000, prebuilt (the engine alone) and built in
the loop (what any Python caller of Edge pays). With ``--peers-python`` (an interpreter with
``chromadb`` and ``lancedb``), Chroma's PersistentClient and LanceDB on the same data in the same
run (benchmarks/_peers.py): their bulk ``add`` in batches of 1,000 and one item per call from 32
threads.

Replay: ``memory.rebuild(progress=False)`` on the log the transaction run wrote; events/s counts
every event replayed into the fresh index, including the final flush and the swap.

Run::

    .venv/bin/python benchmarks/throughput.py                     # 20,000 memories, 3 runs each
    .venv/bin/python benchmarks/throughput.py --items 2000 --single 200 --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from _common import (
    markdown_table,
    median,
    namespace_of,
    print_footer,
    print_header,
    random_vectors,
    scratch_dir,
    timed,
)

from omega_memory_plugin import Memory
from omega_memory_plugin.providers import MemoryProvider
from omega_memory_plugin.settings import Settings

Synchronous = Literal["FULL", "NORMAL"]
Ingest = Callable[[Memory, np.ndarray], None]


def by_transactions(batch: int) -> Ingest:
    def ingest(memory: Memory, vectors: np.ndarray) -> None:
        for start in range(0, len(vectors), batch):
            with memory.transaction() as tx:
                for i in range(start, min(start + batch, len(vectors))):
                    tx.upsert(f"memory {i}", id=str(i), vectors=vectors[i], namespace=namespace_of(i))

    return ingest


def by_writer(batch: int) -> Ingest:
    def ingest(memory: Memory, vectors: np.ndarray) -> None:
        with memory.writer(batch_size=batch) as writer:
            for i, vector in enumerate(vectors):
                writer.upsert(f"memory {i}", id=str(i), vectors=vector, namespace=namespace_of(i))

    return ingest


def one_by_one(memory: Memory, vectors: np.ndarray) -> None:
    for i, vector in enumerate(vectors):
        memory.upsert(f"memory {i}", id=str(i), vectors=vector, namespace=namespace_of(i))


def provider_concurrent(concurrency: int) -> Ingest:
    def ingest(memory: Memory, vectors: np.ndarray) -> None:
        provider = MemoryProvider(memory)
        records = [{"id": str(i), "content": f"memory {i}", "vector": v} for i, v in enumerate(vectors.tolist())]

        async def store_all() -> None:
            # `concurrency` workers pulling from one queue: each holds one store() call in flight.
            # (An asyncio.Semaphore over all the calls would cost the harness more than the
            # writes: Python 3.11 scans its waiters on every release.)
            pending = iter(records)

            async def worker() -> None:
                for record in pending:
                    await provider.store("default", record)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

        asyncio.run(store_all())

    return ingest


def threads_concurrent(threads: int) -> Ingest:
    def ingest(memory: Memory, vectors: np.ndarray) -> None:
        lists = vectors.tolist()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda i: memory.upsert(f"memory {i}", id=str(i), vectors=lists[i]), range(len(lists))))

    return ingest


def qdrant_local_one_by_one(vectors: np.ndarray) -> float:
    """Seconds for qdrant-client local mode (on disk) to take one point per upsert call. One
    thread: local mode is not safe for concurrent calls (its SQLite cursor fails)."""
    from qdrant_client import QdrantClient, models

    lists = vectors.tolist()
    with scratch_dir("omega-bench-qdrant-local-") as path:
        client = QdrantClient(path=path)
        client.create_collection(
            "bench", vectors_config=models.VectorParams(size=vectors.shape[1], distance=models.Distance.COSINE)
        )

        def upsert(i: int) -> None:
            point = models.PointStruct(
                id=i, vector=lists[i], payload={"text": f"memory {i}", "namespace": namespace_of(i)}
            )
            client.upsert("bench", [point])

        try:
            return timed(lambda: [upsert(i) for i in range(len(lists))])
        finally:
            client.close()


def floor_sqlite(vectors: np.ndarray, batch: int) -> float:
    """Seconds for raw ``sqlite3`` to store rows like the log's (id, stream, a JSON body, the
    float32 vector as a blob) in WAL mode, ``synchronous=FULL``, one commit per ``batch``."""
    import sqlite3
    import uuid

    with scratch_dir("omega-bench-sqlite-") as path:
        db = sqlite3.connect(f"{path}/floor.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, event_id BLOB UNIQUE, namespace TEXT, "
            "memory_id TEXT, version INTEGER, data TEXT, vectors BLOB, UNIQUE (namespace, memory_id, version))"
        )

        def insert() -> None:
            for start in range(0, len(vectors), batch):
                rows = [
                    (
                        i + 1,
                        uuid.uuid4().bytes,
                        namespace_of(i),
                        str(i),
                        1,
                        json.dumps({"text": f"memory {i}"}),
                        vectors[i].tobytes(),
                    )
                    for i in range(start, min(start + batch, len(vectors)))
                ]
                db.execute("BEGIN IMMEDIATE")
                db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?)", rows)
                db.execute("COMMIT")

        try:
            return timed(insert)
        finally:
            db.close()


def floor_edge(vectors: np.ndarray, batch: int, prebuilt: bool) -> float:
    """Seconds for qdrant-edge-py alone to upsert points (the dense vector, a namespace payload
    with a tenant index) in batches of ``batch``. ``prebuilt``: the ``Point`` objects are made
    before the clock starts, so only the engine's upsert is timed."""
    import qdrant_edge as qe

    with scratch_dir("omega-bench-edge-") as path:
        config = qe.EdgeConfig(
            vectors={"dense": qe.EdgeVectorParams(size=vectors.shape[1], distance=qe.Distance.Cosine)},
            wal_enabled=False,
        )
        shard = qe.EdgeShard.create(path, config)
        shard.update(qe.UpdateOperation.create_field_index("namespace", qe.KeywordIndexParams(is_tenant=True)))

        def points(start: int) -> list[Any]:
            end = min(start + batch, len(vectors))
            return [
                qe.Point(i, {"dense": vectors[i].tolist()}, {"namespace": namespace_of(i)}) for i in range(start, end)
            ]

        built = [points(start) for start in range(0, len(vectors), batch)] if prebuilt else []

        def upsert() -> None:
            for n, start in enumerate(range(0, len(vectors), batch)):
                shard.update(qe.UpdateOperation.upsert_points(built[n] if prebuilt else points(start)))
            shard.flush()

        try:
            return timed(upsert)
        finally:
            shard.close()


def peer_rows(args: argparse.Namespace) -> list[list[object]]:
    """Chroma and LanceDB measured by benchmarks/_peers.py in their own interpreter, in this run."""
    script = Path(__file__).with_name("_peers.py")
    flags = ["--items", str(args.items), "--concurrent", str(args.concurrent), "--batch", str(args.batch)]
    done = subprocess.run(
        [args.peers_python, str(script), *flags, "--repeat", str(args.repeat)],
        capture_output=True,
        text=True,
        cwd=script.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks/_peers.py failed:\n{done.stderr}")
    rows = []
    for line in done.stdout.splitlines():
        row = json.loads(line)
        rows.append(rate_row(row["path"], "–", row["items"], row["seconds"], row["unit"]))
    return rows


def run_ingest(ingest: Ingest, vectors: np.ndarray, synchronous: Synchronous) -> float:
    """Seconds to write ``vectors`` into a fresh memory (opening and closing are not counted)."""
    with scratch_dir("omega-bench-ingest-") as path:
        with Memory(path, settings=Settings(sqlite_synchronous=synchronous)) as memory:
            return timed(lambda: ingest(memory, vectors))


def run_replay(vectors: np.ndarray, batch: int, repeat: int) -> tuple[int, list[float]]:
    """Write the log once, then rebuild the index from it ``repeat`` times; (events, seconds)."""
    with scratch_dir("omega-bench-replay-") as path, Memory(path) as memory:
        by_transactions(batch)(memory, vectors)
        events = memory.health()["log"]["position"]
        return events, [timed(lambda: memory.rebuild(progress=False)) for _ in range(repeat)]


def rate_row(path: str, synchronous: str, items: int, seconds: list[float], unit: str) -> list[object]:
    rates = [items / s for s in seconds]
    spread = f"{min(rates):,.0f} – {max(rates):,.0f}" if len(rates) > 1 else "–"
    return [path, synchronous, items, len(seconds), f"{median(rates):,.0f} {unit}", spread]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000, help="memories for the batched paths and replay")
    parser.add_argument("--single", type=int, default=2_000, help="memories for one-upsert-per-call")
    parser.add_argument("--batch", type=int, default=1000, help="transaction / writer batch size")
    parser.add_argument("--concurrent", type=int, default=5_000, help="memories for the concurrent single writes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (the median is reported)")
    parser.add_argument(
        "--peers-python",
        default=os.environ.get("OMEGA_BENCH_PEERS_PYTHON"),
        help="an interpreter with chromadb and lancedb installed, to measure them in the same run (benchmarks/_peers.py)",
    )
    args = parser.parse_args(argv)

    print_header(f"Ingest and replay throughput: 384-d memories in 10 namespaces, batches of {args.batch:,}")
    vectors = random_vectors(args.items)
    paths: list[tuple[str, Synchronous, Ingest, np.ndarray]] = [
        (f"transaction() x{args.batch:,}", "FULL", by_transactions(args.batch), vectors),
        (f"transaction() x{args.batch:,}", "NORMAL", by_transactions(args.batch), vectors),
        (f"writer(batch_size={args.batch:,})", "FULL", by_writer(args.batch), vectors),
        ("upsert() one by one", "FULL", one_by_one, vectors[: args.single]),
        ("upsert() one by one", "NORMAL", one_by_one, vectors[: args.single]),
        ("provider store(), 500 concurrent", "FULL", provider_concurrent(500), vectors[: args.concurrent]),
        ("upsert() from 32 threads", "FULL", threads_concurrent(32), vectors[: args.concurrent]),
    ]
    rows = []
    for name, synchronous, ingest, data in paths:
        print(f"{name} ({synchronous}) ...", file=sys.stderr, flush=True)
        seconds = [run_ingest(ingest, data, synchronous) for _ in range(args.repeat)]
        rows.append(rate_row(name, synchronous, len(data), seconds, "memories/s"))
    print("floors ...", file=sys.stderr, flush=True)
    floors = [
        ("floor: raw sqlite3 insert of the log's rows", "FULL", lambda: floor_sqlite(vectors, args.batch), "rows/s"),
        (
            "floor: qdrant-edge-py upsert of prebuilt points",
            "–",
            lambda: floor_edge(vectors, args.batch, True),
            "points/s",
        ),
        (
            "floor: qdrant-edge-py, building the points too",
            "–",
            lambda: floor_edge(vectors, args.batch, False),
            "points/s",
        ),
    ]
    for name, synchronous, run, unit in floors:
        seconds = [run() for _ in range(args.repeat)]
        rows.append(rate_row(name, synchronous, len(vectors), seconds, unit))
    print("qdrant-client local ...", file=sys.stderr, flush=True)
    seconds = [qdrant_local_one_by_one(vectors[: args.concurrent]) for _ in range(args.repeat)]
    peer = "qdrant-client local (path), upsert() of one point per call"
    rows.append(rate_row(peer, "–", args.concurrent, seconds, "points/s"))
    if args.peers_python:
        print("chroma and lancedb ...", file=sys.stderr, flush=True)
        rows += peer_rows(args)
    else:
        print("(no --peers-python: chroma and lancedb not measured)", file=sys.stderr)
    print("replay ...", file=sys.stderr, flush=True)
    events, seconds = run_replay(vectors, args.batch, args.repeat)
    rows.append(rate_row("rebuild() replay", "FULL", events, seconds, "events/s"))
    print(markdown_table(["path", "synchronous", "items", "runs", "median rate", "min – max"], rows))
    print_footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
