"""A new Qdrant Edge generation built by a child process (index/edge_build.py): it answers like an
index built in this process, a child that fails fails its build and nothing else, and builds
below the threshold or with the setting off stay in this process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_builds import settled

from omega_memory_plugin import IndexUnavailableError, Memory, Settings
from omega_memory_plugin.events import Distance
from omega_memory_plugin.index.edge import EDGE_LAYOUT, EdgeProjection, EdgeShards
from omega_memory_plugin.index.edge_build import CHILD_BUILD_AT, EdgeBuild


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EdgeBuild]]:
    """Every child build started during the test (the real ones, recorded)."""
    started: list[EdgeBuild] = []
    start = EdgeBuild.start

    def recorded(directory: Path) -> EdgeBuild:
        started.append(start(directory))
        return started[-1]

    monkeypatch.setattr(EdgeBuild, "start", staticmethod(recorded))
    yield started


def _child_built(path: Path) -> Memory:
    """A memory whose every rebuild runs in a child process, however small."""
    return Memory(path, index=EdgeProjection(path / "index", child_build_at=0), embedder="hash:16")


def _write(memory: Memory, n: int = 300) -> None:
    rng = np.random.default_rng(3)
    with memory.transaction() as tx:
        for i in range(n):
            metadata: dict[str, Any] = {"i": i, "even": i % 2 == 0, "tag": ["a", "B"][i % 2], "x": float(i) / 7}
            tx.upsert(
                f"memory {i}", id=str(i), vectors=rng.standard_normal(16), namespace=f"n{i % 3}", metadata=metadata
            )
    memory.delete("3", namespace="n0")
    memory.upsert("again", id="4", vectors=rng.standard_normal(16), namespace="n1", metadata={"i": -1})
    memory.erase_namespace("n2")


def _answers(memory: Memory) -> list[Any]:
    queries = np.random.default_rng(5).standard_normal((4, 16))
    answers: list[Any] = []
    for namespace in ("n0", "n1", "n2"):
        for flt in (None, {"even": True}, {"x": {"$gt": 10.0}}, {"tag": {"$itext": "b"}}):
            for q in queries:
                hits = memory.search(q, namespace=namespace, limit=5, filter=flt)
                answers.append([(h.id, h.version, h.metadata, round(h.score or 0.0, 5)) for h in hits])
        answers.append([(r.id, r.text, r.metadata) for r in memory.scan(namespace=namespace, limit=None)])
    settled(memory)
    return answers


def test_a_rebuild_in_a_child_process_answers_like_the_live_index(tmp_path: Path, builds: list[EdgeBuild]) -> None:
    with _child_built(tmp_path) as memory:
        _write(memory)
        live = _answers(memory)
        builds.clear()  # those that built the payload indexes these searches asked for
        memory.rebuild(progress=False)
        assert len(builds) == 1
        assert builds[0]._process.returncode == 0  # taken over: the child flushed, closed and exited
        assert _answers(memory) == live
        assert memory.verify().ok
        memory.upsert("after", id="new", vectors=np.ones(16), namespace="n0")  # written here now
        assert memory.get(["new"], namespace="n0")[0].text == "after"
        live = _answers(memory)
    with Memory(tmp_path, embedder="hash:16") as again:  # and it is the index future opens use
        assert _answers(again) == live


def test_a_child_that_dies_fails_the_rebuild_and_the_live_index_keeps_serving(
    tmp_path: Path, builds: list[EdgeBuild], monkeypatch: pytest.MonkeyPatch
) -> None:
    send = EdgeBuild.send

    def killed_after_the_first_write(build: EdgeBuild, message: tuple[Any, ...]) -> None:
        send(build, message)
        if build._process.poll() is None:
            os.kill(build._process.pid, signal.SIGKILL)  # as the OOM killer would

    with _child_built(tmp_path) as memory:
        _write(memory)
        live = _answers(memory)
        builds.clear()
        monkeypatch.setattr(EdgeBuild, "send", killed_after_the_first_write)
        with pytest.raises(IndexUnavailableError, match="child process"):
            memory.rebuild(progress=False)
        assert _answers(memory) == live
        generations = [p.name for p in (tmp_path / "index").iterdir() if p.is_dir()]
        assert generations == [memory.projection.generation]  # the failed build left nothing behind
        monkeypatch.setattr(EdgeBuild, "send", send)
        memory.rebuild(progress=False)
        assert _answers(memory) == live
        assert len(builds) == 2


def test_a_write_the_child_cannot_carry_out_fails_the_build_and_nothing_after_it_is_applied(tmp_path: Path) -> None:
    build = EdgeBuild.start(tmp_path)
    vector = np.ones(4, np.float32).tobytes()
    point = (str(uuid.uuid4()), {"dense": vector}, ([], []), {"namespace": "n"})
    build.send(("create", "c", {"dense": 4}, Distance.COSINE))
    build.send(("upsert", "gone", [point]))  # no such collection
    build.send(("upsert", "c", [point]))
    with pytest.raises(IndexUnavailableError, match="lost collection 'gone'"):
        build.call(("flush",))
    with pytest.raises(IndexUnavailableError, match="lost collection 'gone'"):
        build.call(("flush",))  # every later answer is the first error
    with pytest.raises(IndexUnavailableError, match="lost collection 'gone'"):
        build.finish()
    assert build._process.poll() is not None  # stopped, though it could not close cleanly
    shards = EdgeShards(tmp_path)
    try:
        assert shards.shards["c"].info().points_count == 0
    finally:
        shards.close()


def test_a_message_the_child_does_not_know_is_an_error_not_a_crash(tmp_path: Path) -> None:
    build = EdgeBuild.start(tmp_path)
    try:
        with pytest.raises(IndexUnavailableError, match="unknown Edge write 'compact'"):
            build.call(("compact",))
    finally:
        build.kill()


def test_small_builds_and_the_setting_keep_the_build_in_this_process(tmp_path: Path, builds: list[EdgeBuild]) -> None:
    async def fresh_builds(index: EdgeProjection, events: int) -> bool:
        fresh = await index.fresh(events=events)
        try:
            return fresh._build is not None
        finally:
            await fresh.drop()

    with Memory(tmp_path / "on") as on:
        index = on.projection
        assert isinstance(index, EdgeProjection) and index.child_build_at == CHILD_BUILD_AT
        assert not asyncio.run(fresh_builds(index, CHILD_BUILD_AT - 1))
        assert asyncio.run(fresh_builds(index, CHILD_BUILD_AT))
    with Memory(tmp_path / "off", settings=Settings(edge_build_process=False)) as off:
        assert isinstance(off.projection, EdgeProjection) and off.projection.child_build_at is None
        assert not asyncio.run(fresh_builds(off.projection, 10**9))
    assert len(builds) == 1
    assert builds[0]._process.poll() is not None  # a dropped build's child is gone


def test_the_child_exits_when_this_process_goes_away(tmp_path: Path) -> None:
    build = EdgeBuild.start(tmp_path)
    build.send(("create", "c", {"dense": 4}, Distance.COSINE))
    build._to.close()  # what the OS does to the pipe when this process dies
    assert build._process.wait(timeout=60) == 0
    build.kill()


def test_without_an_interpreter_to_run_the_child_the_build_happens_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A frozen application's sys.executable is not a Python that can run `-m`: the child exits at
    # once, before anything was sent to it, and this process builds the generation itself.
    with _child_built(tmp_path) as memory:
        _write(memory)
        live = _answers(memory)
        monkeypatch.setattr(sys, "executable", shutil.which("false"))
        memory.rebuild(progress=False)
        assert _answers(memory) == live
    assert "its child process did not start" in caplog.text


def test_the_child_imports_this_package_whatever_the_current_directory_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another copy of the package in the current directory (a checkout of an older version) would
    # otherwise come first on the child's path: this one is broken, and must not be the one used.
    shadow = tmp_path / "cwd" / "omega_memory_plugin"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('the copy in the current directory')\n")
    monkeypatch.chdir(tmp_path / "cwd")
    (tmp_path / "generation").mkdir()
    build = EdgeBuild.start(tmp_path / "generation")
    try:
        build.call(("create", "c", {"dense": 4}, Distance.COSINE))
        assert build.started()
    finally:
        build.kill()


def test_an_index_of_an_older_layout_is_rebuilt_at_open_in_a_child_process(
    tmp_path: Path, builds: list[EdgeBuild]
) -> None:
    with _child_built(tmp_path) as memory:
        _write(memory)
        live = _answers(memory)
    builds.clear()
    generation = (tmp_path / "index" / "CURRENT").read_text().strip()
    state_file = tmp_path / "index" / generation / "STATE.json"
    state = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**state, "layout": EDGE_LAYOUT - 1}))  # as the previous version left it
    with _child_built(tmp_path) as memory:  # rebuilt from the log before it serves
        assert len(builds) == 1 and builds[0]._process.returncode == 0
        assert (tmp_path / "index" / "CURRENT").read_text().strip() != generation
        assert _answers(memory) == live


def test_an_index_lost_at_open_is_built_in_a_child_process(tmp_path: Path, builds: list[EdgeBuild]) -> None:
    with _child_built(tmp_path) as memory:
        _write(memory)
        live = _answers(memory)
    builds.clear()
    shutil.rmtree(tmp_path / "index")  # no state and no checkpoint: as if never built
    with _child_built(tmp_path) as memory:  # built as rebuild() builds, before it serves
        assert len(builds) == 1 and builds[0]._process.returncode == 0
        assert _answers(memory) == live
    assert [p.name for p in (tmp_path / "index").iterdir() if p.is_dir()] == [
        (tmp_path / "index" / "CURRENT").read_text().strip()
    ]
