"""Crash safety: a write that returned survives ``kill -9``, and the index catches up on reopen.

A child process ingests into a memory on the embedded defaults (SQLite log + Qdrant Edge index)
and reports every write on stdout only after it returned. The parent kills it with SIGKILL in the
middle of the run, then checks from the outside that:

* the checkpoint the child left in the log never claims more than the Edge index durably holds
  (Edge keeps data only at ``flush()``, so a checkpoint saved before the flush would skip events);
* every reported write is in the log, and in the index after reopen (at that version or later);
* the index holds exactly the memories that are live according to the log: none lost, none
  duplicated, deleted ones gone, and no lag left;
* a rebuild from the log answers searches exactly as the caught-up index does.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from omega_memory_plugin import Memory, Settings
from omega_memory_plugin.events import Event
from omega_memory_plugin.index.edge import EdgeProjection
from omega_memory_plugin.log.base import EventLog
from omega_memory_plugin.log.sqlite import SQLiteEventLog

# Small checkpoint thresholds so the child flushes and checkpoints many times before the kill.
SETTINGS = {"checkpoint_every": 50, "checkpoint_seconds": 0.05, "load_entrypoints": False}
DIMENSION = 8

CHILD = """
from __future__ import annotations

import random
import sys
import zlib
from pathlib import Path

import numpy as np

from omega_memory_plugin import Memory, Settings


def vector(memory_id: str, version: int) -> list[float]:
    # Deterministic per (id, version), so every overwrite really changes the point.
    rng = np.random.default_rng(zlib.crc32(f"{memory_id}:{version}".encode()))
    return rng.standard_normal(%(dimension)d).tolist()


def report(line: str) -> None:
    sys.stdout.write(line + "\\n")
    sys.stdout.flush()


def main() -> None:
    root, seed = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    versions: dict[str, int] = {}  # events per memory id, as the log counts them
    live: list[str] = []
    fresh = iter(f"m{n}" for n in range(10**9))  # deleted ids are never reused
    with Memory(root, settings=Settings(**%(settings)r)) as memory:
        while True:
            roll = rng.random()
            if roll < 0.45 or len(live) < 5:
                memory_id = next(fresh)
                version = 1
                memory.upsert(f"{memory_id} v{version}", id=memory_id, vectors=vector(memory_id, version))
                versions[memory_id] = version
                live.append(memory_id)
                report(f"ok {memory_id} {version}")
            elif roll < 0.70:
                memory_id = rng.choice(live)
                version = versions[memory_id] + 1
                memory.upsert(f"{memory_id} v{version}", id=memory_id, vectors=vector(memory_id, version))
                versions[memory_id] = version
                report(f"ok {memory_id} {version}")
            elif roll < 0.85:
                # One atomic commit: new memories, an overwrite, sometimes a delete.
                with memory.transaction() as tx:
                    for _ in range(rng.randint(1, 3)):
                        memory_id = next(fresh)
                        tx.upsert(f"{memory_id} v1", id=memory_id, vectors=vector(memory_id, 1))
                    chosen = rng.sample(live, 2)
                    tx.upsert(
                        f"{chosen[0]} v{versions[chosen[0]] + 1}",
                        id=chosen[0],
                        vectors=vector(chosen[0], versions[chosen[0]] + 1),
                    )
                    if rng.random() < 0.5:
                        tx.delete(chosen[1])
                for event in tx.events:
                    versions[event.memory_id] = event.version
                    if event.type == "memory.upserted":
                        if event.memory_id not in live:
                            live.append(event.memory_id)
                        report(f"ok {event.memory_id} {event.version}")
                    else:
                        live.remove(event.memory_id)
                        report(f"del {event.memory_id}")
            else:
                memory_id = rng.choice(live)
                assert memory.delete(memory_id) == 1
                versions[memory_id] += 1
                live.remove(memory_id)
                report(f"del {memory_id}")


main()
""" % {"dimension": DIMENSION, "settings": SETTINGS}  # noqa: UP031 (braces of the child code would need doubling in an f-string)


@dataclass
class Reported:
    """What the child said had returned before it was killed."""

    upserts: list[tuple[str, int]] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)

    def add(self, line: str) -> None:
        kind, memory_id, *rest = line.split()
        if kind == "ok":
            self.upserts.append((memory_id, int(rest[0])))
        else:
            assert kind == "del", line
            self.deleted.add(memory_id)

    def __len__(self) -> int:
        return len(self.upserts) + len(self.deleted)


def _pump(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        # A line cut short by the kill was never fully reported; only whole lines count.
        if line.endswith("\n"):
            lines.put(line.strip())
    lines.put(None)


def run_and_kill(root: Path, tmp_path: Path, kill_after: int, seed: int) -> Reported:
    """Start the ingesting child, SIGKILL it once ``kill_after`` writes were reported."""
    script = tmp_path / "ingest.py"
    script.write_text(CHILD)
    stderr_path = tmp_path / "child.stderr"
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(script), str(root), str(seed)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=tmp_path,  # no stray .env from the repo
            env={k: v for k, v in os.environ.items() if not k.startswith("OMEGA_")},
        )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_pump, args=(child.stdout, lines), daemon=True)
    reader.start()
    reported = Reported()
    deadline = time.monotonic() + 60
    try:
        while len(reported) < kill_after:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the child reported {len(reported)} writes in 60 s:\n{stderr_path.read_text()}")
            if line is None:
                pytest.fail(f"the child stopped by itself:\n{stderr_path.read_text()}")
            reported.add(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    # Writes reported between the last read and the kill have returned too: count them.
    reader.join(timeout=30)
    while (line := lines.get_nowait()) is not None:
        reported.add(line)
    assert child.returncode == -signal.SIGKILL, stderr_path.read_text()
    return reported


async def _read_log(log: EventLog) -> list[Event]:
    return [event async for batch in log.read() for event in batch]


def index_state(version: int | None) -> str:
    return "absent" if version is None else f"v{version}"


async def check_checkpoint_is_durable(root: Path) -> None:
    """Open what the killed child left, without catching up: every memory must be in the index
    as of the checkpoint or later, else a catch-up from that checkpoint would miss events."""
    log = SQLiteEventLog(root / "log.db")
    await log.open()
    index = EdgeProjection(root / "index")
    try:
        checkpoint = await log.get_checkpoint(index.name)
        events = await _read_log(log)
        assert 0 <= checkpoint <= (events[-1].position if events else 0)
        streams: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            if event.type != "collection.created":
                streams[event.memory_id].append(event)
        held = {r.id: r.version for r in await index.get("default", "default", list(streams))}
        for memory_id, stream in streams.items():
            durable = [i for i, e in enumerate(stream) if e.position <= checkpoint]
            first = durable[-1] if durable else 0
            allowed = {"absent"} if not durable else set()
            allowed |= {index_state(e.version if e.type == "memory.upserted" else None) for e in stream[first:]}
            state = index_state(held.get(memory_id))
            assert state in allowed, (
                f"{memory_id}: index holds {state}, but the checkpoint {checkpoint} promises one of {allowed}"
            )
    finally:
        await index.close()
        await log.close()


def live_by_log(memory: Memory) -> dict[str, Event]:
    """Replay the log: the head event of every memory that is live at its end."""
    heads: dict[str, Event] = {}
    for event in memory._engine.run(_read_log(memory.log)):
        if event.type in ("memory.upserted", "memory.deleted"):
            heads[event.memory_id] = event
    return {memory_id: e for memory_id, e in heads.items() if e.type == "memory.upserted"}


def ranked(memory: Memory, queries: np.ndarray) -> list[list[tuple[str, int, float]]]:
    return [
        [(h.id, h.version, round(h.score or 0.0, 5)) for h in memory.search(q.tolist(), limit=10, exact=True)]
        for q in queries
    ]


@pytest.mark.parametrize(("kill_after", "seed"), [(40, 1), (150, 2), (300, 3)])
def test_returned_writes_survive_kill_9(tmp_path: Path, kill_after: int, seed: int) -> None:
    root = tmp_path / "mem"
    reported = run_and_kill(root, tmp_path, kill_after, seed)
    assert len(reported) >= kill_after

    asyncio.run(check_checkpoint_is_durable(root))

    with Memory(root, settings=Settings(**SETTINGS)) as memory:  # type: ignore[arg-type]
        live = live_by_log(memory)

        # Every returned write is in the log, exactly as it was reported. (A later write may
        # have been committed and not reported before the kill: a write that returned is kept,
        # one in flight may or may not be.)
        for memory_id, version in reported.upserts:
            recorded = {e.version: e for e in memory.history(memory_id)}
            assert recorded[version].type == "memory.upserted", (memory_id, version)
            assert recorded[version].data.text == f"{memory_id} v{version}"  # type: ignore[union-attr]
        for memory_id in reported.deleted:
            assert memory.history(memory_id)[-1].type == "memory.deleted", memory_id
            assert memory_id not in live

        # The index caught up from the checkpoint: each live memory at the log's latest version
        # (so never older than what was reported), deleted ones gone, nothing extra or doubled.
        records = {r.id: r for r in memory.get(sorted(live))}
        assert {i: (r.version, r.text) for i, r in records.items()} == {
            i: (e.version, e.data.text)
            for i, e in live.items()  # type: ignore[union-attr]
        }
        for memory_id, version in reported.upserts:
            if memory_id in live:
                assert records[memory_id].version >= version
        assert memory.get(sorted(reported.deleted)) == []
        assert memory.count() == len(live)
        assert [r.id for r in memory.scan(limit=100_000)] == sorted(live)

        health = memory.health()
        assert health["index"]["ok"] and health["index"]["lag_events"] == 0, health
        head = health["log"]["position"]
        checkpoint = memory._engine.run(memory.log.get_checkpoint(memory.projection.name))
        assert checkpoint <= memory.projector.position == head

        queries = np.random.default_rng(seed).standard_normal((4, DIMENSION))
        before = ranked(memory, queries)
        assert all(len(hits) == 10 for hits in before)
        assert memory.rebuild(progress=False) == head
        assert ranked(memory, queries) == before
        assert memory.count() == len(live)
