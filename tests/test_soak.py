"""The production topology under load (issue 10): a projector worker and four application
processes on one MongoDB log (FerretDB) and one real Qdrant server, writing and reading
continuously (upserts of ids the others write too, deletes, an ``erase_namespace``), while one of
them rebuilds the index mid-way and another is killed with SIGKILL and restarted.

Three applications run with ``projector="external"`` (the worker applies, they wait for its
checkpoint); the one that rebuilds runs inline, as ``rebuild()`` applies events itself.

Afterwards: ``verify()`` finds no drift, every write a process was told succeeded is in the log
exactly once, and no read ever returned a memory at an older log position than one its process
had already seen (tests/processes/app.py ``soak``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from omega_memory_plugin import Memory, Settings
from omega_memory_plugin.events import MemoryUpsertedEvent
from tests.processes.driver import AppProcess, WorkerProcess

SECONDS = 40.0
LEASE = 4.0


def acknowledged(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines() if line
    ]


def test_four_processes_a_rebuild_and_a_kill(
    tmp_path: Path, mongo_url: str, qdrant_url: str, qdrant_prefix: str
) -> None:
    settings = {
        "log_url": mongo_url,
        "index_url": qdrant_url,
        "qdrant_prefix": qdrant_prefix,
        "qdrant_lease_seconds": LEASE,
        "embedder": "hash:32",
    }
    acks = tmp_path / "acks"
    acks.mkdir()
    worker = WorkerProcess(settings)
    external = {**settings, "projector": "external", "projector_wait_seconds": 10.0}
    apps = {name: AppProcess(settings if name == "b" else external) for name in "abcd"}
    try:
        for app in apps.values():
            app.ready()
        plans = {
            "a": {"erase_at": SECONDS / 2},
            "b": {"rebuild_at": SECONDS / 3},
            "c": {},
            "d": {},
        }
        for i, (name, app) in enumerate(apps.items()):
            app.send("soak", name=name, seconds=SECONDS, acks=str(acks / f"{name}.jsonl"), seed=i, **plans[name])

        time.sleep(SECONDS / 4)
        apps["d"].kill()  # SIGKILL, in the middle of whatever it was doing
        restarted = AppProcess(external)
        restarted.ready()
        restarted.send("soak", name="d2", seconds=SECONDS / 2, acks=str(acks / "d2.jsonl"), seed=9)

        results = {name: app.reply(timeout=SECONDS * 4) for name, app in apps.items() if name != "d"}
        results["d2"] = restarted.reply(timeout=SECONDS * 4)
        print({name: {k: v for k, v in r.items() if k != "older"} for name, r in results.items()})
        for name, result in results.items():
            assert result["older"] == [], (name, result["older"])
            assert result["upserts"] > 0 and result["reads"] > 0, (name, result)
        report = apps["b"].call("verify")  # inline: it catches up with the log itself first
        assert report["ok"], report["drift"]
        assert worker.health()[0] == 200
        restarted.close()
    finally:
        for app in apps.values():
            app.close()
        worker.kill()

    with Memory(settings=Settings(**{**settings, "index_url": "memory://"}), read_only=True) as memory:
        events = memory._engine.run(_all_events(memory))
    written = Counter(e.data.text for e in events if isinstance(e, MemoryUpsertedEvent))
    acked = [a["text"] for a in acknowledged(acks) if a["kind"] == "upsert"]
    assert acked, "no write was acknowledged"
    kinds = Counter(a["kind"] for a in acknowledged(acks))
    assert kinds["erase"] == 1 and kinds["delete"] > 0, kinds
    assert {text: written[text] for text in acked if written[text] != 1} == {}
    assert sum(written.values()) >= len(acked)  # the killed process may have written one unacknowledged


async def _all_events(memory: Memory) -> list[Any]:
    return [event async for batch in memory.log.read(batch=5000) for event in batch]
