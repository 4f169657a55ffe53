"""A collection holds one embedding model's vectors: it records the model when it is created, a
reopened memory finds its embedder again, and another model's vectors are refused, on write and
on search, before anything is appended."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from omega_memory_plugin import EmbeddingModelError, Memory
from omega_memory_plugin.events import SCHEMA_VERSION, decode_event
from omega_memory_plugin.log.sqlite import SQLiteEventLog


class OtherModel:
    """Another model of the same dimension as hash:16: an index would take its vectors silently."""

    name = "other-model"
    dimension = 16

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0] + [0.0] * 15 for _ in texts]


def position(memory: Memory) -> int:
    return int(memory.health()["log"]["position"])


def test_a_reopened_memory_finds_its_embedder(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        memory.upsert("Ada drinks green tea", id="tea")
        memory.upsert("Bob runs", id="run", collection="notes")
    with Memory(tmp_path / "m") as memory:  # no embedder given
        assert memory.embedder is not None and memory.embedder.name == "hash:16"
        assert memory.collections()["default"].embedding_model == "hash:16"
        assert memory.search(text="green tea", limit=1)[0].id == "tea"
        assert memory.search(text="runs", collection="notes", limit=1)[0].id == "run"
        memory.upsert("Ada likes oolong", id="oolong")  # embedded by the recorded model
        assert memory.get("oolong")[0].embedding_model == "hash:16"


def test_each_collection_is_embedded_by_its_own_model(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        memory.upsert("Ada drinks green tea", id="tea")
    with Memory(tmp_path / "m", collection="notes", embedder="hash:32") as memory:  # its own default
        memory.upsert("Bob runs along the river", id="run")
    with Memory(tmp_path / "m") as memory:
        assert memory.embedder_for("notes").name == "hash:32"  # type: ignore[union-attr]
        assert memory.search(text="river", collection="notes", limit=1)[0].id == "run"
        assert memory.search(text="green tea", limit=1)[0].id == "tea"
        memory.upsert("Bob swims too", id="swim", collection="notes")
        assert memory.get("swim", collection="notes")[0].embedding_model == "hash:32"
        memory.upsert("a new collection", id="new", collection="fresh")  # embedded as the default one is
        assert memory.collections()["fresh"].embedding_model == "hash:16"


def test_opening_with_another_model_says_what_differs_and_leaves_the_memory_closed(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        memory.upsert("Ada drinks green tea", id="tea")
    with pytest.raises(EmbeddingModelError, match="'hash:16'.*'other-model'"):
        Memory(tmp_path / "m", embedder=OtherModel())
    with Memory(tmp_path / "m", embedder="hash:16") as memory:  # nothing held on to: opens again
        assert position(memory) == 2


def test_another_models_vectors_are_refused_and_nothing_is_written(memory: Memory) -> None:
    memory.upsert("Ada drinks green tea", id="tea")  # the fixture's embedder: hash:16
    before = position(memory)
    with pytest.raises(EmbeddingModelError, match="'hash:16'.*'other-model'"):
        memory.upsert("x", id="x", vectors=OtherModel().embed(["x"])[0], embedding_model="other-model")
    with pytest.raises(EmbeddingModelError):
        with memory.transaction() as tx:
            tx.upsert("fine", id="fine")
            tx.upsert("x", id="x", vectors=[0.5] * 16, embedding_model="other-model")
    assert position(memory) == before
    memory.upsert("own vectors, model unknown", id="own", vectors=[0.5] * 16)  # cannot be checked: accepted


def test_a_search_with_another_models_vector_is_refused(memory: Memory) -> None:
    memory.upsert("Ada drinks green tea", id="tea")
    vector = OtherModel().embed(["tea"])[0]
    with pytest.raises(EmbeddingModelError, match="the query's vector"):
        memory.search(vector, embedding_model="other-model")
    assert memory.search(vector, embedding_model="hash:16", limit=1)[0].id == "tea"
    assert memory.search(vector, limit=1)[0].id == "tea"  # a vector of unknown model: not checked


def test_create_collection_records_the_model(memory: Memory) -> None:
    assert memory.create_collection("docs", 16, embedding_model="hash:16") is True
    assert memory.collections()["docs"].embedding_model == "hash:16"
    assert memory.create_collection("docs", 16) is False  # alike: no model named
    assert memory.create_collection("docs", 16, embedding_model="hash:16") is False
    with pytest.raises(ValueError, match="already exists"):
        memory.create_collection("docs", 16, embedding_model="other-model")
    with pytest.raises(EmbeddingModelError):
        memory.upsert("x", vectors=[1.0] * 16, embedding_model="other-model", collection="docs")


def test_a_collection_without_a_recorded_model_takes_any(memory: Memory) -> None:
    memory.create_collection("legacy", 16)
    memory.upsert("a", id="a", vectors=[1.0] * 16, embedding_model="one", collection="legacy")
    memory.upsert("b", id="b", vectors=[0.5] * 16, embedding_model="two", collection="legacy")
    assert {r.embedding_model for r in memory.scan(collection="legacy")} == {"one", "two"}


def test_collection_events_written_before_the_field_read_as_unknown_model() -> None:
    event = decode_event(
        type="collection.created",
        data={"vectors": {"dense": 4}, "distance": "cosine"},
        schema_version=SCHEMA_VERSION,
        collection="old",
        position=1,
        version=1,
    )
    assert event.type == "collection.created" and event.data.embedding_model is None


@pytest.mark.parametrize("log", ["sqlite", "mongo"])
async def test_the_recorded_model_survives_every_log(log: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path}/log.db" if log == "sqlite" else request.getfixturevalue("mongo_url")
    options = {"log_url": url, "index_url": "memory://"}
    with Memory(**options, embedder="hash:16") as memory:
        memory.upsert("Ada drinks green tea", id="tea")
    with Memory(**options) as memory:
        assert memory.collections()["default"].embedding_model == "hash:16"
        assert memory.embedder is not None and memory.embedder.name == "hash:16"
    if log == "sqlite":
        sqlite = SQLiteEventLog(tmp_path / "log.db")
        await sqlite.open()
        (created,) = await sqlite.collections()
        await sqlite.close()
        assert created.data.embedding_model == "hash:16"  # type: ignore[union-attr]
