"""``Memory.optimize()`` on a large embedded index works on a copy, in a child process, while the
live index keeps serving: searches answer and writes land meanwhile, and the optimized copy, with
those writes, is swapped in. A small one is optimized in place."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_builds import Gate, small_memory

from omega_memory_plugin import Memory
from omega_memory_plugin.index.edge import EdgeProjection

WAYS = {"in place": None, "on a copy, in a child process": 0}


def _write(memory: Memory, start: int, n: int) -> None:
    rng = np.random.default_rng(start)
    with memory.transaction() as tx:
        for i in range(start, start + n):
            tx.upsert(
                f"memory {i}", id=str(i), vectors=rng.standard_normal(16), namespace=f"n{i % 3}", metadata={"i": i}
            )


def _answers(memory: Memory) -> list[Any]:
    queries = np.random.default_rng(5).standard_normal((3, 16))
    answers: list[Any] = []
    for namespace in ("n0", "n1", "n2"):
        for q in queries:
            hits = memory.search(q, namespace=namespace, limit=5, filter={"i": {"$gte": 10}})
            answers.append([(h.id, h.version, round(h.score or 0.0, 5)) for h in hits])
        answers.append(sorted(r.id for r in memory.scan(namespace=namespace, limit=None)))
    return answers


@pytest.mark.parametrize("way", list(WAYS))
def test_an_optimized_index_answers_as_before_and_is_the_one_kept(tmp_path: Path, way: str) -> None:
    with small_memory(tmp_path, WAYS[way]) as memory:
        _write(memory, 0, 500)
        memory.delete("7", namespace="n1")
        before = _answers(memory)
        generation = memory.projection.generation  # type: ignore[attr-defined]
        memory.optimize()
        copied = memory.projection.generation != generation  # type: ignore[attr-defined]
        assert copied == (WAYS[way] is not None)
        assert _answers(memory) == before
        assert memory.verify().ok
        _write(memory, 500, 10)
        before = _answers(memory)
    with Memory(tmp_path, embedder="hash:16") as again:
        assert _answers(again) == before
    assert [p.name for p in (tmp_path / "index").iterdir() if p.is_dir()] == [generation_of(tmp_path)]


def generation_of(path: Path) -> str:
    return (path / "index" / "CURRENT").read_text().strip()


def test_searches_and_writes_go_on_while_the_index_is_optimized(tmp_path: Path, held_child: Gate) -> None:
    with small_memory(tmp_path, 0) as memory:
        _write(memory, 0, 300)
        optimizing = threading.Thread(target=memory.optimize)
        optimizing.start()
        assert held_child.entered.wait(60)  # the copy is made; this process still serves
        assert len(memory.search(np.ones(16), namespace="n0", limit=3)) == 3
        _write(memory, 300, 30)
        assert [r.id for r in memory.get(["300"], namespace="n0")] == ["300"]
        held_child.release.set()
        optimizing.join(60)
        assert not optimizing.is_alive()
        assert len(memory.scan(namespace="n0", limit=None)) == 110  # every write, those made meanwhile too
        assert memory.verify().ok


@pytest.mark.parametrize("way", list(WAYS))
def test_an_optimized_index_records_the_log_position_it_holds(tmp_path: Path, way: str) -> None:
    # Else the next open would replay the whole log into it again (harmless, but a full rebuild's time).
    with small_memory(tmp_path, WAYS[way]) as memory:
        _write(memory, 0, 300)
        memory.optimize()
        head = memory._ready_engine().run(memory.log.last_position())
    index = EdgeProjection(tmp_path / "index")
    try:
        state = asyncio.run(index.state())
    finally:
        asyncio.run(index.close())
    assert state is not None and state.position == head


def test_an_optimize_whose_child_cannot_start_is_done_here_on_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with small_memory(tmp_path, 0) as memory:
        _write(memory, 0, 300)
        before = _answers(memory)
        generation = memory.projection.generation  # type: ignore[attr-defined]
        monkeypatch.setattr(sys, "executable", shutil.which("false"))  # a frozen application's
        memory.optimize()
        assert memory.projection.generation != generation  # type: ignore[attr-defined]
        assert _answers(memory) == before
        assert memory.verify().ok
    assert "its child process did not start" in caplog.text
