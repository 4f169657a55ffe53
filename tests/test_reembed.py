"""Re-embedding a collection with another model through the log: ``Memory.reembed`` and
``rollback_embedding`` on every backend, with writes during the re-embedding, a kill in the middle,
another process that follows the switch, and an export that carries it all."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from conftest import log_position
from omega_memory_plugin import EmbeddingModelError, InvalidInputError, InvalidVectorError, Memory, Settings
from omega_memory_plugin.embeddings import HashEmbedder
from omega_memory_plugin.events import EVENT_ADAPTER

TEXTS = [f"memory {i}: {topic} number {i * 7}" for i, topic in enumerate(["tea", "coffee", "rivers", "trains"] * 10)]


class Counting:
    """A hash embedder that records every text it embeds, and may act while it works (as other
    callers of the Memory would, from another thread)."""

    def __init__(self, dimension: int, during: Callable[[int], None] | None = None) -> None:
        self.inner = HashEmbedder(dimension)
        self.name = self.inner.name
        self.texts: list[str] = []
        self.during = during

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        if self.during is not None:
            self.during(len(self.texts))
        return self.inner.embed(texts)


def fill(memory: Memory) -> dict[tuple[str, str], str]:
    written = {}
    for i, text in enumerate(TEXTS):
        namespace = "a" if i % 2 else "b"
        memory.upsert(text, id=f"m{i}", namespace=namespace, metadata={"i": i})
        written[(namespace, f"m{i}")] = text
    return written


def assert_served_by(memory: Memory, model: HashEmbedder, written: dict[tuple[str, str], str]) -> None:
    """Every memory is served with ``model``'s vector of its text, and nothing else is."""
    for namespace in ("a", "b"):
        records = memory.scan(namespace=namespace, limit=None)
        assert {r.id: r.text for r in records} == {i: t for (ns, i), t in written.items() if ns == namespace}
        assert {r.embedding_model for r in records} <= {model.name}
        for record in memory.get([r.id for r in records], namespace=namespace, with_vectors=True):
            assert record.vectors is not None
            np.testing.assert_allclose(record.vectors["dense"], model.embed([record.text])[0], atol=1e-5)
    report = memory.verify()
    assert report.ok, report


def test_reembed_switches_searches_and_writes_to_the_new_model(memory: Memory) -> None:
    written = fill(memory)
    before = [(h.id, h.version) for h in memory.search(text=TEXTS[2], namespace="b", limit=3)]
    new = Counting(24)
    report = memory.reembed(new, batch_size=16, progress=False)
    assert (report.switched, report.embedded, report.from_model, report.to_model) == (True, 40, "hash:16", "hash:24")
    assert sorted(new.texts) == sorted(TEXTS), "each text embedded once"
    assert memory.collections()["default"].vectors == {"dense": 24}
    assert memory.collections()["default"].embedding_model == "hash:24"
    assert_served_by(memory, new.inner, written)
    hits = memory.search(text=TEXTS[2], namespace="b", limit=3)
    assert hits[0].id == before[0][0] and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert all(h.version == 1 and h.embedding_model == "hash:24" for h in hits), "versions are the memories' own"
    with pytest.raises(InvalidVectorError, match="dimension 16"):
        memory.search(vector=HashEmbedder(16).embed(["tea"])[0], namespace="a")
    with pytest.raises(EmbeddingModelError, match="hash:24"):
        memory.upsert("x", id="x", vectors=[0.1] * 24, embedding_model="hash:16")
    memory.upsert("written after the switch", id="late", namespace="a")
    written[("a", "late")] = "written after the switch"
    assert memory.get("late", namespace="a")[0].embedding_model == "hash:24"
    memory.rebuild(progress=False)
    assert_served_by(memory, new.inner, written)
    assert str(memory.reembed(new, progress=False)).endswith("already serves 'hash:24': nothing to re-embed")


def test_as_of_before_the_switch_answers_with_the_old_model(memory: Memory) -> None:
    fill(memory)
    position = log_position(memory)
    old = [(h.id, h.score) for h in memory.search(text="coffee number 35", namespace="a", limit=4)]
    memory.reembed("hash:24", progress=False)
    memory.upsert("coffee number 35, and more", id="m5", namespace="a")
    with memory.as_of(position) as past:
        assert past.collections()["default"].embedding_model == "hash:16"
        hits = past.search(text="coffee number 35", namespace="a", limit=4)  # an exact in-memory index: float32 apart
        assert [(h.id, pytest.approx(h.score, abs=1e-5)) for h in hits] == old
        assert {h.embedding_model for h in past.search(text="tea", namespace="b")} == {"hash:16"}
    with memory.as_of(log_position(memory)) as now:
        assert now.collections()["default"].embedding_model == "hash:24"
        assert now.get("m5", namespace="a")[0].text == "coffee number 35, and more"


def test_rollback_embeds_only_what_was_written_since(memory: Memory) -> None:
    written = fill(memory)
    memory.reembed("hash:24", progress=False)
    for memory_id, text in [("m1", "changed after the switch"), ("n1", "new after the switch")]:
        memory.upsert(text, id=memory_id, namespace="a")
        written[("a", memory_id)] = text
    memory.delete("m3", namespace="a")
    del written[("a", "m3")]
    old = Counting(16)
    report = memory.rollback_embedding(embedder=old, progress=False)
    assert sorted(old.texts) == ["changed after the switch", "new after the switch"]
    assert (report.switched, report.embedded, report.kept, report.space) == (True, 2, 38, 0)
    assert memory.collections()["default"].embedding_model == "hash:16"
    assert_served_by(memory, old.inner, written)
    again = Counting(24)
    forward = memory.reembed(again, progress=False)  # and forward again: space 1 still holds every version
    assert (forward.switched, forward.embedded, forward.kept, again.texts) == (True, 0, 40, [])
    assert_served_by(memory, again.inner, written)
    with pytest.raises(EmbeddingModelError, match="'hash:16'.*'hash:32'"):
        memory.rollback_embedding(embedder="hash:32")


def test_writes_during_a_re_embedding_are_kept(memory: Memory) -> None:
    written = fill(memory)

    def meanwhile(embedded: int) -> None:  # called from the embedding thread, as other callers would write
        n = embedded
        memory.upsert(f"written while re-embedding {n}", id=f"w{n}", namespace="a")
        written[("a", f"w{n}")] = f"written while re-embedding {n}"
        memory.upsert(f"rewritten while re-embedding {n}", id=f"m{n % 40}", namespace="a" if n % 2 else "b")
        written[("a" if n % 2 else "b", f"m{n % 40}")] = f"rewritten while re-embedding {n}"
        if memory.delete(f"m{(n + 3) % 40}", namespace="a" if (n + 3) % 2 else "b"):
            del written[("a" if (n + 3) % 2 else "b", f"m{(n + 3) % 40}")]

    new = Counting(24, during=meanwhile)
    report = memory.reembed(new, batch_size=8, progress=False)
    assert report.passes > 1, "the writes made during the first pass are embedded by the next"
    assert_served_by(memory, new.inner, written)


def test_re_embedding_needs_a_collection_of_one_vector_and_says_so(memory: Memory) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        memory.reembed("hash:24", collection="nothing")
    memory.upsert("two vectors", id="x", vectors={"dense": [1.0, 0.0], "title": [0.0, 1.0]}, collection="named")
    with pytest.raises(InvalidInputError, match="'dense', 'title'"):
        memory.reembed("hash:24", collection="named")
    with pytest.raises(InvalidInputError, match="never switched"):
        memory.rollback_embedding()
    memory.upsert("one", id="one")
    memory.reembed("hash:24", progress=False)
    with pytest.raises(InvalidVectorError, match="dimension 24, but this embedder makes dimension 8"):
        memory.reembed(_Renamed(HashEmbedder(8), "hash:24"))


class _Renamed:
    def __init__(self, inner: HashEmbedder, name: str) -> None:
        self.inner, self.name, self.dimension = inner, name, inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed(texts)


KILLED = """
import os, signal, sys
from omega_memory_plugin import Memory
from omega_memory_plugin.embeddings import HashEmbedder

class Dying(HashEmbedder):
    calls = 0
    def embed(self, texts):
        Dying.calls += 1
        if Dying.calls == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # in the middle: two batches are in the log
        return super().embed(texts)

memory = Memory(sys.argv[1])
memory.reembed(Dying(24), batch_size=10, progress=False)
"""


def test_a_killed_re_embedding_resumes_without_embedding_again(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        written = fill(memory)
    killed = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path / "m")], capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()
    with Memory(tmp_path / "m") as memory:
        assert memory.collections()["default"].embedding_model == "hash:16", "not switched: the old model serves"
        assert memory.search(text=TEXTS[6], namespace="b", limit=1)[0].id == "m6"
        new = Counting(24)
        report = memory.reembed(new, batch_size=10, progress=False)
        assert (report.kept, report.embedded, len(new.texts)) == (20, 20, 20)
        assert_served_by(memory, new.inner, written)


@pytest.fixture
def shared(request: pytest.FixtureRequest) -> dict[str, object]:
    """One Mongo-wire log and one Qdrant server index, as two processes would share them."""
    return {
        "log_url": request.getfixturevalue("mongo_url"),
        "index_url": request.getfixturevalue("qdrant_server"),
        "settings": Settings(qdrant_prefix=f"t{uuid.uuid4().hex[:10]}_"),
    }


def test_another_process_follows_the_switch(shared: dict[str, object]) -> None:
    with Memory(**shared, embedder="hash:16") as one, Memory(**shared, embedder="hash:16") as other:  # type: ignore[arg-type]
        fill(one)
        assert other.search(text=TEXTS[3], namespace="a", limit=1)[0].id == "m3"
        one.reembed("hash:24", progress=False)
        hit = other.search(text=TEXTS[3], namespace="a", limit=1)[0]  # embedded again, with the new model
        assert (hit.id, hit.embedding_model) == ("m3", "hash:24")
        with pytest.raises(InvalidVectorError):
            other.upsert(
                "old model", id="stale", vectors=HashEmbedder(16).embed(["old model"])[0], embedding_model="hash:16"
            )
        assert other.get("stale", namespace="default") == []


def test_a_write_from_a_process_that_missed_the_switch_uses_the_new_model(shared: dict[str, object]) -> None:
    with Memory(**shared, embedder="hash:16") as one:  # type: ignore[arg-type]
        written = fill(one)
        with Memory(**shared, collection="default") as other:  # type: ignore[arg-type]
            assert other.embedder is not None and other.embedder.name == "hash:16"
            one.reembed("hash:24", progress=False)
            other.upsert("from the other process", id="late", namespace="a")  # its state is stale: re-read, re-embedded
            written[("a", "late")] = "from the other process"
            assert other.get("late", namespace="a")[0].embedding_model == "hash:24"
        assert_served_by(one, HashEmbedder(24), written)


def test_an_export_carries_the_re_embedding(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        fill(memory)
        memory.reembed("hash:24", progress=False)
        memory.upsert("after the switch", id="late", namespace="a")
        memory.rollback_embedding(progress=False)
        exported = [e.model_dump_json() for e in memory.events()]
        answers = [(h.id, h.score) for h in memory.search(text="after the switch", namespace="a", limit=5)]
    with Memory(tmp_path / "copy") as copy:
        report = copy.import_events(EVENT_ADAPTER.validate_json(line) for line in exported)
        assert report.imported == len(exported)
        assert [e.model_dump_json() for e in copy.events()] == exported
        assert copy.collections()["default"].embedding_model == "hash:16"
        assert [(h.id, h.score) for h in copy.search(text="after the switch", namespace="a", limit=5)] == answers
        assert copy.verify().ok
    assert {json.loads(line)["type"] for line in exported} >= {
        "collection.model_added",
        "collection.model_switched",
        "memory.reembedded",
    }


def test_a_write_between_the_last_pass_and_the_switch_is_carried_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omega_memory_plugin.reembedding import _Run

    switch = _Run._switch

    async def switch_after_a_write(run: _Run, target: int) -> None:
        # Another writer's commit lands after the last pass found nothing left, before the switch:
        # written with the old model into the old space, it must not be lost to the new one.
        await run.memory.aupsert("written just before the switch", id="late", namespace="a")
        await switch(run, target)

    monkeypatch.setattr(_Run, "_switch", switch_after_a_write)
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        written = fill(memory)
        report = memory.reembed("hash:24", progress=False)
        written[("a", "late")] = "written just before the switch"
        assert report.embedded == len(TEXTS) + 1
        assert_served_by(memory, HashEmbedder(24), written)
