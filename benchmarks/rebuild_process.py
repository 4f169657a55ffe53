"""``rebuild()`` with the new Edge generation built in a child process against in this process
(issue 16: the second core), side by side on one memory, in one run.

N memories (384-d, 10 namespaces, through ``transaction()`` x1,000) are ingested once; then, for
each way of building (``OMEGA_EDGE_BUILD_PROCESS`` on and off, alternating, ``--repeat`` times):

1. a rebuild alone (events/s, the optimize of the new index and the hand-over included);
2. a rebuild while the caller searches every 10 ms (top 10 in one namespace): every search that
   started during it is timed (``integrity._rebuild_under_searches``).

Run::

    .venv/bin/python benchmarks/rebuild_process.py                  # N = 100,000 (about 10 minutes)
    .venv/bin/python benchmarks/rebuild_process.py --items 30000 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from _common import markdown_table, print_footer, print_header, random_vectors
from integrity import _rebuild_under_searches
from throughput import by_transactions

from omega_memory_plugin import Memory, Settings

WAYS = {"child process": True, "this process": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vectors = random_vectors(args.items, 384)
    queries = random_vectors(50, 384, seed=9)
    alone: dict[str, list[float]] = {way: [] for way in WAYS}
    searched: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    print_header("rebuild() built in a child process against in this process")
    with tempfile.TemporaryDirectory() as tmp:
        with Memory(tmp) as memory:
            by_transactions(1000)(memory, vectors)
        for _ in range(args.repeat):
            for way, child in WAYS.items():
                with Memory(tmp, settings=Settings(edge_build_process=child)) as memory:
                    started = time.perf_counter()
                    memory.rebuild(progress=False)
                    alone[way].append(time.perf_counter() - started)
                    searched[way].append(_rebuild_under_searches(memory, queries, pause=0.01))
    rows = []
    for way in WAYS:
        runs = searched[way]
        seconds = statistics.median(alone[way])
        rows.append(
            [
                way,
                f"{seconds:.1f} s ({args.items / seconds:,.0f} ev/s)",
                ", ".join(f"{s:.1f}" for s in alone[way]),
                f"{statistics.median(r['rebuild_s'] for r in runs):.1f} s",
                f"{statistics.median(r['searches'] for r in runs):,.0f}",
                f"{statistics.median(r['p50_ms'] for r in runs):.2f}",
                f"{statistics.median(r['p99_ms'] for r in runs):.1f}",
                f"{statistics.median(r['max_ms'] for r in runs):.1f}",
            ]
        )
    print(f"\nrebuild() of {args.items:,} memories, medians of {args.repeat}")
    headers = ["built in", "rebuild alone", "runs (s)", "under searches", "searches", "p50 ms", "p99 ms", "max ms"]
    print(markdown_table(headers, rows))
    print_footer()


if __name__ == "__main__":
    main()
