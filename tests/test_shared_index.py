"""Several application processes on one MongoDB log (FerretDB) and one real Qdrant server, as in
production (issue 10): a lagging process never overwrites newer data, a rebuild in one process
never breaks the others, processes opening a fresh prefix agree on one generation.

Every process here is a real child process (tests/processes/app.py) driven by JSON commands; where
a race needs a precise interleaving, a process is held right after its append through the public
``after_append`` hook (tests/processes/hold.py), so the test is deterministic rather than lucky.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient

from omega_memory_plugin.index.qdrant_meta import QdrantMeta
from tests.processes.driver import AppProcess

LEASE = 4.0  # seconds: processes renew (and look for a newer generation) every half second


@pytest.fixture
def settings(tmp_path: Path, qdrant_url: str, qdrant_prefix: str) -> dict[str, Any]:
    return {
        "log_url": f"sqlite:///{tmp_path}/log.db",
        "index_url": qdrant_url,
        "qdrant_prefix": qdrant_prefix,
        "qdrant_lease_seconds": LEASE,
        "embedder": "hash:32",
        "namespace": "ns",
    }


@pytest.fixture
def start(settings: dict[str, Any]) -> Iterator[Callable[..., AppProcess]]:
    started: list[AppProcess] = []

    def start_process(env: dict[str, str] | None = None, wait: bool = True, **overrides: Any) -> AppProcess:
        process = AppProcess({**settings, **overrides}, env=env)
        started.append(process)
        if wait:
            process.ready()
        return process

    yield start_process
    for process in started:
        process.close()


def generations_on_server(url: str, prefix: str) -> set[str]:
    async def read() -> set[str]:
        client = AsyncQdrantClient(url=url)
        try:
            return set(await QdrantMeta(client, prefix).generations())
        finally:
            await client.close()

    return asyncio.run(read())


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.2)


def test_a_lagging_process_never_overwrites_a_newer_version(start: Callable[..., AppProcess], tmp_path: Path) -> None:
    hold = tmp_path / "hold"
    lagging = start(plugins="hold", env={"OMEGA_TEST_HOLD": str(hold)})
    hold.touch()
    lagging.send("upsert", text="one", id="m")  # appended at position 2, then held before projecting
    eventually(lambda: Path(f"{hold}.held").exists())

    ahead = start()
    assert ahead.call("upsert", text="two", id="m")["version"] == 2  # position 3, projected
    hold.unlink()  # the lagging process now applies position 2
    assert lagging.reply()["version"] == 2  # its own read after its write: the newer version

    for process in (ahead, lagging, start()):
        assert [(r["text"], r["version"]) for r in process.call("get", ids=["m"])] == [("two", 2)]
        assert process.call("health")["index"]["lag_events"] == 0
        report = process.call("verify")
        assert report["ok"], report["drift"]


def test_a_rebuild_in_one_process_never_breaks_the_others(
    start: Callable[..., AppProcess], qdrant_url: str, qdrant_prefix: str
) -> None:
    first, second, third = start(), start(), start()
    for i in range(20):
        first.call("upsert", text=f"memory {i}", id=f"m{i}")
    # All 20: the hash embedder ties 12 of them at one score, and tied hits come in the order of
    # each generation's internal point ids, so a top 10 may differ between generations.
    before = second.call("search", text="memory 7", limit=20)
    old = generations_on_server(qdrant_url, qdrant_prefix)
    assert len(old) == 1

    first.call("rebuild")
    # The others still read (their generation is leased, not dropped) and see new writes at once.
    after = second.call("search", text="memory 7", limit=20)
    assert after[0]["id"] == before[0]["id"] == "m7"
    assert sorted(h["id"] for h in after) == sorted(h["id"] for h in before) == sorted(f"m{i}" for i in range(20))
    first.call("upsert", text="after the rebuild", id="new")
    for process in (second, third):
        assert [r["text"] for r in process.call("get", ids=["new"])] == ["after the rebuild"]

    # Within a lease's renewal they follow the new generation; the old one goes when the last leaves.
    def followed() -> bool:
        for process in (second, third):
            process.call("search", text="memory 3")
        return len(generations_on_server(qdrant_url, qdrant_prefix) - old) == 1 and not (
            generations_on_server(qdrant_url, qdrant_prefix) & old
        )

    eventually(followed)
    names = {p.call("health")["index"]["name"] for p in (first, second, third)}
    assert len(names) == 1, names

    # And a rebuild in another process in turn breaks nobody.
    third.call("rebuild")
    third.call("upsert", text="after the second rebuild", id="newer")
    for process in (first, second, third):
        assert len(process.call("scan")) == 22
        report = process.call("verify")
        assert report["ok"], report["drift"]


def test_two_rebuilds_at_once_leave_a_live_generation(
    start: Callable[..., AppProcess], qdrant_url: str, qdrant_prefix: str
) -> None:
    first, second, reader = start(), start(), start()
    for i in range(10):
        first.call("upsert", text=f"memory {i}", id=f"m{i}")
    first.send("rebuild")
    second.send("rebuild")
    first.reply()
    second.reply()
    for _ in range(10):
        for process in (first, second, reader):
            assert len(process.call("scan")) == 10
        time.sleep(LEASE / 8)
    eventually(lambda: len(generations_on_server(qdrant_url, qdrant_prefix)) == 1)
    late = start()
    assert len(late.call("scan")) == 10


@pytest.mark.parametrize("trial", range(3))
def test_processes_opening_a_fresh_prefix_agree_on_one_generation(start: Callable[..., AppProcess], trial: int) -> None:
    processes = [start(wait=False) for _ in range(3)]
    names = {process.ready() for process in processes}
    assert len(names) == 1, names
    processes[0].call("upsert", text="seen by all", id="x")
    for process in processes:
        assert [r["id"] for r in process.call("get", ids=["x"])] == ["x"]


def test_a_process_reads_and_deletes_in_a_collection_created_after_it_opened(
    start: Callable[..., AppProcess],
) -> None:
    early = start()  # opens before the collection exists
    late = start()
    late.call("upsert", text="made by another process", id="x")
    assert [h["id"] for h in early.call("search", text="made by another process")] == ["x"]
    assert early.call("delete", id="x") == 1  # once silently dropped: the collection was unknown here
    assert late.call("get", ids=["x"]) == []


def test_verify_while_another_process_writes_reports_no_false_drift(start: Callable[..., AppProcess]) -> None:
    writer, checker = start(), start()
    writer.send("churn", n=400)
    reports = []
    while not reports or len(reports) < 4:
        report = checker.call("verify")
        assert report["ok"], report["drift"]
        reports.append(report)
    assert writer.reply() == 400
    repaired = checker.call("verify")  # nothing is in flight any more
    assert repaired["ok"] and repaired["in_flight"] == 0, repaired


def test_a_process_whose_generation_vanished_follows_on_the_next_call(
    tmp_path: Path, qdrant_url: str, qdrant_prefix: str
) -> None:
    # What a stalled process or a wrong clock can cause (docs/deployment.md): its generation is
    # dropped under it. One call may fail; the next follows the current generation.
    from omega_memory_plugin import Memory, Settings
    from omega_memory_plugin.errors import IndexUnavailableError

    settings = Settings(
        log_url=f"sqlite:///{tmp_path}/log.db", index_url=qdrant_url, qdrant_prefix=qdrant_prefix, embedder="hash:32"
    )
    with Memory(settings=settings) as stalled, Memory(settings=settings) as other:
        stalled.upsert("before", id="a")
        old = stalled.projection.generation
        other.rebuild(progress=False)
        other.upsert("after", id="b")

        async def drop_old() -> None:
            client = AsyncQdrantClient(url=qdrant_url)
            for name in (await QdrantMeta(client, qdrant_prefix).generations())[old or ""]:
                await client.delete_collection(name)
            await client.close()

        asyncio.run(drop_old())
        try:
            stalled.search(text="before")
        except IndexUnavailableError:
            pass  # at most once
        assert {h.id for h in stalled.search(text="before")} == {"a", "b"}
        assert stalled.projection.generation == other.projection.generation
