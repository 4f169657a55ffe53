"""What crypto-shredding costs (issue 15): ingest and replay with encryption on and off, side by
side in one run, and ``forget()`` of a subject with 10,000 memories.

Embedded default (SQLite log + Qdrant Edge), 384-d memories with explicit vectors in ten
namespaces. Encryption on (the default) seals each memory's text, metadata and vectors with
AES-256-GCM under its subject's key (the namespace's here); off stores them in clear. Rows
alternate on and off within each repetition, so that a busy machine weighs on both alike.

- ingest: ``transaction()`` batches of 1,000, and one ``upsert()`` call per memory;
- replay: ``rebuild()`` of the log the transaction run wrote (each event opened with its key);
- forget: a subject (namespace) holding ``--forget`` memories beside as many of others:
  ``forget(subject)`` with the index rebuilt (the default, so that no index file keeps the text)
  and with ``compact_index=False``; then ``compact(grace=0)`` dropping the forgotten ciphertext.

Run::

    .venv/bin/python benchmarks/lifecycle.py                       # 20,000 memories, 5 runs
    .venv/bin/python benchmarks/lifecycle.py --items 2000 --single 200 --forget 1000 --repeat 1  # smoke
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

import numpy as np
from _common import markdown_table, median, namespace_of, print_footer, print_header, random_vectors, scratch_dir, timed

from omega_memory_plugin import Memory
from omega_memory_plugin.settings import Settings


def by_transactions(memory: Memory, vectors: np.ndarray, batch: int = 1000) -> None:
    for start in range(0, len(vectors), batch):
        with memory.transaction() as tx:
            for i in range(start, min(start + batch, len(vectors))):
                tx.upsert(f"memory {i} of a user", id=str(i), vectors=vectors[i], namespace=namespace_of(i))


def one_by_one(memory: Memory, vectors: np.ndarray) -> None:
    for i, vector in enumerate(vectors):
        memory.upsert(f"memory {i} of a user", id=str(i), vectors=vector, namespace=namespace_of(i))


def ingest_seconds(encryption: bool, ingest: Callable[[Memory, np.ndarray], None], vectors: np.ndarray) -> float:
    with scratch_dir("omega-bench-life-") as path, Memory(path, settings=Settings(encryption=encryption)) as memory:
        return timed(lambda: ingest(memory, vectors))


def replay_seconds(encryption: bool, vectors: np.ndarray) -> tuple[int, float]:
    with scratch_dir("omega-bench-life-") as path, Memory(path, settings=Settings(encryption=encryption)) as memory:
        by_transactions(memory, vectors)
        events = memory.health()["log"]["position"]
        return events, timed(lambda: memory.rebuild(progress=False))


def forget_seconds(vectors: np.ndarray, compact_index: bool) -> tuple[int, float, float]:
    """(memories forgotten, forget seconds, compact seconds) for a subject holding half the memories."""
    half = len(vectors) // 2
    with scratch_dir("omega-bench-forget-") as path, Memory(path) as memory:
        for start in range(0, len(vectors), 1000):
            with memory.transaction() as tx:
                for i in range(start, min(start + 1000, len(vectors))):
                    namespace = "subject" if i < half else namespace_of(i)
                    tx.upsert(f"memory {i} of a user", id=str(i), vectors=vectors[i], namespace=namespace)
        memory.optimize()
        report = None

        def forget() -> None:
            nonlocal report
            report = memory.forget("subject", compact_index=compact_index)

        forgot = timed(forget)
        compacted = timed(lambda: memory.compact(grace=timedelta(0)))
        assert report is not None and report.memories == half
        return half, forgot, compacted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000, help="memories for batched ingest and replay")
    parser.add_argument("--single", type=int, default=2_000, help="memories for one upsert() per memory")
    parser.add_argument("--forget", type=int, default=10_000, help="memories of the forgotten subject")
    parser.add_argument("--repeat", type=int, default=5, help="runs per row (the median is reported)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # forget() draws a bar for its long rebuild

    print_header("Encryption on and off (AES-256-GCM per subject), and forget(), embedded default")
    vectors = random_vectors(max(args.items, 2 * args.forget))
    rates: dict[tuple[str, bool], list[float]] = {}
    for run in range(args.repeat):
        for encryption in (True, False) if run % 2 == 0 else (False, True):
            print(f"run {run + 1}, encryption {'on' if encryption else 'off'} ...", file=sys.stderr, flush=True)
            items = vectors[: args.items]
            rates.setdefault(("transaction() x1,000", encryption), []).append(
                args.items / ingest_seconds(encryption, by_transactions, items)
            )
            rates.setdefault(("upsert() one by one", encryption), []).append(
                args.single / ingest_seconds(encryption, one_by_one, items[: args.single])
            )
            events, seconds = replay_seconds(encryption, items)
            rates.setdefault(("rebuild() replay", encryption), []).append(events / seconds)
    rows = []
    for path, unit in (
        ("transaction() x1,000", "memories/s"),
        ("upsert() one by one", "memories/s"),
        ("rebuild() replay", "events/s"),
    ):
        on, off = median(rates[(path, True)]), median(rates[(path, False)])
        rows.append([path, f"{off:,.0f} {unit}", f"{on:,.0f} {unit}", f"{(off - on) / off:+.1%}"])
    print(markdown_table(["path", "encryption off", "encryption on", "cost of encryption"], rows))
    print()

    forget_rows = []
    for compact_index in (True, False):
        print(f"forget (compact_index={compact_index}) ...", file=sys.stderr, flush=True)
        runs = [forget_seconds(vectors[: 2 * args.forget], compact_index) for _ in range(args.repeat)]
        forget_rows.append(
            [
                f"forget(subject, compact_index={compact_index})",
                runs[0][0],
                2 * args.forget,
                f"{median([r[1] for r in runs]):.2f} s",
                f"{median([r[2] for r in runs]):.2f} s",
            ]
        )
    print(
        markdown_table(
            ["call", "subject's memories", "memories in all", "forget", "then compact(grace=0)"], forget_rows
        )
    )
    print_footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
