"""Re-embedding throughput: ``Memory.reembed()`` beside re-embedding by hand, on the same data.

N memories (short sentences, a random 384-d vector each, model ``bench-old``), round robin over
ten namespaces, in the embedded default (SQLite log + Qdrant Edge). Each way then gives every
memory a 256-d vector of a stand-in model (``bench-new``) that hands out precomputed random
vectors, so its own time is a few microseconds per text; that time is measured and subtracted:
the rates are the memory layer's, excluding the model.

* ``reembed()``: new vectors recorded in the log (one ``memory.reembedded`` event each), a new
  embedding space filled while the old one serves, one switch, a pass for writes made meanwhile.
  While it runs, another thread searches the collection without pause: its latency says what the
  re-embedding costs the readers.
* by hand: what users of stores without re-embedding do: read every memory (``scan``) and write
  it into a new collection with the new vector (``writer()``, batches of 1,000); no switch, the
  application moves to the new collection itself.
* ``rebuild()`` of the re-embedded memory: a replay of the whole log, the floor of applying events.

Run::

    .venv/bin/python benchmarks/reembed.py                 # N = 100,000
    .venv/bin/python benchmarks/reembed.py --sizes 5000    # a quick smoke run
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence

import numpy as np
from _common import NAMESPACES, markdown_table, namespace_of, percentiles_ms, print_footer, print_header, scratch_dir

from omega_memory_plugin import Memory

OLD_DIM, NEW_DIM = 384, 256


class Precomputed:
    """A stand-in model: random unit vectors handed out in turn, its own time counted."""

    name = "bench-new"
    dimension = NEW_DIM

    def __init__(self, n: int, seed: int = 7) -> None:
        vectors = np.random.default_rng(seed).standard_normal((n, NEW_DIM), dtype=np.float32)
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        self.next = 0
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        start = time.perf_counter()
        rows = [self.vectors[(self.next + i) % len(self.vectors)] for i in range(len(texts))]
        self.next += len(texts)
        self.seconds += time.perf_counter() - start
        return rows


def _text(i: int) -> str:
    return f"memory {i} of tenant {namespace_of(i)}: note number {i * 7919 % 100_003} about topic {i % 97}"


def _fill(memory: Memory, n: int) -> None:
    vectors = np.random.default_rng(3).standard_normal((n, OLD_DIM), dtype=np.float32)
    with memory.writer(batch_size=1000) as writer:
        for i in range(n):
            writer.upsert(
                _text(i), id=f"m{i}", vectors=vectors[i], namespace=namespace_of(i), embedding_model="bench-old"
            )
    memory.optimize()


def _search_meanwhile(memory: Memory, stop: threading.Event, samples: list[float]) -> None:
    # BM25: the query needs no vector of either model, so it runs unchanged across the switch.
    j = 0
    while not stop.is_set():
        start = time.perf_counter()
        memory.search(text=f"note number {j}", mode="sparse", namespace=namespace_of(j), limit=10)
        samples.append(time.perf_counter() - start)
        j += 1


def run(n: int) -> list[list[object]]:
    rows: list[list[object]] = []
    with scratch_dir("omega-reembed-") as tmp:
        memory = Memory(f"{tmp}/omega")
        _fill(memory, n)
        model = Precomputed(n)
        samples: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=_search_meanwhile, args=(memory, stop, samples))
        reader.start()
        start = time.perf_counter()
        report = memory.reembed(model, batch_size=256, progress=False)
        seconds = time.perf_counter() - start
        stop.set()
        reader.join()
        p50, p99 = percentiles_ms(samples)
        own = seconds - model.seconds
        rows.append(
            [
                "omega reembed() (log events, switch)",
                n,
                round(seconds, 1),
                round(model.seconds, 2),
                n / own,
                f"{len(samples)} searches, p50 {p50:.2f} / p99 {p99:.1f} ms",
            ]
        )
        assert report.embedded + report.reused == n and memory.verify().ok

        start = time.perf_counter()
        events = memory.rebuild(progress=False)
        seconds = time.perf_counter() - start
        rows.append(
            ["omega rebuild() of the result: events replayed", events, round(seconds, 1), 0.0, events / seconds, ""]
        )
        memory.close()

        memory = Memory(f"{tmp}/by-hand")
        _fill(memory, n)
        model = Precomputed(n)
        samples, stop = [], threading.Event()
        reader = threading.Thread(target=_search_meanwhile, args=(memory, stop, samples))
        reader.start()
        start = time.perf_counter()
        with memory.writer(batch_size=1000) as writer:
            for k in range(NAMESPACES):
                records = memory.scan(namespace=f"ns{k}", limit=None)
                vectors = model.embed([r.text for r in records])
                for record, vector in zip(records, vectors, strict=True):
                    writer.upsert(
                        record.text,
                        id=record.id,
                        vectors=vector,
                        metadata=record.metadata,
                        namespace=record.namespace,
                        collection="reembedded",
                        embedding_model=model.name,
                    )
        seconds = time.perf_counter() - start
        stop.set()
        reader.join()
        p50, p99 = percentiles_ms(samples)
        rows.append(
            [
                "by hand: scan + writer() into a new collection",
                n,
                round(seconds, 1),
                round(model.seconds, 2),
                n / (seconds - model.seconds),
                f"{len(samples)} searches, p50 {p50:.2f} / p99 {p99:.1f} ms",
            ]
        )
        memory.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    args = parser.parse_args()
    print_header("Re-embedding throughput (embedded default)")
    rows = [row for n in args.sizes for row in run(n)]
    headers = ["way", "memories", "seconds", "model's own s", "memories/s excl. model", "searches meanwhile"]
    print(markdown_table(headers, rows))
    print_footer()


if __name__ == "__main__":
    main()
