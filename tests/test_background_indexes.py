"""A filter on a metadata key that a large embedded index has no payload index for answers at once,
without the index (Qdrant then checks each candidate's payload: the same answer), and the index is
built in the background, on a copy a child process optimizes, which is swapped in with the writes
made meanwhile. A smaller index builds it in place on that first search, as before."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_builds import Gate, settled, small_memory

from omega_memory_plugin import Memory
from omega_memory_plugin.index.edge_build import EdgeBuild

FILTERS: list[dict[str, Any]] = [{"topic": "t1"}, {"i": {"$gte": 100}}, {"topic": {"$in": ["t2", "t3"]}, "odd": True}]


def _write(memory: Memory, start: int, n: int) -> None:
    rng = np.random.default_rng(start)
    with memory.transaction() as tx:
        for i in range(start, start + n):
            metadata = {"i": i, "topic": f"t{i % 5}", "odd": i % 2 == 1}
            tx.upsert(
                f"memory {i}", id=str(i), vectors=rng.standard_normal(16), namespace=f"n{i % 2}", metadata=metadata
            )


def _answers(memory: Memory) -> list[Any]:
    query = np.random.default_rng(5).standard_normal(16)
    answers: list[Any] = []
    for spec in FILTERS:
        for namespace in ("n0", "n1"):
            hits = memory.search(query, namespace=namespace, limit=7, filter=spec)
            answers.append([(h.id, round(h.score or 0.0, 5)) for h in hits])
            answers.append(sorted(r.id for r in memory.scan(namespace=namespace, filter=spec, limit=None)))
            answers.append(memory.count(namespace=namespace, filter=spec))
    return answers


def _indexed(memory: Memory) -> set[str]:
    return set(memory.projection._shards["default"].info().payload_schema)  # type: ignore[attr-defined]


@pytest.fixture
def reference(tmp_path: Path) -> list[Any]:
    """The answers of an index that builds every payload index in place, when first asked."""
    with small_memory(tmp_path / "reference", None) as memory:
        _write(memory, 0, 300)
        _write(memory, 300, 20)
        return _answers(memory)


def test_a_new_filter_answers_at_once_and_its_index_is_built_on_a_copy(
    tmp_path: Path, held_child: Gate, reference: list[Any]
) -> None:
    with small_memory(tmp_path / "memory", 0) as memory:
        _write(memory, 0, 300)
        generation = memory.projection.generation  # type: ignore[attr-defined]
        hits = memory.search(np.ones(16), namespace="n1", limit=200, filter={"topic": "t1"})
        assert sorted(int(h.id) for h in hits) == [i for i in range(300) if i % 5 == 1 and i % 2 == 1]
        assert held_child.entered.wait(60)  # the copy is made, its child held: this process serves
        assert "metadata.topic" not in _indexed(memory)  # not built here
        assert len(memory.search(np.ones(16), namespace="n1", limit=3, filter={"topic": "t1"})) == 3
        _write(memory, 300, 20)  # lands in the live index, then in the copy from the log
        held_child.release.set()
        settled(memory)
        assert memory.projection.generation != generation  # type: ignore[attr-defined]
        assert "metadata.topic" in _indexed(memory)
        assert _answers(memory) == reference  # asks for more indexes: built on another copy
        settled(memory)
        assert {"metadata.topic", "metadata.i", "_booleans"} <= _indexed(memory)
        assert _answers(memory) == reference
        assert memory.verify().ok
    with small_memory(tmp_path / "memory", 0) as again:
        assert {"metadata.topic", "metadata.i", "_booleans"} <= _indexed(again)
        assert _answers(again) == reference
        assert again._indexing is None  # nothing more was wanted
    kept = [p.name for p in (tmp_path / "memory" / "index").iterdir() if p.is_dir()]
    assert kept == [(tmp_path / "memory" / "index" / "CURRENT").read_text().strip()]


def test_below_the_threshold_the_first_search_builds_the_index_in_place(tmp_path: Path) -> None:
    with small_memory(tmp_path, 10_000) as memory:
        _write(memory, 0, 300)
        generation = memory.projection.generation  # type: ignore[attr-defined]
        memory.search(np.ones(16), namespace="n1", limit=3, filter={"topic": "t1"})
        assert memory._indexing is None
        assert "metadata.topic" in _indexed(memory)
        assert memory.projection.generation == generation  # type: ignore[attr-defined]


def test_a_copy_that_cannot_be_made_leaves_the_index_to_the_next_search_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, reference: list[Any]
) -> None:
    def no_child(directory: Path) -> EdgeBuild:
        raise OSError("no interpreter to start")

    monkeypatch.setattr(EdgeBuild, "start", no_child)
    with small_memory(tmp_path / "memory", 0) as memory:
        _write(memory, 0, 300)
        _write(memory, 300, 20)
        generation = memory.projection.generation  # type: ignore[attr-defined]
        with caplog.at_level(logging.WARNING, logger="omega_memory_plugin"):
            memory.search(np.ones(16), namespace="n1", limit=3, filter={"topic": "t1"})
            settled(memory)
        assert "could not build the payload indexes" in caplog.text
        assert "no interpreter to start" in caplog.text
        assert "metadata.topic" not in _indexed(memory)
        assert _answers(memory) == reference  # these searches build them, here
        assert {"metadata.topic", "metadata.i", "_booleans"} <= _indexed(memory)
        assert memory._indexing is None
        assert memory.projection.generation == generation  # type: ignore[attr-defined]
        assert [p.name for p in (tmp_path / "memory" / "index").iterdir() if p.is_dir()] == [generation]


def test_closing_while_a_copy_is_indexed_drops_the_copy(tmp_path: Path, held_child: Gate) -> None:
    memory = small_memory(tmp_path, 0)
    _write(memory, 0, 300)
    generation = memory.projection.generation  # type: ignore[attr-defined]
    memory.search(np.ones(16), namespace="n1", limit=3, filter={"topic": "t1"})
    assert held_child.entered.wait(60)
    closing = threading.Thread(target=memory.close)
    closing.start()
    time.sleep(0.2)
    held_child.release.set()
    closing.join(60)
    assert not closing.is_alive()
    assert [p.name for p in (tmp_path / "index").iterdir() if p.is_dir()] == [generation]
    with small_memory(tmp_path, None) as again:
        assert len(again.scan(namespace="n1", filter={"topic": "t1"}, limit=None)) == 30


def test_a_rebuild_keeps_the_payload_indexes_searches_made(tmp_path: Path, reference: list[Any]) -> None:
    with small_memory(tmp_path, 0) as memory:
        _write(memory, 0, 300)
        _write(memory, 300, 20)
        assert _answers(memory) == reference
        settled(memory)
        made = _indexed(memory)
        assert {"metadata.topic", "metadata.i", "_booleans"} <= made
        memory.rebuild(progress=False)  # in a child process, which builds them too
        assert _indexed(memory) == made
        assert _answers(memory) == reference
        assert memory._indexing is None  # nothing was left to ask for
