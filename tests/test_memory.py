"""The Memory facade on every backend: writes, reads, history, batching, replay, concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import log_position
from omega_memory_plugin import Memory
from omega_memory_plugin.errors import (
    ConcurrencyError,
    EmbeddingModelError,
    InvalidInputError,
    InvalidVectorError,
    MemoryClosedError,
    ReadOnlyMemoryError,
)


def vec(*values: float) -> list[float]:
    return [*values, *([0.0] * (16 - len(values)))]


def test_upsert_get_search_with_any_string_id(memory: Memory) -> None:
    for memory_id in ("1", "doc-7#3", "ü/ß ✓"):
        memory.upsert(f"text {memory_id}", id=memory_id, vectors=vec(1, len(memory_id)), metadata={"k": memory_id})
    generated = memory.upsert("no id given", vectors=vec(0, 1))
    assert generated and isinstance(generated, str)
    got = memory.get(["doc-7#3", "missing", "1"])
    assert [(r.id, r.text, r.metadata) for r in got] == [
        ("doc-7#3", "text doc-7#3", {"k": "doc-7#3"}),
        ("1", "text 1", {"k": "1"}),
    ]
    hits = memory.search(vec(1, 7), limit=2)
    assert hits[0].id == "doc-7#3" and hits[0].score is not None
    assert memory.count() == 4


def test_overwrite_versions_and_history(memory: Memory) -> None:
    memory.upsert("first", id="m", vectors=vec(1))
    memory.upsert("second", id="m", vectors=vec(0, 1), metadata={"v": 2})
    (record,) = memory.get("m")
    assert (record.text, record.version, record.metadata) == ("second", 2, {"v": 2})
    memory.delete("m")
    history = memory.history("m")
    assert [(e.type, e.version) for e in history] == [
        ("memory.upserted", 1),
        ("memory.upserted", 2),
        ("memory.deleted", 3),
    ]
    assert [e.position for e in history] == sorted(e.position for e in history)
    assert history[0].data.text == "first"
    assert memory.get("m") == []


def test_delete_counts_only_existing_memories(memory: Memory) -> None:
    memory.upsert("a", id="a", vectors=vec(1))
    before = log_position(memory)
    assert memory.delete(["missing"]) == 0
    assert log_position(memory) == before  # nothing to delete, nothing appended
    assert memory.delete(["a", "missing"]) == 1
    assert memory.delete("a") == 0


def test_namespaces_are_isolated_and_erasable(memory: Memory) -> None:
    memory.upsert("ada's", id="x", vectors=vec(1), namespace="ada")
    memory.upsert("bob's", id="x", vectors=vec(1), namespace="bob")
    assert [h.text for h in memory.search(vec(1), namespace="ada")] == ["ada's"]
    assert memory.erase_namespace("ada") == 1
    assert memory.search(vec(1), namespace="ada") == []
    assert [r.text for r in memory.get("x", namespace="bob")] == ["bob's"]
    assert memory.count(all_namespaces=True) == 1


def test_metadata_filters_and_scan(memory: Memory) -> None:
    for i in range(6):
        memory.upsert(
            f"m{i}", id=f"m{i}", vectors=vec(1, i), metadata={"i": i, "even": i % 2 == 0, "tag": ["x", "y"][i % 2]}
        )
    assert sorted(h.id for h in memory.search(vec(1), filter={"i": {"$gte": 3}}, limit=10)) == ["m3", "m4", "m5"]
    assert sorted(h.id for h in memory.search(vec(1), filter={"even": True, "tag": "x"}, limit=10)) == [
        "m0",
        "m2",
        "m4",
    ]
    assert [r.id for r in memory.scan(filter={"$or": [{"i": 1}, {"i": 5}]})] == ["m1", "m5"]
    assert memory.count(filter={"tag": {"$ne": "x"}}) == 3


def test_named_vectors_and_text_search(memory: Memory) -> None:
    assert memory.create_collection("docs", {"title": 3, "body": 4}) is True
    assert memory.create_collection("docs", {"title": 3, "body": 4}) is False
    memory.upsert("a", id="a", vectors={"title": [1, 0, 0], "body": [0, 0, 0, 1]}, collection="docs")
    memory.upsert("b", id="b", vectors={"title": [0, 1, 0], "body": [1, 0, 0, 0]}, collection="docs")
    assert memory.search({"title": [0, 1, 0]}, collection="docs", limit=1)[0].id == "b"
    assert memory.search({"body": [0, 0, 0, 1]}, collection="docs", limit=1)[0].id == "a"
    memory.upsert("green tea in the morning", id="t")
    memory.upsert("python code review", id="p")
    assert memory.search(text="morning tea", limit=1)[0].id == "t"


def test_expected_version(memory: Memory) -> None:
    memory.upsert("v1", id="m", vectors=vec(1), expected_version=0)
    memory.upsert("v2", id="m", vectors=vec(1), expected_version=1)
    before = log_position(memory)
    with pytest.raises(ConcurrencyError) as info:
        memory.upsert("stale", id="m", vectors=vec(1), expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert log_position(memory) == before
    assert memory.get("m")[0].text == "v2"


def test_transaction_commits_atomically(memory: Memory) -> None:
    with memory.transaction() as tx:
        ids = [tx.upsert(f"doc {i}", id=f"d{i}", vectors=vec(1, i)) for i in range(50)]
        tx.delete("d0")
    assert memory.count() == 49 and ids[1] == "d1"
    positions = [e.position for e in tx.events]
    assert positions == list(range(positions[0], positions[0] + 51))

    before = log_position(memory)
    with pytest.raises(RuntimeError), memory.transaction() as tx:
        tx.upsert("never", id="n", vectors=vec(1))
        raise RuntimeError("boom")
    # a conflict found at commit time (second dimension in one new collection) also writes nothing
    with pytest.raises(InvalidVectorError), memory.transaction() as tx:
        tx.upsert("ok", id="ok", vectors=[1.0] * 4, collection="fresh")
        tx.upsert("bad", id="bad", vectors=[1.0] * 5, collection="fresh")
    assert log_position(memory) == before
    assert memory.get("n") == [] and memory.search([1.0] * 4, collection="fresh") == []


def test_buffered_writer_flushes_by_size_time_and_close(memory: Memory) -> None:
    writer = memory.writer(batch_size=10, flush_seconds=0.2)
    for i in range(25):
        writer.upsert(f"w{i}", id=f"w{i}", vectors=vec(1, i))
    assert memory.count() == 20  # two full batches committed
    deadline = time.monotonic() + 5
    while memory.count() < 25 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert memory.count() == 25  # the rest, by time
    writer.upsert("last", id="last", vectors=vec(1))
    writer.close()
    assert memory.count() == 26 and writer.written == 26


def test_rebuild_gives_the_same_answers(memory: Memory) -> None:
    for i in range(30):
        memory.upsert(f"m{i}", id=f"m{i % 20}", vectors=vec(1, i, i % 3), metadata={"i": i})
    memory.delete(["m3", "m4"])
    queries = [vec(1, q, 1) for q in (0, 5, 17)]
    before = [[(h.id, round(h.score or 0, 4)) for h in memory.search(q, limit=5)] for q in queries]
    position = memory.rebuild(progress=False)
    assert position == log_position(memory)
    after = [[(h.id, round(h.score or 0, 4)) for h in memory.search(q, limit=5)] for q in queries]
    assert after == before and memory.count() == 18


def test_rebuild_optimizes_the_new_index_before_it_serves(memory: Memory, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        memory.upsert(f"m{i}", id=f"m{i}", vectors=vec(1, i, i % 3))
    kind = type(memory.projection)
    optimize = kind.optimize
    seen: list[tuple[object, object]] = []

    async def spy(self: Any) -> None:
        seen.append((self, memory.projection))  # which index, and which one served then
        await optimize(self)

    monkeypatch.setattr(kind, "optimize", spy)
    memory.rebuild(progress=False)

    assert len(seen) == 1
    optimized, serving = seen[0]
    assert optimized is memory.projection and serving is not optimized  # the new one, before the swap
    assert [r.id for r in memory.search(vec(1, 29, 2), limit=1)] == ["m29"]


def test_as_of_position_and_time(memory: Memory) -> None:
    memory.upsert("one", id="a", vectors=vec(1))
    memory.upsert("two", id="b", vectors=vec(0, 1))
    middle = datetime.now(UTC)
    time.sleep(0.01)
    memory.upsert("one, changed", id="a", vectors=vec(1))
    memory.delete("b")
    first_write = memory.history("a")[0].position
    with memory.as_of(first_write) as past:
        assert [r.text for r in past.scan()] == ["one"]
        with pytest.raises(ReadOnlyMemoryError):
            past.upsert("nope", vectors=vec(1))
    with memory.as_of(middle) as past:
        assert sorted(r.text for r in past.scan()) == ["one", "two"]
    assert [r.text for r in memory.scan()] == ["one, changed"]


def test_async_twins_inside_a_running_loop(memory: Memory) -> None:
    async def main() -> None:
        await asyncio.gather(*(memory.aupsert(f"a{i}", id=f"a{i}", vectors=vec(1, i)) for i in range(40)))
        assert await memory.acount() == 40
        hits = await memory.asearch(vec(1, 39), limit=1)
        assert hits[0].id == "a39"
        assert [e.version for e in await memory.ahistory("a1")] == [1]
        memory.upsert("sync call from inside a loop", id="s", vectors=vec(1))  # must not deadlock
        async with memory.transaction() as tx:
            tx.upsert("in async tx", id="t", vectors=vec(1))
        assert len(await memory.aget(["s", "t"])) == 2

    asyncio.run(main())


def test_many_threads_write_without_loss(memory: Memory) -> None:
    def work(worker: int) -> None:
        for i in range(25):
            memory.upsert(f"{worker}-{i}", id=f"{worker}-{i}", vectors=vec(1, worker, i))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert memory.count() == 200
    assert log_position(memory) == 201  # 200 memories + the collection's creation


def test_closed_memory_raises(tmp_path: Path) -> None:
    m = Memory(tmp_path / "m")
    m.close()
    m.close()  # idempotent
    with pytest.raises(MemoryClosedError):
        m.search(vec(1))


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as m:
        m.upsert("kept", id="k", vectors=vec(1), metadata={"a": 1})
    with Memory(tmp_path / "m") as m:
        assert [(r.text, r.metadata) for r in m.get("k")] == [("kept", {"a": 1})]
        assert m.health()["index"]["lag_events"] == 0


def test_other_writers_are_seen_on_read(tmp_path: Path) -> None:
    # Two Memory objects on one SQLite log, each with its own index (as two processes would be).
    log_url = f"sqlite:///{tmp_path}/shared.db"
    with Memory(log_url=log_url, index_url="memory://") as a, Memory(log_url=log_url, index_url="memory://") as b:
        a.upsert("written by a", id="x", vectors=vec(1))
        assert [r.text for r in b.get("x")] == ["written by a"]
        b.upsert("then b", id="x", vectors=vec(1))
        assert [(r.text, r.version) for r in a.get("x")] == [("then b", 2)]


def test_memory_on_the_mongo_log(mongo_url: str, tmp_path: Path) -> None:
    with Memory(log_url=mongo_url, index_url=f"edge:///{tmp_path}/index") as memory:
        memory.upsert("first", id="a", vectors=vec(1))
        with memory.transaction() as tx:
            for i in range(20):
                tx.upsert(f"t{i}", id=f"t{i}", vectors=vec(0, 1, i))
        memory.upsert("first, changed", id="a", vectors=vec(1))
        assert [e.version for e in memory.history("a")] == [1, 2]
        assert memory.search(vec(1), limit=1)[0].text == "first, changed"
        assert memory.count() == 21
    with Memory(log_url=mongo_url, index_url="memory://") as fresh_index:  # replays from Mongo
        assert fresh_index.count() == 21 and fresh_index.get("a")[0].version == 2


@pytest.mark.parametrize("driver", ["pymongo-async", "motor"])
def test_memory_with_a_database_object(mongo_url: str, driver: str) -> None:
    from motor.motor_asyncio import AsyncIOMotorClient
    from pymongo import AsyncMongoClient

    from omega_memory_plugin.log.mongo import MongoEventLog, database_name

    # Naive datetimes (no tz_aware=True), as an application's own client may be set up: the log copes.
    client = AsyncMongoClient(mongo_url) if driver == "pymongo-async" else AsyncIOMotorClient(mongo_url)
    log = MongoEventLog(client[database_name(mongo_url)], close_client=True)
    with Memory(log=log, index_url="memory://") as memory:
        memory.upsert(f"via {driver}", id="s", vectors=vec(1))
        assert memory.history("s")[0].recorded_at.tzinfo is not None
    with Memory(log_url=mongo_url, index_url="memory://") as again:
        assert [r.text for r in again.get("s")] == [f"via {driver}"]


def test_mongo_commit_over_the_document_limit_is_refused_and_nothing_written(mongo_url: str) -> None:
    from omega_memory_plugin import InvalidInputError, Settings

    settings = Settings(log_url=mongo_url, index_url="memory://", max_text_bytes=20_000_000)
    with Memory(settings=settings) as memory:
        memory.upsert("small", id="s", vectors=vec(1))
        with pytest.raises(InvalidInputError, match="smaller transactions"):
            memory.upsert("x" * 16_000_000, id="huge", vectors=vec(1))
        assert log_position(memory) == 2 and memory.get("huge") == []


def test_embedding_model_of_given_vectors_is_recorded(memory: Memory) -> None:
    memory.upsert("tea", id="t", vectors=[1.0] * 16, embedding_model="openai:text-embedding-3-small")
    with pytest.raises(EmbeddingModelError, match="'openai:text-embedding-3-small'.*'local:minilm'"):
        with memory.transaction() as tx:  # another model's vectors in the same collection: refused
            tx.upsert("coffee", id="c", vectors=[0.5] * 16, embedding_model="local:minilm")
    with memory.transaction() as tx:
        tx.upsert("coffee", id="c", vectors=[0.5] * 16, embedding_model="local:minilm", collection="mini")
    assert memory.history("t")[0].data.embedding_model == "openai:text-embedding-3-small"  # type: ignore[union-attr]
    assert memory.get("c", collection="mini")[0].embedding_model == "local:minilm"
    assert memory.collections()["mini"].embedding_model == "local:minilm"  # recorded by its first write
    with pytest.raises(InvalidInputError, match="embedding_model names the model"):
        memory.upsert("no vectors", embedding_model="x")  # the embedder records its own name
