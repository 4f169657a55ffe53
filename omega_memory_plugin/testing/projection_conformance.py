"""The Projection contract as tests. Every index backend, built-in or plugin, subclasses this.

Filters are checked for congruence: each backend must select exactly the memories that
:func:`omega_memory_plugin.filters.matches` (the reference semantics) selects.

Usage::

    class TestMyIndex(ProjectionConformance):
        @pytest.fixture
        async def projection(self, tmp_path):
            index = MyIndex(...)
            await index.open()
            yield index
            await index.close()
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ..events import Distance
from ..filters import matches, parse_filter
from ..index.base import Projection, SearchQuery
from .builders import Recorder, created, deleted, erased, upserted

FILTER_DATA: list[dict[str, Any]] = [
    {"topic": "tea", "year": 2021, "score": 4.5, "tags": ["a", "b"], "ok": True, "author": {"name": "ada"}},
    {"topic": "coffee", "year": 2019, "score": 3.0, "tags": ["b"], "ok": False},
    {"topic": "tea", "year": 2024, "tags": [], "author": {"name": "bob"}},
    {"topic": "water", "year": 2020.0, "score": None, "ok": True},
    {"year": 2022, "note": "no topic"},
    {"topic": "Tea", "year": 1999, "tags": ["c"], "count": 0},
    {},
    # for $text: a string no word tokenizer splits at the substring, accents, and an empty string
    {"topic": "café au lait", "note": "ORD20260921ABCD", "tags": ["green tea", "x"], "title": ""},
]
FILTERS: list[dict[str, Any]] = [
    {"topic": "tea"},
    {"topic": {"$eq": "coffee"}},
    {"topic": {"$ne": "tea"}},
    {"topic": {"$in": ["tea", "water"]}},
    {"topic": {"$nin": ["tea", "water"]}},
    {"year": 2020},
    {"year": {"$gt": 2020}},
    {"year": {"$gte": 2020, "$lt": 2024}},
    {"year": {"$lte": 2019}},
    {"score": {"$gte": 3.0}},
    {"year": {"$in": [2019, 2024]}},
    {"tags": "b"},
    {"tags": {"$in": ["a", "c"]}},
    {"ok": True},
    {"ok": {"$ne": True}},
    {"author.name": "ada"},
    {"topic": {"$exists": True}},
    {"score": {"$exists": False}},
    {"tags": {"$exists": False}},
    {"$or": [{"topic": "coffee"}, {"year": {"$gte": 2024}}]},
    {"$and": [{"topic": "tea"}, {"year": {"$lt": 2022}}]},
    {"$not": {"topic": "tea"}},
    {"topic": "tea", "tags": {"$exists": True}},
    {"count": 0},
    {"score": 4.5},
    {"score": {"$nin": [3.0, 4.5]}},
    # $text: case-sensitive substring on string values (and on each string of a list)
    {"topic": {"$text": "ea"}},
    {"topic": {"$text": "Te"}},
    {"topic": {"$text": "é au"}},
    {"note": {"$text": "0921"}},
    {"note": {"$text": "no top"}},
    {"tags": {"$text": "n t"}},
    {"year": {"$text": "20"}},
    {"author.name": {"$text": "d"}},
    {"$not": {"topic": {"$text": "ea"}}},
    {"$or": [{"topic": {"$text": "off"}}, {"tags": {"$text": "c"}}]},
    # $exists false is "is empty": missing, null or [] (an empty string is a value)
    {"title": {"$exists": False}},
    {"title": {"$exists": True}},
]


def _vector(seed: int, dim: int = 4) -> list[float]:
    """A unit vector, so that the nearest memory to a vector is itself under every distance."""
    vector = np.random.default_rng(seed).normal(size=dim)
    return (vector / np.linalg.norm(vector)).astype(np.float32).tolist()


class ProjectionConformance:
    """Subclasses provide a ``projection`` fixture yielding an opened, empty projection."""

    distance = Distance.COSINE

    async def _load(self, projection: Projection, n: int = 20) -> tuple[Recorder, dict[str, list[float]]]:
        record = Recorder()
        vectors = {f"m{i}": _vector(i) for i in range(n)}
        events = [created("c", {"dense": 4}, self.distance)]
        events += [upserted(mid, vec, metadata={"i": i}) for i, (mid, vec) in enumerate(vectors.items())]
        await projection.apply(record(*events))
        return record, vectors

    async def test_search_returns_nearest_first(self, projection: Projection) -> None:
        _, vectors = await self._load(projection)
        for mid in ("m0", "m7", "m13"):
            hits = await projection.search(SearchQuery("c", "ns", np.array(vectors[mid], np.float32), "dense", limit=5))
            assert hits[0].id == mid
            assert len(hits) == 5
            best = 0.0 if self.distance == Distance.EUCLID else 1.0
            assert hits[0].score == pytest.approx(best, abs=1e-4)
            scores = [h.score or 0.0 for h in hits]  # euclid scores are distances: smaller is nearer
            assert scores == sorted(scores, reverse=self.distance != Distance.EUCLID)
            assert hits[0].text == f"text of {mid}" and hits[0].metadata == {"i": int(mid[1:])}
            assert hits[0].version == 1 and hits[0].namespace == "ns" and hits[0].collection == "c"

    async def test_namespaces_never_see_each_other(self, projection: Projection) -> None:
        record = Recorder()
        vector = _vector(1)
        await projection.apply(record(created(), upserted("same", vector, namespace="x", text="x"),
                                      upserted("same", vector, namespace="y", text="y"), upserted("only-y", vector, namespace="y")))
        hits = await projection.search(SearchQuery("c", "x", np.array(vector, np.float32), "dense", limit=10))
        assert [(h.id, h.text) for h in hits] == [("same", "x")]
        assert [r.id for r in await projection.get("c", "x", ["same", "only-y"])] == ["same"]
        assert (await projection.count("c", "x"), await projection.count("c", "y"), await projection.count("c")) == (1, 2, 3)

    async def test_get_keeps_order_skips_missing_and_returns_vectors(self, projection: Projection) -> None:
        _, vectors = await self._load(projection)
        found = await projection.get("c", "ns", ["m3", "missing", "m1"], with_vectors=True)
        assert [r.id for r in found] == ["m3", "m1"]
        assert found[0].vectors is not None
        stored = np.array(found[0].vectors["dense"])
        expected = np.array(vectors["m3"])
        np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-6)
        assert await projection.get("c", "ns", []) == []
        assert await projection.get("nope", "ns", ["m1"]) == []

    async def test_overwrite_delete_and_erase(self, projection: Projection) -> None:
        record, vectors = await self._load(projection, n=6)
        await projection.apply(record(upserted("m1", vectors["m1"], text="new text"), deleted("m2"),
                                      upserted("other", vectors["m3"], namespace="keep")))
        (m1,) = await projection.get("c", "ns", ["m1"])
        assert (m1.text, m1.version) == ("new text", 2)
        assert await projection.count("c", "ns") == 5
        assert await projection.get("c", "ns", ["m2"]) == []
        await projection.apply(record(erased("ns")))
        assert await projection.count("c", "ns") == 0
        assert [r.id for r in await projection.scan("c", "keep")] == ["other"]

    async def test_apply_is_idempotent_and_never_goes_back(self, projection: Projection) -> None:
        record = Recorder()
        first = record(created(), upserted("a", _vector(1), text="v1"))
        second = record(upserted("a", _vector(2), text="v2"), deleted("gone"), upserted("b", _vector(3)))
        await projection.apply(first + second)
        await projection.apply(second)
        await projection.apply(first)  # an older version arriving late must not win
        (a,) = await projection.get("c", "ns", ["a"])
        assert (a.text, a.version) == ("v2", 2)
        assert await projection.count("c", "ns") == 2
        assert projection.applied_position == second[-1].position

    async def test_same_memory_twice_in_one_batch_keeps_the_last(self, projection: Projection) -> None:
        record = Recorder()
        await projection.apply(record(created(), upserted("a", _vector(1), text="one"), upserted("a", _vector(2), text="two"),
                                      deleted("a"), upserted("a", _vector(3), text="three")))
        (a,) = await projection.get("c", "ns", ["a"])
        assert (a.text, a.version) == ("three", 4)
        assert await projection.count("c", "ns") == 1

    @pytest.mark.parametrize("spec", FILTERS, ids=[str(f) for f in FILTERS])
    async def test_filter_selects_what_the_reference_selects(self, projection: Projection, spec: dict[str, Any]) -> None:
        record = Recorder()
        events = [created()] + [upserted(f"f{i}", _vector(i), metadata=meta) for i, meta in enumerate(FILTER_DATA)]
        events.append(upserted("other-ns", _vector(0), metadata=FILTER_DATA[0], namespace="elsewhere"))
        await projection.apply(record(*events))
        node = parse_filter(spec)
        expected = sorted(f"f{i}" for i, meta in enumerate(FILTER_DATA) if matches(node, meta))
        assert sorted(r.id for r in await projection.scan("c", "ns", node)) == expected
        assert await projection.count("c", "ns", node) == len(expected)
        hits = await projection.search(SearchQuery("c", "ns", np.array(_vector(0), np.float32), "dense", limit=50, filter=node))
        assert sorted(h.id for h in hits) == expected

    async def test_scan_orders_by_id_with_offset_and_limit(self, projection: Projection) -> None:
        await self._load(projection, n=12)
        ids = sorted(f"m{i}" for i in range(12))
        assert [r.id for r in await projection.scan("c", "ns", limit=100)] == ids
        assert [r.id for r in await projection.scan("c", "ns", limit=4, offset=3)] == ids[3:7]
        assert [r.id for r in await projection.scan("c", "ns", limit=None, offset=3)] == ids[3:]

    async def test_score_threshold(self, projection: Projection) -> None:
        _, vectors = await self._load(projection)
        query = np.array(vectors["m0"], np.float32)
        everything = await projection.search(SearchQuery("c", "ns", query, "dense", limit=20))
        # halfway between the 4th and 5th scores: float rounding cannot move a hit across it
        cut = ((everything[3].score or 0.0) + (everything[4].score or 0.0)) / 2
        above = await projection.search(SearchQuery("c", "ns", query, "dense", limit=20, score_threshold=cut))
        assert [h.id for h in above] == [h.id for h in everything[:4]]

    async def test_named_vectors(self, projection: Projection) -> None:
        record = Recorder()
        events = [created("multi", {"title": 3, "body": 4})]
        for i in range(5):
            data = upserted(f"n{i}", _vector(i, 3), collection="multi", name="title")
            body = {"body": np.asarray(_vector(100 + i), "<f4").tobytes()}
            events.append(data.model_copy(update={"data": data.data.model_copy(update={"vectors": {**data.data.vectors, **body}})}))
        await projection.apply(record(*events))
        by_title = await projection.search(SearchQuery("multi", "ns", np.array(_vector(2, 3), np.float32), "title", limit=1))
        by_body = await projection.search(SearchQuery("multi", "ns", np.array(_vector(104), np.float32), "body", limit=1))
        assert (by_title[0].id, by_body[0].id) == ("n2", "n4")

    async def test_unknown_collection_reads_empty(self, projection: Projection) -> None:
        query = SearchQuery("never", "ns", np.ones(4, np.float32), "dense")
        assert await projection.search(query) == []
        assert await projection.count("never") == 0
        assert await projection.scan("never", "ns") == []

    async def test_fresh_is_empty_and_promote_replaces(self, projection: Projection) -> None:
        record, vectors = await self._load(projection, n=3)
        fresh = await projection.fresh()
        await fresh.open()
        assert fresh.name != projection.name
        assert await fresh.count("c") == 0
        await fresh.apply(record(created(), upserted("z", vectors["m0"])))
        await fresh.flush()
        await fresh.promote(projection)
        assert [r.id for r in await fresh.scan("c", "ns")] == ["z"]
        await fresh.close()
