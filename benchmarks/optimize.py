"""``Memory.optimize()`` after a bulk load: in place (as before) against on a copy in a child
process (from 20,000 events on), with searches every 10 ms meanwhile.

N memories (384-d, 10 namespaces, ``transaction()`` x1,000) are ingested once, unoptimized, and
the directory is copied before each run so that every run optimizes the same index. While the
optimize runs on a thread, the caller searches (top 10 in one namespace) every 10 ms; every search
that started during it is timed.

- **in place**: ``projection.optimize()`` on the engine, what ``optimize()`` did before (and
  still does below 20,000 events): every other call of the Memory waits, and qdrant-edge-py
  holds the GIL throughout;
- **on a copy, in a child process**: ``optimize()``.

Run::

    .venv/bin/python benchmarks/optimize.py                      # N = 100,000
    .venv/bin/python benchmarks/optimize.py --items 30000 --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from _common import markdown_table, print_footer, print_header, random_vectors
from integrity import under_searches
from throughput import by_transactions

from omega_memory_plugin import Memory


def _in_place(memory: Memory) -> None:
    memory._ready_engine().run(memory.projection.optimize())


WAYS: dict[str, Callable[[Memory], None]] = {
    "in place (before)": _in_place,
    "on a copy, in a child process": Memory.optimize,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print_header("optimize() in place against on a copy, searches meanwhile")
    queries = random_vectors(50, 384, seed=9)
    runs: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        loaded = Path(tmp) / "loaded"
        with Memory(loaded) as memory:
            by_transactions(1000)(memory, random_vectors(args.items, 384))
        for _ in range(args.repeat):
            for way, optimize in WAYS.items():
                here = Path(tmp) / "run"
                shutil.copytree(loaded, here)
                with Memory(here) as memory:
                    runs[way].append(under_searches(memory, lambda m=memory, o=optimize: o(m), queries, pause=0.01))
                shutil.rmtree(here)
    rows = []
    for way, measured in runs.items():
        rows.append(
            [
                way,
                ", ".join(f"{r['seconds']:.1f}" for r in measured),
                f"{statistics.median(r['searches'] for r in measured):,.0f}",
                f"{statistics.median(r['p50_ms'] for r in measured):.2f}",
                f"{statistics.median(r['p99_ms'] for r in measured):.1f}",
                f"{statistics.median(r['max_ms'] for r in measured):,.1f}",
            ]
        )
    print(f"\noptimize() of {args.items:,} memories just ingested, searches every 10 ms, medians of {args.repeat}")
    print(markdown_table(["optimize", "runs (s)", "searches", "p50 ms", "p99 ms", "max ms"], rows))
    print_footer()


if __name__ == "__main__":
    main()
