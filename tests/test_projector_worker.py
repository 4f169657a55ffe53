"""The projector worker (``omega-memory project --follow``) and the external projector mode of
application processes (issue 10), on a real Qdrant server, a SQLite log in tmp_path and, once,
FerretDB. The worker is always a real child process, stopped with a real SIGTERM.

No timing is asserted: waits are bounded (a test fails rather than hangs), never measured.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from omega_memory_plugin import Memory, ProjectorModeError, Settings
from omega_memory_plugin.cli import main
from omega_memory_plugin.events import CollectionCreated, CollectionCreatedEvent
from omega_memory_plugin.log.base import EventLog
from omega_memory_plugin.log.sqlite import SQLiteEventLog
from tests.processes.driver import AppProcess, WorkerProcess

EMBEDDER = "hash:32"
GENEROUS = 60.0  # seconds an external write may wait for the worker: only a broken worker takes this long


@pytest.fixture
def settings(tmp_path: Path, qdrant_url: str, qdrant_prefix: str) -> dict[str, Any]:
    return {
        "log_url": f"sqlite:///{tmp_path}/log.db",
        "index_url": qdrant_url,
        "qdrant_prefix": qdrant_prefix,
        "embedder": EMBEDDER,
        "namespace": "ns",
    }


@pytest.fixture
def start_worker(settings: dict[str, Any]) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(**overrides: Any) -> WorkerProcess:
        worker = WorkerProcess({**settings, **overrides})
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def external(settings: dict[str, Any]) -> Iterator[Callable[..., Memory]]:
    """Application Memories in this process, opened with projector="external"."""
    opened: list[Memory] = []

    def open_external(**overrides: Any) -> Memory:
        values = {**settings, "projector": "external", "projector_wait_seconds": GENEROUS, **overrides}
        memory = Memory(settings=Settings(**values))
        opened.append(memory)
        return memory

    yield open_external
    for memory in opened:
        memory.close()


def eventually(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def lag_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "projector worker has not applied" in r.getMessage()]


# -- read-your-writes through the worker ------------------------------------------------------------


def test_an_external_write_is_read_back_at_once_and_seen_by_other_processes(
    start_worker: Callable[..., WorkerProcess],
    external: Callable[..., Memory],
    settings: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = start_worker()
    app = external()
    app.upsert("Ada prefers green tea", id="tea", metadata={"topic": "drinks"})
    # Read-your-writes: this process never applied anything, the worker did, before upsert returned.
    assert [r.text for r in app.get("tea")] == ["Ada prefers green tea"]
    assert app.search(text="green tea", limit=1)[0].id == "tea"
    assert app.health()["index"]["projector"] == "external"

    other = AppProcess({**settings, "projector": "external", "projector_wait_seconds": GENEROUS})
    try:
        other.ready()
        assert [r["text"] for r in other.call("get", ids=["tea"])] == ["Ada prefers green tea"]
        other.call("upsert", text="Ada switched to oolong", id="tea")  # returns once the worker applied it
    finally:
        other.close()
    (record,) = app.get("tea")
    assert (record.text, record.version) == ("Ada switched to oolong", 2)
    app.delete("tea")
    assert app.get("tea") == []
    assert lag_warnings(caplog) == []

    status, body = worker.health()
    assert status == 200 and body["ok"] is True
    assert body["index"]["lag_events"] == 0
    assert body["index"]["projector"] == "inline"  # the worker applies, whatever OMEGA_PROJECTOR said
    assert body["worker"]["position_at_start"] + body["worker"]["events_applied"] == 4  # collection, 2 upserts, delete
    assert body["worker"]["last_catch_up"] is not None and body["worker"]["up_since"]
    assert app.verify().ok


def test_the_health_endpoint_answers_json(
    start_worker: Callable[..., WorkerProcess], external: Callable[..., Memory]
) -> None:
    worker = start_worker()
    app = external()
    for i in range(5):
        app.upsert(f"memory {i}", id=f"m{i}")
    status, body = worker.health()
    assert status == 200
    assert body["log"]["position"] == 6 and body["log"]["ok"]
    assert body["index"]["applied_position"] == 6 and body["index"]["checkpoint"] == 6
    assert body["index"]["lag_events"] == 0 and body["index"]["lag_seconds"] == 0.0
    assert body["index"]["name"] == app.health()["index"]["name"]  # one generation, shared
    assert app.health()["index"]["lag_events"] == 0  # the application measures against the checkpoint

    status, body = worker.health("/nothing")
    assert status == 404 and "GET /health" in body["error"]
    assert worker.stop(signal.SIGINT).startswith("stopped at position 6")  # Ctrl-C: a clean stop too


def test_a_rebuild_elsewhere_is_followed_by_the_worker_and_the_applications(
    start_worker: Callable[..., WorkerProcess],
    external: Callable[..., Memory],
    settings: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lease = 4.0  # processes look for a promoted generation every half second
    worker = start_worker(qdrant_lease_seconds=lease)
    app = external(qdrant_lease_seconds=lease)
    for i in range(5):
        app.upsert(f"memory {i}", id=f"m{i}")
    old = app.health()["index"]["name"]

    # `omega-memory replay` with the applications' environment: it rebuilds inline all the same.
    monkeypatch.setenv("OMEGA_QDRANT_PREFIX", settings["qdrant_prefix"])
    monkeypatch.setenv("OMEGA_QDRANT_LEASE_SECONDS", str(lease))
    monkeypatch.setenv("OMEGA_PROJECTOR", "external")
    assert (
        main(["--log-url", settings["log_url"], "--index-url", settings["index_url"], "replay", "--no-progress"]) == 0
    )

    # Written whether or not this process or the worker noticed the switch yet: read back at once,
    # and still there once both moved (each within an eighth of the lease, on its next call).
    app.upsert("after the rebuild", id="new")
    assert [r.text for r in app.get("new")] == ["after the rebuild"]
    eventually(lambda: bool(app.get("new")) and app.health()["index"]["name"] != old)
    assert [r.text for r in app.get("new")] == ["after the rebuild"]
    eventually(lambda: worker.health()[1]["index"]["name"] == app.health()["index"]["name"])
    assert len(app.scan(limit=None)) == 6
    assert lag_warnings(caplog) == []


def test_a_re_embedding_elsewhere_is_followed_by_the_applications(
    start_worker: Callable[..., WorkerProcess],
    external: Callable[..., Memory],
    settings: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_worker()
    app = external()
    for i in range(5):
        app.upsert(f"memory {i}", id=f"m{i}")
    monkeypatch.setenv("OMEGA_QDRANT_PREFIX", settings["qdrant_prefix"])
    monkeypatch.setenv("OMEGA_PROJECTOR", "external")
    argv = ["--log-url", settings["log_url"], "--index-url", settings["index_url"], "reembed", "--embedder", "hash:48"]
    assert main([*argv, "--no-progress"]) == 0
    # This process applies nothing itself: it learns the switch from the collection's stream version.
    hit = app.search(text="memory 3", limit=1)[0]
    assert (hit.id, hit.embedding_model) == ("m3", "hash:48")
    app.upsert("after the switch", id="new")
    assert [(r.text, r.embedding_model) for r in app.get("new")] == [("after the switch", "hash:48")]
    assert app.verify().ok


def test_the_worker_serves_metrics_beside_its_health(
    start_worker: Callable[..., WorkerProcess], external: Callable[..., Memory]
) -> None:
    worker = start_worker(metrics=True)
    app = external()
    for i in range(4):
        app.upsert(f"memory {i}", id=f"m{i}")
    url = worker.health_url.replace("/health", "/metrics")

    def applied() -> dict[str, float]:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        return {
            s.name + str(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    eventually(lambda: applied().get("omega_events_applied_total[('index', 'qdrant')]", 0) >= 5)
    samples = applied()
    assert samples["omega_log_events[('log', 'sqlite')]"] == 5
    assert samples["omega_projection_lag_events[('index', 'qdrant')]"] == 0
    assert samples["omega_index_points[('collection', 'default')]"] == 4


# -- a stopped worker -----------------------------------------------------------------------------------


def test_without_the_worker_writes_land_in_the_log_wait_boundedly_and_warn(
    start_worker: Callable[..., WorkerProcess],
    external: Callable[..., Memory],
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = start_worker()
    app = external(projector_wait_seconds=0.3)
    app.upsert("before the stop", id="a")
    # On a loaded machine the worker may take longer than the 0.3 s this write waits (and warn
    # about): only the warnings of the writes made while it is stopped are counted below.
    eventually(lambda: app.health()["index"]["lag_events"] == 0)
    worker.stop()
    caplog.clear()

    with caplog.at_level(logging.WARNING, "omega_memory_plugin.external"):
        app.upsert("while stopped", id="b")  # returns after projector_wait_seconds, with a warning
    assert len(lag_warnings(caplog)) == 1
    assert [e.data.text for e in app.history("b")] == ["while stopped"]  # type: ignore[union-attr]
    health = app.health()
    assert health["log"]["position"] == 3 and health["index"]["lag_events"] == 1
    # A read does not wait again for a position already waited for in vain (nor warn again).
    assert [r.text for r in app.get("a")] == ["before the stop"]
    assert len(lag_warnings(caplog)) == 1

    restarted = start_worker()  # it catches up (and saves its checkpoint) before it answers health
    assert restarted.health()[1]["index"]["lag_events"] == 0
    assert app.health()["index"]["lag_events"] == 0  # measured against the worker's checkpoint
    assert [r.text for r in app.get("b")] == ["while stopped"]
    figures = restarted.health()[1]["worker"]
    assert figures["position_at_start"] + figures["events_applied"] == 3  # caught up while opening, or after


def test_one_shot_project_catches_up_and_prints_the_position(
    external: Callable[..., Memory],
    settings: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = external(projector_wait_seconds=0.05)
    for i in range(3):
        app.upsert(f"memory {i}", id=f"m{i}")  # no worker: each waits briefly and warns
    assert app.health()["index"]["lag_events"] == 4

    monkeypatch.setenv("OMEGA_QDRANT_PREFIX", settings["qdrant_prefix"])
    monkeypatch.setenv("OMEGA_PROJECTOR", "external")  # `project` applies inline regardless
    code = main(["--log-url", settings["log_url"], "--index-url", settings["index_url"], "project"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "position 4, checkpoint saved" in out

    assert app.health()["index"]["lag_events"] == 0
    assert [r.id for r in app.scan()] == ["m0", "m1", "m2"]
    app.upsert("one more", id="m3")  # waits briefly again: no worker follows
    code = main(["--log-url", settings["log_url"], "--index-url", settings["index_url"], "project"])
    assert "position 5, checkpoint saved" in capsys.readouterr().out
    assert [r.text for r in app.get("m3")] == ["one more"]


# -- what external mode refuses -------------------------------------------------------------------------


@pytest.mark.parametrize("index_url", [None, "memory://"], ids=["edge", "in-memory"])
def test_external_mode_refuses_an_index_of_one_process(tmp_path: Path, index_url: str | None) -> None:
    with pytest.raises(ProjectorModeError, match="use a Qdrant server URL"):
        Memory(tmp_path, index_url=index_url, projector="external")
    with Memory(tmp_path, index_url=index_url) as memory:  # nothing was left locked or half open
        memory.upsert("fine inline", id="x", vectors=[1.0, 0.0])


def test_a_worker_refuses_an_embedded_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Memory(tmp_path) as memory:
        memory.upsert("x", id="x", vectors=[1.0, 0.0])
    assert main(["--path", str(tmp_path), "project", "--follow"]) == 2
    assert "use a Qdrant server URL" in capsys.readouterr().err
    assert main(["--path", str(tmp_path), "project"]) == 0  # catching an embedded index up once is fine
    assert "position 2, checkpoint saved" in capsys.readouterr().out


def test_rebuild_and_repair_are_left_to_inline_processes(external: Callable[..., Memory]) -> None:
    app = external(projector_wait_seconds=0.05)
    with pytest.raises(ProjectorModeError, match="omega-memory replay"):
        app.rebuild(progress=False)
    with pytest.raises(ProjectorModeError, match="verify --repair"):
        app.verify(repair=True)


# -- waiting for appends --------------------------------------------------------------------------------


def _collection_created(name: str) -> CollectionCreatedEvent:
    return CollectionCreatedEvent(collection=name, data=CollectionCreated(vectors={"dense": 2}))


async def _append_later(log: EventLog, name: str) -> None:
    await asyncio.sleep(0.2)
    await log.append([_collection_created(name)])


def test_sqlite_wait_for_append_sees_another_connections_append(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        waiter, writer = SQLiteEventLog(tmp_path / "log.db"), SQLiteEventLog(tmp_path / "log.db")
        await waiter.open()
        await writer.open()
        try:
            nothing = await waiter.wait_for_append(0, timeout=0.2)
            _, seen = await asyncio.gather(_append_later(writer, "c"), waiter.wait_for_append(0, timeout=GENEROUS))
            return nothing, seen
        finally:
            await waiter.close()
            await writer.close()

    assert asyncio.run(scenario()) == (0, 1)


def test_on_ferretdb_waiting_for_appends_falls_back_to_polling(
    mongo_url: str,
    settings: dict[str, Any],
    start_worker: Callable[..., WorkerProcess],
    external: Callable[..., Memory],
) -> None:
    from omega_memory_plugin.log.mongo import MongoEventLog, mongo_event_log
    from omega_memory_plugin.log.mongo_watch import wait_for_append_watching, wait_with_change_stream, watches

    async def scenario() -> tuple[bool | None, int, bool, bool]:
        log = mongo_event_log(mongo_url, Settings())
        assert isinstance(log, MongoEventLog)
        await log.open()
        try:
            info = await log.db.command("buildInfo")
            ferret = any("ferretdb" in key.lower() for key in info)

            async def never() -> bool:
                return False

            answer = await wait_with_change_stream(log.commits, never, 0.2)
            _, seen = await asyncio.gather(
                _append_later(log, "c"), wait_for_append_watching(log, log.commits, 0, GENEROUS)
            )
            return answer, seen, watches(log), ferret
        finally:
            await log.close()

    answer, seen, watching, ferret = asyncio.run(scenario())
    assert seen == 1
    if ferret:  # no change streams: told so (None), and the log polls from then on
        assert answer is None and not watching
    else:  # a real replica set (OMEGA_TEST_MONGO_URL): the stream answers, timing out here
        assert answer is False and watching

    # And the whole path on this server: a worker following a MongoDB log, an external application.
    worker = start_worker(log_url=mongo_url)
    app = external(log_url=mongo_url)
    app.upsert("Ada prefers green tea", id="tea")
    assert [r.text for r in app.get("tea")] == ["Ada prefers green tea"]
    status, body = worker.health()
    assert status == 200 and body["index"]["lag_events"] == 0
    assert worker.stop().startswith("stopped at position ")
