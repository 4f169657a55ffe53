"""Several writer processes append to one MongoDB log while a projector follows it: nothing is
lost, nothing is applied twice, nothing is skipped (DESIGN.md, EventLog contract).

Four child processes each write 2,500 memories (10,000 in all) through their own ``Memory`` on
the shared log, racing for the next commit position, while this process projects the log into a
Qdrant Edge index and an ``after_project`` observer records every position it applies.

Each upsert is its own commit (``BATCH = 1``: 10,000 commits racing for their ``_id``), as the
issue asks. On FerretDB 1.24 every query but the inserts reads the whole collection (docs/mongo-log.md,
"FerretDB vs MongoDB"); writers learn each other's commits from the ring (a small collection), and the
projector's reads are range scans, so the run's time says nothing about MongoDB's. A larger
``BATCH`` groups upserts into transactions when a faster run is wanted.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from omega_memory_plugin import Memory, Settings, hookimpl
from omega_memory_plugin.events import Event, MemoryUpsertedEvent
from omega_memory_plugin.log.mongo import MongoEventLog

WRITERS = 4
PER_WRITER = 2_500
BATCH = 1  # upserts per commit: single appends, as the issue asks (see the module docstring)

# One writer: its own throwaway in-memory index, the shared Mongo log.
WRITER_SCRIPT = textwrap.dedent(
    """
    import sys

    from pymongo import monitoring

    from omega_memory_plugin import Memory


    class LostRaces(monitoring.CommandListener):
        # counts inserts refused with E11000: another writer took that position first
        count = 0

        def started(self, event):
            pass

        def succeeded(self, event):
            errors = event.reply.get("writeErrors", []) if event.command_name == "insert" else []
            LostRaces.count += sum(1 for e in errors if e.get("code") == 11000)

        def failed(self, event):
            pass


    monitoring.register(LostRaces())
    url, worker, count, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    with Memory(log_url=url, index_url="memory://") as memory:
        # Opened: wait for the others, so that all four write at the same time.
        print("ready", flush=True)
        sys.stdin.readline()
        for start in range(0, count, batch):
            with memory.transaction() as tx:  # one commit
                for i in range(start, min(start + batch, count)):
                    vector = [1.0, float(worker), float(i % 97), 0.5]
                    tx.upsert(f"memory {i} of writer {worker}", id=f"w{worker}-{i}", vectors=vector, namespace="n")
    print(f"lost races: {LostRaces.count}")
    """
)


class AppliedPositions:
    """Records the position of every event the projector applies, per projection."""

    def __init__(self) -> None:
        self.positions: list[int] = []
        self.projections: set[str] = set()

    @hookimpl
    def omega_memory_after_project(self, projection: str, events: Sequence[Event]) -> None:
        self.projections.add(projection)
        self.positions.extend(e.position for e in events)


@contextmanager
def writers_started_together(script: Path, url: str) -> Iterator[list[subprocess.Popen[str]]]:
    """Start every writer, wait until each has opened its Memory, then let them all go at once.
    Writers still running when the block ends (a failed assertion) are killed."""
    writers = [
        subprocess.Popen(
            [sys.executable, str(script), url, str(worker), str(PER_WRITER), str(BATCH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for worker in range(WRITERS)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None and writer.stdin is not None
            assert writer.stdout.readline() == "ready\n", writer.stdout.read()
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.close()
        yield writers
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()


def project_while_running(memory: Memory, writers: list[subprocess.Popen[str]]) -> list[int]:
    """Poll the projection (each read catches it up) until every writer has exited."""
    polls = []
    while any(w.poll() is None for w in writers):
        polls.append(memory.count(namespace="n"))
        time.sleep(0.5)
    return polls


def outputs_of(writers: list[subprocess.Popen[str]]) -> list[str]:
    return [writer.stdout.read() if writer.stdout else "" for writer in writers]


def read_log(memory: Memory) -> list[Event]:
    async def read() -> list[Event]:
        # One big batch: each read is a scan on FerretDB, so fewer reads are much faster.
        return [event async for batch in memory.log.read(batch=WRITERS * PER_WRITER + 1) for event in batch]

    return memory._engine.run(read())


def commit_count(memory: Memory) -> int:
    log = memory.log.inner  # behind the sealing (log/sealed.py)
    assert isinstance(log, MongoEventLog)
    return memory._engine.run(log.chain.count_documents({}))


def test_four_writer_processes_and_a_projector_lose_skip_and_repeat_nothing(mongo_url: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    observer = AppliedPositions()
    # Catching up with other writers' commits walks the chain, which is slow on FerretDB (see
    # above): let reads wait for the log rather than answer from an index that is behind.
    settings = Settings(read_wait_seconds=120)
    began = time.monotonic()
    with Memory(log_url=mongo_url, index_url=f"edge:///{tmp_path}/index", settings=settings) as memory:
        memory.plugins.manager.register(observer)  # the log is empty: nothing was applied before this
        with writers_started_together(script, mongo_url) as writers:
            polls = project_while_running(memory, writers)
            outputs = outputs_of(writers)
        assert [w.returncode for w in writers] == [0] * WRITERS, outputs
        total = memory.count(namespace="n")  # catches up with the last commits
        elapsed = time.monotonic() - began
        events = read_log(memory)
        head = events[-1].position

        # The log: positions 1..N with no gap; every memory exactly once, at version 1.
        assert [e.position for e in events] == list(range(1, head + 1))
        assert len({e.event_id for e in events}) == head
        assert [e.type for e in events if not isinstance(e, MemoryUpsertedEvent)] == ["collection.created"]
        written = Counter((e.memory_id, e.version) for e in events if isinstance(e, MemoryUpsertedEvent))
        expected_ids = {f"w{w}-{i}" for w in range(WRITERS) for i in range(PER_WRITER)}
        assert set(written) == {(memory_id, 1) for memory_id in expected_ids}
        assert set(written.values()) == {1}

        # The projection: exactly the 10,000 memories; every position applied once, in order.
        assert total == WRITERS * PER_WRITER
        assert observer.positions == list(range(1, head + 1))
        assert observer.projections == {memory.projection.name}
        last = f"w{WRITERS - 1}-{PER_WRITER - 1}"
        assert [(r.id, r.version) for r in memory.get(["w0-0", last], namespace="n")] == [("w0-0", 1), (last, 1)]
        commits = commit_count(memory)
        assert commits == WRITERS * PER_WRITER // BATCH  # one per transaction: the collection rode on the first

    lost_races = sum(int(out.rsplit("lost races: ", 1)[1]) for out in outputs)
    print(
        f"\n{WRITERS} writers x {PER_WRITER} upserts in commits of {BATCH}: {head} events in {commits} commits, "
        f"{lost_races} inserts lost a race and were re-planned; {len(polls)} projector polls; {elapsed:.1f} s"
    )
