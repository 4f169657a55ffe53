"""MongoDB log topology: what opening costs as the log grows, and what each writer gets when several
append at once.

    .venv/bin/python benchmarks/mongo_topology.py                  # starts FerretDB on loopback
    OMEGA_BENCH_MONGO_URL=mongodb://localhost:27017 .venv/bin/python benchmarks/mongo_topology.py
    .venv/bin/python benchmarks/mongo_topology.py --sizes 1000 --seconds 5   # quick run

* **open**: a fresh process opens the log (``MongoEventLog.open()`` through the ``mongodb://``
  URL, as ``Memory`` does) at 0, 1,000 and 100,000 events (commits of 10 events, 4-d vectors;
  all but the last ten commits inserted in bulk through the log's own encoding, with the ring
  copy their writers would have left). Each open runs in a new Python process, which reports
  its open time, the documents the open fetched, and its RSS before and after (the median of 3).
* **appends**: 1, 2 and 4 writer processes, each with its own client and log, append one memory
  per call as fast as they can for ``--seconds`` on an empty log; appends/s per writer (min, max)
  and in total, lost races (inserts refused with E11000) and the longest single call.

FerretDB's timings say nothing about MongoDB's (it scans where MongoDB uses indexes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import encode
from pymongo import AsyncMongoClient

from omega_memory_plugin.log.mongo import MongoEventLog
from omega_memory_plugin.log.mongo_codec import commit_document
from omega_memory_plugin.testing.builders import created, upserted
from omega_memory_plugin.testing.servers.ferretdb import FerretDB

PER_COMMIT = 10

OPEN_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, resource, sys, time
    from pymongo import monitoring

    def rss_kib():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    class Fetched(monitoring.CommandListener):
        count = 0
        def started(self, event): pass
        def succeeded(self, event):
            cursor = event.reply.get("cursor") if event.command_name in ("find", "getMore") else None
            if cursor:
                got = len(cursor.get("firstBatch", cursor.get("nextBatch", [])))
                Fetched.count += got
                Fetched.by[cursor.get("ns", "?").split(".")[-1]] = Fetched.by.get(cursor.get("ns", "?").split(".")[-1], 0) + got
        def failed(self, event): pass

    Fetched.by = {}
    monitoring.register(Fetched())
    from omega_memory_plugin import Settings
    from omega_memory_plugin.log.mongo import mongo_event_log

    async def main():
        log = mongo_event_log(sys.argv[1], Settings())
        before = rss_kib()
        began = time.perf_counter()
        await log.open()
        seconds = time.perf_counter() - began
        print(json.dumps({"seconds": seconds, "documents": Fetched.count, "by": Fetched.by, "rss_before": before,
                          "rss_after": rss_kib(), "last": await log.last_position()}))
        await log.close()

    asyncio.run(main())
    """
)

WRITER_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pymongo import monitoring
    from omega_memory_plugin import Settings
    from omega_memory_plugin.log.mongo import mongo_event_log
    from omega_memory_plugin.testing.builders import upserted

    class Lost(monitoring.CommandListener):
        count = 0
        def started(self, event): pass
        def succeeded(self, event):
            errors = event.reply.get("writeErrors", []) if event.command_name == "insert" else []
            Lost.count += sum(1 for e in errors if e.get("code") == 11000)
        def failed(self, event): pass

    monitoring.register(Lost())
    url, number, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

    async def main():
        log = mongo_event_log(url, Settings())
        await log.open()
        print("ready", flush=True)
        sys.stdin.readline()
        appends, longest, end = 0, 0.0, time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.perf_counter()
            await log.append([upserted(f"w{number}-{appends}", [1.0, float(number), 0.0, 0.5])])
            longest = max(longest, time.perf_counter() - began)
            appends += 1
        print(json.dumps({"appends": appends, "longest": longest, "lost": Lost.count}), flush=True)
        await log.close()

    asyncio.run(main())
    """
)


async def build(url: str, events: int) -> None:
    """``events`` events in commits of 10: bulk through the log's encoding, the last ten appended."""
    name = url.rsplit("/", 1)[1]
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True)
    log = MongoEventLog(client[name])
    await log.open()
    if events == 0:
        await client.close()
        return
    at = (await log.append([created("c", {"dense": 4})]))[0].recorded_at
    assert at is not None
    commits = (events - 1) // PER_COMMIT
    bulk, position, docs = max(0, commits - 10), 2, []
    for commit in range(bulk):
        stamped = [
            upserted(f"m{commit}-{i}", [1.0, float(i), 0.0, 0.5]).model_copy(
                update={"version": 1, "position": position + i, "recorded_at": at}
            )
            for i in range(PER_COMMIT)
        ]
        docs.append(commit_document(stamped, at))
        position += PER_COMMIT
        if len(docs) == 1000 or commit == bulk - 1:
            await log.chain.insert_many(docs)
            await log._copy_to_ring(docs[-1], len(encode(docs[-1])))  # as its writer would
            docs = []
    writer = MongoEventLog(client[name])
    await writer.open()
    for commit in range(commits - bulk):
        await writer.append([upserted(f"last{commit}-{i}", [0.0, 1.0, 0.0, float(i)]) for i in range(PER_COMMIT)])
    rest = events - await writer.last_position()
    if rest:
        await writer.append([upserted(f"rest{i}", [0.0, 0.0, 1.0, 0.0]) for i in range(rest)])
    await client.close()


def open_cost(url: str, script: Path) -> dict[str, Any]:
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, str(script), url], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    median = sorted(runs, key=lambda r: r["seconds"])[1]
    return {**median, "rss_growth": statistics.median(r["rss_after"] - r["rss_before"] for r in runs)}


def writers(url: str, count: int, seconds: float, script: Path) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), url, str(n), str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
    results = []
    for proc in procs:
        assert proc.stdout is not None
        results.append(json.loads(proc.stdout.read().strip().splitlines()[-1]))
        proc.wait()
    return results


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {' '.join(platform.uname())}; {os.cpu_count()} cores; "
        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 1_000, 100_000])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = None
        base = os.environ.get("OMEGA_BENCH_MONGO_URL")
        if base is None:
            server = FerretDB(Path(tmp) / "fdb")
            server.start()
            base = server.url
        base = base.rstrip("/")
        open_script, writer_script = Path(tmp) / "open.py", Path(tmp) / "writer.py"
        open_script.write_text(OPEN_SCRIPT)
        writer_script.write_text(WRITER_SCRIPT)
        print(machine())
        server_name = "FerretDB 1.24 (SQLite)" if server else base.split("@")[-1]
        try:
            print(f"\n### Open ({server_name}; median of 3 fresh processes)\n")
            print(
                "| events in the log | build (s) | open (ms) | documents fetched by open | RSS growth during open (KiB) |"
            )
            print("|---:|---:|---:|---:|---:|")
            for size in args.sizes:
                url = f"{base}/topo{uuid.uuid4().hex[:8]}"
                began = time.perf_counter()
                asyncio.run(build(url, size))
                built = time.perf_counter() - began
                cost = open_cost(url, open_script)
                assert cost["last"] == size, cost
                print(
                    f"| {size:,} | {built:.1f} | {cost['seconds'] * 1000:.1f} | {cost['documents']} | {cost['rss_growth']:,.0f} |"
                )

            print(f"\n### Unpaced writers ({server_name}; {args.seconds:.0f} s, one memory per append)\n")
            print(
                "| writers | appends/s per writer (min - max) | total appends/s | lost races per append | longest call (s) |"
            )
            print("|---:|---:|---:|---:|---:|")
            for count in args.writers:
                url = f"{base}/topo{uuid.uuid4().hex[:8]}"
                asyncio.run(build(url, 0))
                results = writers(url, count, args.seconds, writer_script)
                rates = [r["appends"] / args.seconds for r in results]
                total = sum(r["appends"] for r in results)
                lost = sum(r["lost"] for r in results) / max(total, 1)
                longest = max(r["longest"] for r in results)
                print(
                    f"| {count} | {min(rates):.1f} - {max(rates):.1f} | {sum(rates):.1f} | {lost:.2f} | {longest:.2f} |"
                )
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
