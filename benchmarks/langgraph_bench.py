"""LangGraph persistence: omega's checkpointer and store beside LangGraph's own, in one run.

Checkpointer: ``THREADS`` threads of ``STEPS`` steps each, as a chat agent makes them: every step
puts a checkpoint whose ``messages`` channel holds the thread's messages so far (about 300 bytes
each), plus one pending write of the step's task; then the latest checkpoint of each thread is
read back (``get_tuple``), a past one by id, and the last 10 are listed. Savers:

- ``OmegaSaver`` on the embedded default (SQLite log + Qdrant Edge);
- ``InMemorySaver`` (LangGraph's own, a dict: the floor);
- ``SqliteSaver`` (``langgraph-checkpoint-sqlite``, a file with WAL).

Store: N items (random 384-d vectors by a lookup table, so embedding costs nothing and every store
gets the same vectors) in 10 namespaces ``("users", "u<i>")``, ingested 1,000 per ``batch``; then
a semantic search in one namespace (top 10), and a filter-only search. ``OmegaStore`` beside
``InMemoryStore``; ``SqliteStore`` for the filter-only search only, since its vector search needs
SQLite's loadable extensions (``sqlite-vec``), which this Python build does not have.

Run::

    .venv/bin/python benchmarks/langgraph_bench.py                 # 10,000 items
    .venv/bin/python benchmarks/langgraph_bench.py --size 2000 --threads 5
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver, Checkpoint, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.base import BaseStore, PutOp
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite import SqliteStore
from langgraph_omega_memory import OmegaSaver, OmegaStore

from omega_memory_plugin import Memory

K = 10
GROUPS = 10


def thread_steps(
    saver: BaseCheckpointSaver[Any], thread: str, steps: int
) -> tuple[list[float], list[float], list[str]]:
    """One thread's steps: (put durations, put_writes durations, checkpoint ids)."""
    puts, writes, ids = [], [], []
    config: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    messages: list[Any] = []
    version: Any = None
    for step in range(steps):
        messages = [*messages, HumanMessage(f"turn {step}: " + "words " * 40), AIMessage("reply " * 40)]
        version = saver.get_next_version(version, None)
        checkpoint: Checkpoint = {
            **empty_checkpoint(),
            "id": str(uuid6(clock_seq=step)),
            "channel_values": {"messages": messages, "step": step},
            "channel_versions": {"messages": version, "step": version},
            "versions_seen": {"agent": {"messages": version}},
        }
        metadata: Any = {"source": "loop", "step": step, "parents": {}}
        new_versions = {"messages": version, "step": version}
        put = (config, checkpoint, metadata, new_versions)
        puts.append(timed(lambda put=put: config.update(saver.put(*put))))  # type: ignore[misc]
        write = [("messages", [AIMessage("next")])]
        writes.append(timed(lambda write=write: saver.put_writes(config, write, str(uuid.uuid4()))))
        ids.append(checkpoint["id"])
    return puts, writes, ids


def bench_saver(name: str, saver: BaseCheckpointSaver[Any], threads: int, steps: int) -> list[object]:
    puts: list[float] = []
    writes: list[float] = []
    ids: dict[str, list[str]] = {}
    for t in range(threads):
        p, w, ids[f"t{t}"] = thread_steps(saver, f"t{t}", steps)
        puts += p
        writes += w
    latest = [lambda t=t: saver.get_tuple({"configurable": {"thread_id": t, "checkpoint_ns": ""}}) for t in ids]
    middle = {t: c[len(c) // 2] for t, c in ids.items()}
    past = [
        lambda t=t, c=c: saver.get_tuple({"configurable": {"thread_id": t, "checkpoint_ns": "", "checkpoint_id": c}})
        for t, c in middle.items()
    ]
    listed = [lambda t=t: list(saver.list({"configurable": {"thread_id": t}}, limit=10)) for t in ids]
    rows: list[object] = [name]
    for samples in (puts, writes):
        rows += percentiles_ms(samples)
    for calls in (latest * 5, past * 5, listed * 3):
        durations, answers = time_each(calls, warmup=len(ids))
        assert all(answers)
        rows += percentiles_ms(durations)[:1]
    return rows


def bench_store(name: str, store: BaseStore, texts: list[str], queries: list[str], semantic: bool) -> list[object]:
    size = len(texts)
    ingest = 0.0
    for start in range(0, size, 1000):
        ops = [
            PutOp(("users", f"u{i % GROUPS}"), f"item-{i}", {"text": texts[i], "group": i % GROUPS, "rank": i})
            for i in range(start, min(start + 1000, size))
        ]
        ingest += timed(lambda ops=ops: store.batch(ops))
    row: list[object] = [name, size / ingest]
    if semantic:
        calls: list[Callable[[], object]] = [
            lambda q=q, j=j: store.search(("users", f"u{j % GROUPS}"), query=q, limit=K) for j, q in enumerate(queries)
        ]
        durations, answers = time_each(calls, warmup=20)
        assert all(len(a) == K for a in answers)  # type: ignore[arg-type]
        row += percentiles_ms(durations)
    else:
        row += ["n/a", "n/a"]
    filtered: list[Callable[[], object]] = [
        lambda j=j: store.search(("users",), filter={"group": j % GROUPS, "rank": {"$lt": 200}}, limit=K)
        for j in range(len(queries))
    ]
    durations, answers = time_each(filtered, warmup=20)
    assert all(len(a) == K for a in answers)  # type: ignore[arg-type]
    row += percentiles_ms(durations)[:1]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    print_header(
        f"LangGraph checkpointer ({args.threads} threads x {args.steps} steps) and store "
        f"({args.size:,} items, {DIM}-d), side by side"
    )
    with scratch_dir("omega-bench-langgraph-") as tmp:
        savers: list[tuple[str, Callable[[], Any]]] = [
            ("OmegaSaver (SQLite + Edge)", lambda: OmegaSaver(Memory(Path(tmp) / "saver"))),
            ("InMemorySaver", InMemorySaver),
            (
                "SqliteSaver (file, WAL)",
                lambda: SqliteSaver(sqlite3.connect(Path(tmp) / "saver.db", check_same_thread=False)),
            ),
        ]
        rows = []
        for name, make in savers:
            saver = make()
            rows.append(bench_saver(name, saver, args.threads, args.steps))
            if isinstance(saver, OmegaSaver):
                saver.memory.close()
        print("### Checkpointer\n")
        print(
            markdown_table(
                [
                    "saver",
                    "put p50 ms",
                    "put p99 ms",
                    "put_writes p50 ms",
                    "put_writes p99 ms",
                    "get latest p50 ms",
                    "get by id p50 ms",
                    "list 10 p50 ms",
                ],
                rows,
            )
        )

        vectors = random_vectors(args.size)
        query_vectors = random_vectors(args.queries, seed=SEED + 1)
        texts = [f"document {i}" for i in range(args.size)]
        queries = [f"query {j}" for j in range(args.queries)]
        table = {t: v.tolist() for t, v in zip(texts + queries, np.vstack([vectors, query_vectors]), strict=True)}
        index: Any = {"dims": DIM, "embed": LookupEmbeddings(table), "fields": ["text"]}
        stores: list[tuple[str, Callable[[], BaseStore], bool]] = [
            ("OmegaStore (SQLite + Edge)", lambda: OmegaStore(Memory(Path(tmp) / "store"), index=index), True),
            ("InMemoryStore", lambda: InMemoryStore(index=index), True),
            (
                "SqliteStore (file, no vector index)",
                lambda: _sqlite_store(Path(tmp) / "store.db"),
                False,
            ),
        ]
        rows = []
        for name, make_store, semantic in stores:
            store = make_store()
            rows.append(bench_store(name, store, texts, queries, semantic))
            if isinstance(store, OmegaStore):
                store.memory.close()
        print("\n### Store\n")
        print(
            markdown_table(
                ["store", "ingest items/s", "semantic top-10 p50 ms", "semantic p99 ms", "filter-only p50 ms"], rows
            )
        )
    print_footer()


def _sqlite_store(path: Path) -> SqliteStore:
    store = SqliteStore(sqlite3.connect(path, check_same_thread=False, isolation_level=None))
    store.setup()
    return store


if __name__ == "__main__":
    sys.exit(main())
