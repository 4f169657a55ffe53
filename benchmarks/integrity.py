"""What integrity costs (issue 9), measured side by side with main before it, in one run.

1. **Validation on the write path.** Ingest through ``memory.transaction()`` (batches of 1,000,
   384-d vectors, five metadata keys per memory) with this tree and with the base commit (main
   before the canonical-input checks), alternating runs; plus the time spent in staging alone
   (the checks, no commit), per write.
2. **Search latency during a rebuild.** N memories ingested, then ``memory.rebuild()`` on a thread
   while the caller searches in a loop (top 10 in one namespace); every search that overlapped the
   rebuild is timed. Before issue 9 the rebuild ran on the engine thread and searches waited.
3. **verify()** at N: fold the log into its live memories and compare them with the index.

Each version runs in a child process of its own (the base is extracted with ``git archive`` into
a temporary directory and put first on ``PYTHONPATH``).

Run::

    .venv/bin/python benchmarks/integrity.py                       # N = 100,000 (several minutes)
    .venv/bin/python benchmarks/integrity.py --items 5000 --ingest 5000 --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASE = "3fa82b4"  # main before issue 9


def _writes(n: int, start: int = 0) -> list[tuple[str, str, dict[str, object], np.ndarray]]:
    from _common import random_vectors

    vectors = random_vectors(start + n)[start:]
    return (
        [
            (
                f"memory {i}",
                str(i),
                {"topic": f"t{i % 7}", "year": 2000 + i % 25, "score": i / 3, "ok": i % 2 == 0, "tags": ["a", "b"]},
                vectors[i - start],
            )
            for i in range(start, start + n)
        ]
        if n
        else []
    )


def _ingest(memory: object, writes: list, batch: int = 1000) -> float:
    from _common import namespace_of

    started = time.perf_counter()
    for begin in range(0, len(writes), batch):
        with memory.transaction() as tx:  # type: ignore[attr-defined]
            for text, memory_id, metadata, vector in writes[begin : begin + batch]:
                tx.upsert(text, id=memory_id, vectors=vector, metadata=metadata, namespace=namespace_of(int(memory_id)))
    return time.perf_counter() - started


def child_ingest(items: int) -> dict[str, float]:
    from omega_memory_plugin import Memory

    writes = _writes(items)
    with tempfile.TemporaryDirectory() as tmp, Memory(tmp) as memory:
        seconds = _ingest(memory, writes)
        # Staging alone: the per-write checks of the facade, nothing committed.
        tx = memory.transaction()
        started = time.perf_counter()
        for text, memory_id, metadata, vector in writes:
            tx.upsert(text, id=memory_id, vectors=vector, metadata=metadata, namespace="ns0")
        staging = time.perf_counter() - started
        tx.rollback()
    return {"per_second": items / seconds, "staging_us": staging / items * 1e6}


def under_searches(memory: object, action: Callable[[], object], queries: np.ndarray, pause: float) -> dict[str, float]:
    """Run ``action`` on a thread while this thread searches (``pause`` seconds between searches);
    time every search that started while it ran."""
    done = threading.Event()
    spent: list[float] = []

    def run() -> None:
        started = time.perf_counter()
        action()
        spent.append(time.perf_counter() - started)
        done.set()

    latencies: list[float] = []
    worker = threading.Thread(target=run)
    worker.start()
    i = 0
    while not done.is_set():  # every search that started while the action ran (it may end after)
        started = time.perf_counter()
        memory.search(queries[i % len(queries)], namespace=f"ns{i % 10}", limit=10)  # type: ignore[attr-defined]
        latencies.append(time.perf_counter() - started)
        i += 1
        if pause:
            time.sleep(pause)
    worker.join()
    nan = float("nan")
    return {
        "seconds": spent[0],
        "searches": len(latencies),
        "p50_ms": float(np.percentile(latencies, 50)) * 1e3 if latencies else nan,
        "p99_ms": float(np.percentile(latencies, 99)) * 1e3 if latencies else nan,
        "max_ms": max(latencies) * 1e3 if latencies else nan,
    }


def _rebuild_under_searches(memory: object, queries: np.ndarray, pause: float) -> dict[str, float]:
    """Rebuild while searching (see :func:`under_searches`). Before issue 9 the first search
    issued during a rebuild waited for the whole of it."""
    measured = under_searches(memory, lambda: memory.rebuild(progress=False), queries, pause)  # type: ignore[attr-defined]
    return {"rebuild_s": measured.pop("seconds"), **measured}


def child_rebuild(items: int, do_verify: bool) -> dict[str, object]:
    from _common import random_vectors

    from omega_memory_plugin import Memory

    with tempfile.TemporaryDirectory() as tmp, Memory(tmp) as memory:
        for start in range(0, items, 10_000):
            _ingest(memory, _writes(min(10_000, items - start), start))
        memory.flush()
        queries = random_vectors(200, seed=7)
        quiet = []
        for q in queries:  # the same searches with no rebuild running: the reference latency
            started = time.perf_counter()
            memory.search(q, namespace="ns1", limit=10)
            quiet.append(time.perf_counter() - started)
        started = time.perf_counter()
        memory.rebuild(progress=False)
        result: dict[str, object] = {
            "alone_s": time.perf_counter() - started,
            "quiet_p50_ms": float(np.percentile(quiet, 50)) * 1e3,
            "tight": _rebuild_under_searches(memory, queries, 0.0),
            "paced": _rebuild_under_searches(memory, queries, 0.01),
        }
        if do_verify:
            started = time.perf_counter()
            report = memory.verify()
            result["verify_s"] = time.perf_counter() - started
            result["verify_ok"] = report.ok
    return result


def _run_child(source: Path, mode: str, items: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{HERE}"}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--items", str(items)],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="memories for the rebuild and verify rows")
    parser.add_argument("--ingest", type=int, default=20_000, help="memories per ingest run")
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs per version")
    parser.add_argument("--base", default=BASE, help="the commit to compare with")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = (
            child_ingest(args.items)
            if args.child == "ingest"
            else child_rebuild(args.items, args.child == "rebuild+verify")
        )
        print(json.dumps(result))
        return

    from _common import markdown_table, median, print_footer, print_header

    with tempfile.TemporaryDirectory(prefix="omega-base-") as base:
        archive = subprocess.run(["git", "archive", args.base], cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        versions = {f"main before issue 9 ({args.base})": Path(base), "this tree": REPO}
        print_header("Integrity: validation cost, search during rebuild, verify")
        ingest: dict[str, list[dict[str, float]]] = {name: [] for name in versions}
        for _ in range(args.repeat):
            for name, source in versions.items():  # alternate, so drift in machine load hits both
                ingest[name].append(_run_child(source, "ingest", args.ingest))
        rows = [
            [name, median([r["per_second"] for r in runs]), median([r["staging_us"] for r in runs])]
            for name, runs in ingest.items()
        ]
        before, after = rows[0][1], rows[1][1]
        print(f"### Ingest through transaction(), {args.ingest:,} memories, median of {args.repeat}\n")
        print(markdown_table(["version", "memories/s", "staging µs/write"], rows))
        print(f"\nchange in ingest rate: {(after - before) / before * 100:+.1f}%\n")

        rebuild_rows = []
        verify_line = ""
        for name, source in versions.items():
            mode = "rebuild+verify" if source == REPO else "rebuild"
            r = _run_child(source, mode, args.items)
            for label, pause in (("tight", "none"), ("paced", "10 ms")):
                x = r[label]
                rebuild_rows.append(
                    [
                        name,
                        r["alone_s"],
                        x["rebuild_s"],
                        pause,
                        int(x["searches"]),
                        r["quiet_p50_ms"],
                        x["p50_ms"],
                        x["p99_ms"],
                        x["max_ms"],
                    ]
                )
            if "verify_s" in r:
                verify_line = f"verify() at {args.items:,} memories: {r['verify_s']:.2f} s (ok={r['verify_ok']})"
        print(f"### Searches during a rebuild of {args.items:,} memories (top 10, one namespace)\n")
        print(
            markdown_table(
                [
                    "version",
                    "rebuild alone s",
                    "rebuild s",
                    "pause",
                    "searches",
                    "quiet p50 ms",
                    "p50 ms",
                    "p99 ms",
                    "max ms",
                ],
                rebuild_rows,
            )
        )
        print(f"\n{verify_line}")
        print_footer()


if __name__ == "__main__":
    main()
