"""Regression tests for the integrity defects of issue 9, each through the public Memory API.

Lower layers have their own proofs (log and projection conformance, the identity and stream-state
property tests); these show that a user can no longer reach the defect.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import BACKENDS, log_position, open_backend
from omega_memory_plugin import (
    ConcurrencyError,
    DirectoryLockedError,
    IndexUnavailableError,
    Memory,
    ReadOnlyMemoryError,
    Settings,
    hookimpl,
)
from omega_memory_plugin.events import Event

V = [1.0, 0.0, 0.0, 0.0]


def vec(i: int) -> list[float]:
    return [1.0, float(i), 0.5, -float(i) / 3]


@pytest.fixture(params=list(BACKENDS))
def any_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    with open_backend(request.param, tmp_path, request) as m:
        yield m


# -- 2: identity ---------------------------------------------------------------------------------


def test_ids_and_namespaces_with_separators_never_overwrite_another_tenant(any_memory: Memory) -> None:
    any_memory.upsert("team's memory", id="a\x1fx", namespace="team", vectors=V)
    any_memory.upsert("other tenant", id="x", namespace="team\x1fa", vectors=V)
    for rebuilt in (False, True):
        if rebuilt:
            any_memory.rebuild(progress=False)
        assert [(r.id, r.text) for r in any_memory.scan(namespace="team")] == [("a\x1fx", "team's memory")]
        assert [r.text for r in any_memory.get("a\x1fx", namespace="team")] == ["team's memory"]
        assert any_memory.get("x", namespace="team") == []
        assert [r.text for r in any_memory.get("x", namespace="team\x1fa")] == ["other tenant"]
    assert any_memory.verify().ok


# -- 3: stream state -------------------------------------------------------------------------------


def test_erase_and_versions_agree(any_memory: Memory) -> None:
    m = any_memory
    m.upsert("x1", id="x", namespace="n", vectors=V)
    assert m.erase_namespace("n") == 1
    before = log_position(m)
    assert m.delete("x", namespace="n") == 0  # erased: nothing to delete, nothing recorded
    assert m.erase_namespace("n") == 0  # already empty: nothing recorded
    assert m.erase_namespace("never-used") == 0
    assert log_position(m) == before
    m.upsert("x2", id="x", namespace="n", vectors=V, expected_version=0)  # "not alive" holds after an erase
    (x,) = m.get("x", namespace="n")
    assert x.version == 2
    assert [e.type for e in m.history("x", namespace="n")] == ["memory.upserted", "namespace.erased", "memory.upserted"]
    assert m.delete("x", namespace="n") == 1
    m.upsert("x3", id="x", namespace="n", vectors=V, expected_version=0)  # and after a delete
    with pytest.raises(ConcurrencyError) as info:
        m.upsert("x4", id="x", namespace="n", vectors=V, expected_version=0)
    assert (info.value.expected, info.value.actual) == (0, 4)


# -- 5: a buffered writer never commits half a failed block ------------------------------------------


@pytest.mark.parametrize("bad", [[1.0, 2.0], [float("nan")] * 4], ids=["dimension", "nan"])
def test_a_failed_writer_block_commits_nothing(any_memory: Memory, bad: list[float]) -> None:
    any_memory.upsert("first", id="first", vectors=V)  # the collection exists (dimension 4)
    before = log_position(any_memory)
    with pytest.raises(ValueError), any_memory.writer(batch_size=100, flush_seconds=60) as w:
        w.upsert("good", id="good-1", vectors=V)
        w.upsert("good", id="good-2", vectors=V)
        w.upsert("bad", id="bad", vectors=bad)  # raises here, at the line that made it
    assert log_position(any_memory) == before
    assert any_memory.get(["good-1", "good-2"]) == []


def test_a_new_collection_gets_its_dimension_from_the_first_staged_write(any_memory: Memory) -> None:
    with pytest.raises(ValueError, match="dimension 2"), any_memory.transaction() as tx:
        tx.upsert("four", vectors=V, collection="fresh")
        tx.upsert("two", vectors=[1.0, 0.0], collection="fresh")
    assert "fresh" not in any_memory.collections()


# -- 6: observers never make a committed write look failed -------------------------------------------


class _Broken:
    @hookimpl
    def omega_memory_after_append(self, events: Sequence[Event]) -> None:
        raise RuntimeError("metrics backend down")

    @hookimpl
    def omega_memory_after_project(self, projection: str, events: Sequence[Event]) -> None:
        raise RuntimeError("audit sink down")


def test_an_observer_that_raises_is_counted_not_raised(any_memory: Memory) -> None:
    any_memory.plugins.manager.register(_Broken())
    assert any_memory.upsert("kept", id="k", vectors=V) == "k"
    assert [e.version for e in any_memory.history("k")] == [1]  # written once: no reason to retry
    observers = any_memory.health()["observers"]
    assert observers["failures"] == 2 and "down" in observers["last_error"]


# -- 7: a lost index is noticed and rebuilt -----------------------------------------------------------


def test_a_deleted_index_is_rebuilt_at_open_not_served_empty(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as m:
        for i in range(5):
            m.upsert(f"memory {i}", id=str(i), vectors=vec(i), namespace=f"ns{i % 2}")
        generation = Path(m.projection.dir)  # type: ignore[attr-defined]
    shutil.rmtree(generation)
    with Memory(tmp_path / "m") as m:
        assert m.count(namespace="ns0") == 3 and m.count(namespace="ns1") == 2
        assert m.verify().ok
        m.upsert("writes work", id="new", vectors=vec(9), namespace="ns0")
        assert m.count(namespace="ns0") == 4
    shutil.rmtree(tmp_path / "m" / "index")
    with Memory(tmp_path / "m") as m:
        assert m.count(namespace="ns0") == 4 and m.health()["index"]["ok"]


def test_verify_reports_drift_precisely_and_repair_fixes_it(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as m:
        for i in range(6):
            m.upsert(f"memory {i}", id=str(i), vectors=vec(i), namespace="a" if i < 4 else "b")
        m.delete("3", namespace="a")
        assert m.verify().ok
        # Damage the index behind the log's back: lose one memory, resurrect a deleted one, and
        # roll one back to an older version.
        history = {i: m.history(i, namespace="a") for i in ("0", "1", "3")}
        engine = m._engine
        engine.run(
            m.projection.repair(
                [
                    history["3"][0],  # deleted in the log, back in the index
                    history["0"][0].model_copy(update={"version": 7}),  # a version the log never had
                ]
            )
        )
        from omega_memory_plugin.events import MemoryDeletedEvent

        engine.run(m.projection.repair([MemoryDeletedEvent(collection="default", namespace="a", memory_id="1")]))
        report = m.verify()
        assert not report.ok
        (drift,) = report.drift
        assert (drift.collection, drift.namespace) == ("default", "a")
        assert (drift.missing, drift.extra, drift.stale) == (["1"], ["3"], [("0", 1, 7)])
        assert "1 missing" in str(report)
        repaired = m.verify(repair=True)
        assert repaired.repaired == 3
        assert m.verify().ok
        assert sorted(r.id for r in m.scan(namespace="a")) == ["0", "1", "2"]


# -- 8: degraded, not dead ---------------------------------------------------------------------------


def test_a_memory_opens_while_its_qdrant_server_is_down_and_heals(tmp_path: Path) -> None:
    from omega_memory_plugin.testing.servers.ferretdb import free_port
    from omega_memory_plugin.testing.servers.qdrant import QdrantServer

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Memory(log_url=f"sqlite:///{tmp_path}/log.db", index_url=url) as m:
        assert m.upsert("written while the index is down", id="a", vectors=V) == "a"  # the log took it
        assert not m.health()["index"]["ok"]
        with pytest.raises(IndexUnavailableError, match="Writes are safe in the log"):
            m.search(V)
        server = QdrantServer(tmp_path / "qdrant", http_port=port)
        server.start()
        try:
            assert [h.id for h in m.search(V)] == ["a"]  # caught up on the next read
            m.upsert("after", id="b", vectors=V)
            assert m.count() == 2 and m.health()["index"]["ok"]
        finally:
            m.close()
            server.stop()


# -- 9: one owner per embedded directory -------------------------------------------------------------


def test_a_directory_has_one_writer_and_read_only_opens_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with Memory(path) as owner:
        owner.upsert("owned", id="a", vectors=V)
        with pytest.raises(DirectoryLockedError, match="read_only=True"):
            Memory(path)  # a second Memory in the same process
        child = subprocess.run(
            [sys.executable, "-c", f"from omega_memory_plugin import Memory; Memory({str(path)!r})"],
            capture_output=True,
            text=True,
        )
        assert child.returncode != 0 and "DirectoryLockedError" in child.stderr
        assert str(os.getpid()) in child.stderr  # the error names the owner
        with Memory(path, read_only=True) as reader:
            assert [r.text for r in reader.get("a")] == ["owned"]
            owner.upsert("later", id="b", vectors=V)
            assert reader.count() == 2  # follows the log
            assert reader.read_only and "read-only" in reader.read_only
            with pytest.raises(ReadOnlyMemoryError):
                reader.upsert("no", vectors=V)
    with Memory(path) as again:  # released on close
        assert again.count() == 2


# -- 10, 11: rebuild never blocks reads, and cancelling leaves the live index -------------------------


class _Gate:
    """Holds a rebuild's first apply (on the rebuild's worker thread) until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


def _gated(memory: Memory, gate: _Gate) -> None:
    original = memory.projection.fresh

    async def fresh(**options: Any) -> Any:
        projection = await original(**options)
        apply = projection.apply

        async def gated_apply(events: Sequence[Event]) -> None:
            gate.entered.set()
            gate.release.wait(30)
            await apply(events)

        projection.apply = gated_apply  # type: ignore[method-assign]
        return projection

    memory.projection.fresh = fresh  # type: ignore[method-assign]


def test_reads_and_writes_go_on_while_a_rebuild_works(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as m:
        for i in range(20):
            m.upsert(f"memory {i}", id=str(i), vectors=vec(i))
        gate = _Gate()
        _gated(m, gate)
        rebuilt: list[int] = []
        worker = threading.Thread(target=lambda: rebuilt.append(m.rebuild(progress=False)))
        worker.start()
        assert gate.entered.wait(30)
        # The rebuild is stuck in its first batch; the live index still answers, and takes writes.
        assert m.search(vec(3), limit=1)[0].id == "3"
        m.upsert("during the rebuild", id="during", vectors=vec(30))
        assert worker.is_alive()
        gate.release.set()
        worker.join(30)
        assert rebuilt and m.count() == 21 and m.get("during")[0].text == "during the rebuild"
        assert m.verify().ok


def test_interrupting_a_rebuild_leaves_the_live_index_and_no_leftovers(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as m:
        for i in range(10):
            m.upsert(f"memory {i}", id=str(i), vectors=vec(i))
        live = m.projection.name
        gate = _Gate()
        _gated(m, gate)
        interrupter = threading.Thread(
            target=lambda: (gate.entered.wait(30), os.kill(os.getpid(), signal.SIGINT), gate.release.set())
        )
        interrupter.start()
        with pytest.raises(KeyboardInterrupt):
            m.rebuild(progress=False)
        interrupter.join()
        assert m.projection.name == live and m.count() == 10
        generations = [p.name for p in (tmp_path / "m" / "index").iterdir() if p.is_dir()]
        assert generations == [Path(m.projection.dir).name]  # type: ignore[attr-defined]


def test_a_generation_left_by_a_killed_rebuild_is_removed_at_the_next_open(tmp_path: Path) -> None:
    script = (
        "import os, signal\n"
        "from omega_memory_plugin import Memory\n"
        f"m = Memory({str(tmp_path / 'm')!r})\n"
        "for i in range(50): m.upsert(f'memory {i}', id=str(i), vectors=[1.0, float(i), 0.0, 0.0])\n"
        "m.flush()\n"
        "original = m.projection.fresh\n"
        "async def fresh(**options):\n"
        "    projection = await original(**options)\n"
        "    apply = projection.apply\n"
        "    async def killed(events):\n"
        "        await apply(events); await projection.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "    projection.apply = killed\n"
        "    return projection\n"
        "m.projection.fresh = fresh\n"
        "m.rebuild(progress=False)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=False)
    index = tmp_path / "m" / "index"
    assert len([p for p in index.iterdir() if p.is_dir()]) == 2  # the live one and the orphan
    with Memory(tmp_path / "m") as m:
        assert m.count() == 50
        assert [p.name for p in index.iterdir() if p.is_dir()] == [Path(m.projection.dir).name]  # type: ignore[attr-defined]


# -- 12: read-only views write nothing ---------------------------------------------------------------


def test_as_of_writes_nothing_to_the_log_storage(tmp_path: Path) -> None:
    settings = Settings(path=tmp_path / "m", checkpoint_every=5)
    with Memory(settings=settings) as m:
        with m.transaction() as tx:
            for i in range(60):
                tx.upsert(f"memory {i}", id=str(i), vectors=vec(i))
        m.flush()
        db = tmp_path / "m" / "log.db"

        def checkpoints() -> list[tuple[str, int]]:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT name, position FROM checkpoints ORDER BY name").fetchall()

        before = checkpoints()
        for until in (30, 61, datetime.now(UTC)):
            with m.as_of(until) as past:
                assert past.count() in (29, 60)
        assert checkpoints() == before


def test_as_of_reads_a_naive_datetime_as_utc_on_every_log(any_memory: Memory) -> None:
    any_memory.upsert("now", id="a", vectors=V)
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)
    with any_memory.as_of(later) as past:
        assert past.count() == 1
    earlier = later - timedelta(hours=1)
    with any_memory.as_of(earlier) as past:
        assert past.count() == 0
