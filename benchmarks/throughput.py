"""Ingest and replay throughput of the embedded default (SQLite log + Qdrant Edge index).

Ingest: 384-d memories with explicit vectors, spread over ten namespaces, written through

- ``with memory.transaction()`` in batches of 1,000 (SQLite ``synchronous=FULL``, the default,
  and ``NORMAL`` via ``Settings(sqlite_synchronous="NORMAL")``);
- ``memory.writer(batch_size=1000)``, the buffered writer;
- one ``memory.upsert`` call per memory (fewer items: one commit, one fsync each).

A write counts when its call returns: the events are committed to the log and applied to the index.

Replay: ``memory.rebuild(progress=False)`` on the log the transaction run wrote; events/s counts
every event replayed into the fresh index, including the final flush and the swap.

Run::

    .venv/bin/python benchmarks/throughput.py                     # 20,000 memories, 3 runs each
    .venv/bin/python benchmarks/throughput.py --items 2000 --single 200 --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Literal

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
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (the median is reported)")
    args = parser.parse_args(argv)

    print_header(f"Ingest and replay throughput: 384-d memories in 10 namespaces, batches of {args.batch:,}")
    vectors = random_vectors(args.items)
    paths: list[tuple[str, Synchronous, Ingest, np.ndarray]] = [
        (f"transaction() x{args.batch:,}", "FULL", by_transactions(args.batch), vectors),
        (f"transaction() x{args.batch:,}", "NORMAL", by_transactions(args.batch), vectors),
        (f"writer(batch_size={args.batch:,})", "FULL", by_writer(args.batch), vectors),
        ("upsert() one by one", "FULL", one_by_one, vectors[: args.single]),
        ("upsert() one by one", "NORMAL", one_by_one, vectors[: args.single]),
    ]
    rows = []
    for name, synchronous, ingest, data in paths:
        print(f"{name} ({synchronous}) ...", file=sys.stderr, flush=True)
        seconds = [run_ingest(ingest, data, synchronous) for _ in range(args.repeat)]
        rows.append(rate_row(name, synchronous, len(data), seconds, "memories/s"))
    print("replay ...", file=sys.stderr, flush=True)
    events, seconds = run_replay(vectors, args.batch, args.repeat)
    rows.append(rate_row("rebuild() replay", "FULL", events, seconds, "events/s"))
    print(markdown_table(["path", "synchronous", "items", "runs", "median rate", "min – max"], rows))
    print_footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
