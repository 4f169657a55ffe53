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

import random
import struct
from typing import Any

import numpy as np
import pytest

from ..events import Distance, Event
from ..filters import matches, parse_filter
from ..index.base import Entry, IndexState, Projection, SearchQuery
from ..index.bm25 import query_terms
from ..records import MemoryRecord
from .builders import Recorder, created, deleted, erased, upserted
from .spaces_conformance import SharedSpacesConformance, SpacesConformance

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
    # $itext: the same with both sides lower-cased
    {"topic": {"$itext": "TEA"}},
    {"topic": {"$itext": "É AU"}},
    {"note": {"$itext": "ord2026"}},
    {"tags": {"$itext": "GREEN"}},
    {"author.name": {"$itext": "AD"}},
    {"year": {"$itext": "20"}},
    {"$not": {"topic": {"$itext": "Te"}}},
    # $contains: Python's `in` (a list's element, a string's substring, or the value itself)
    {"tags": {"$contains": "b"}},
    {"topic": {"$contains": "ea"}},
    {"tags": {"$contains": "green"}},  # "green tea" is an element of the list, "green" is not
    {"note": {"$contains": "0921"}},
    {"year": {"$contains": 2020}},
    {"ok": {"$contains": True}},
    {"$not": {"tags": {"$contains": "b"}}},
    # $empty: missing, null, "" or []
    {"title": {"$empty": True}},
    {"tags": {"$empty": True}},
    {"score": {"$empty": True}},
    {"title": {"$empty": False}},
    # $exists false is "is empty": missing, null or [] (an empty string is a value)
    {"title": {"$exists": False}},
    {"title": {"$exists": True}},
]


def _exact_floats(n: int, seed: int = 7) -> list[float]:
    """Floats that a lossy encoder or parser gets wrong: edge cases, then random bit patterns (every
    exponent, subnormals included) and random decimals of several magnitudes."""
    floats = [
        0.0,
        -0.0,
        5e-324,
        -5e-324,
        1e-310,
        2.2250738585072009e-308,
        2.2250738585072014e-308,
        1e308,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        0.1,
        1 / 3,
        937.9228155259179,
        2.0**53,
        2.0**63,
    ]
    rng = random.Random(seed)
    while len(floats) < n:
        (bits,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if np.isfinite(bits):
            floats.append(bits)
        floats.append(rng.uniform(-1e3, 1e3))
        floats.append(rng.random() * 10.0 ** rng.randint(-30, 30))
    return floats[:n]


EXACT_FLOATS = _exact_floats(240)
EXACT_INTS = [0, -1, 1, 2**53 + 1, -(2**53 + 1), 2**63 - 1, -(2**63 - 1), -(2**63)]
EXACT_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f\x85",
    "\t\n\r",
    '"quoted" \\ back\\slash',
    "\u2028\u2029",
    "\U0001f642 emoji",
    "\u00e9 e\u0301 composed and not",
    "\u05e9\u05dc\u05d5\u05dd",
    "\u4e2d\u6587",
    "\ud7ff\ue000\uffff\U0010ffff",
    '{"not": "json"}',
    "a.b",
    "metadata.x",
]
# What a memory's metadata must come back as, exactly (types included): nested containers, empty
# ones, keys with dots and other unusual keys, every JSON scalar.
EXACT_METADATA: dict[str, Any] = {
    "floats": EXACT_FLOATS[:40],
    "ints": EXACT_INTS,
    "strings": EXACT_STRINGS,
    "nested": {"a": {"b": [1, [2.5, {"c": None}], {}, []], "": ""}, "list": [True, False, None, -0.0, "x", 2**63 - 1]},
    "a.b": {"c.d": 1.1},
    "": "empty key",
    "\u043a\u043b\u044e\u0447 \U0001f511": "unicode key",
    "$dollar": 0.30000000000000004,
    "empty": {},
    "none": None,
    "bool": True,
}


def identical(a: Any, b: Any) -> bool:
    """Equal down to the type and the bits: ``==`` alone takes 1 for 1.0 and -0.0 for 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return bool(a.hex() == float(b).hex())
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _vector(seed: int, dim: int = 4) -> list[float]:
    """A unit vector, so that the nearest memory to a vector is itself under every distance."""
    vector = np.random.default_rng(seed).normal(size=dim)
    return [float(x) for x in (vector / np.linalg.norm(vector)).astype(np.float32)]


# -- sparse (BM25) and hybrid search -------------------------------------------------------------

# Texts whose BM25 weights for the query words differ from each other (lengths and counts vary),
# so that no two memories tie on either side and every index ranks them in one order.
HYBRID_TEXTS = [
    "order ORD-2291 shipped to Ada in Lyon",
    "Ada prefers green tea in the morning, green tea only",
    "tea, coffee, and more tea: Bob drinks anything hot",
    "the invoice for order ORD-1187 is overdue since March",
    "Ada's standup moved to half past nine on Tuesdays and Thursdays",
    "a quiet note about nothing in particular at all, written late at night by someone",
    "green",
    "coffee order for the team offsite in Lyon, twelve cups",
]
HYBRID_QUERY = "green tea order Lyon"


def _by_score(hits: list[MemoryRecord]) -> list[tuple[float, str]]:
    ordered = sorted(hits, key=lambda h: (-round(h.score or 0.0, 5), h.id))
    return [(h.score or 0.0, h.id) for h in ordered]


class SparseConformance:
    """Sparse and hybrid search, checked against the in-memory reference index fed the same
    events (scores to float32 precision). Part of :class:`ProjectionConformance`."""

    distance = Distance.COSINE

    async def _hybrid_load(self, projection: Projection, *others: Projection) -> list[Event]:
        record = Recorder()
        events = [created("c", {"dense": 4}, self.distance)]
        events += [upserted(f"h{i}", _vector(100 + i), text=t, metadata={"i": i}) for i, t in enumerate(HYBRID_TEXTS)]
        # Another tenant whose texts are full of the query's words: its statistics must not count.
        events += [
            upserted(f"o{i}", _vector(200 + i), text="green tea order Lyon " * (i + 1), namespace="other")
            for i in range(6)
        ]
        stamped = record(*events)
        for index in (projection, *others):
            await index.apply(stamped)
        return stamped

    async def _against_reference(self, projection: Projection, **options: Any) -> list[MemoryRecord]:
        from ..index.memory import InMemoryProjection

        reference = InMemoryProjection()
        await self._hybrid_load(projection, reference)
        defaults: dict[str, Any] = {"limit": 8, "terms": query_terms(HYBRID_QUERY)}
        query = SearchQuery("c", "ns", np.array(_vector(7), np.float32), "dense", **(defaults | options))
        got, expected = await projection.search(query), await reference.search(query)
        if query.diversity is not None:  # MMR's order is its choice, not the scores' order
            assert [h.id for h in got] == [h.id for h in expected]
        # Equal scores (a fused rank tie) may come in either order: compare in (score, id) order.
        got_order, expected_order = _by_score(got), _by_score(expected)
        assert [i for _, i in got_order] == [i for _, i in expected_order]
        assert [s for s, _ in got_order] == pytest.approx([s for s, _ in expected_order], rel=1e-4, abs=1e-6)
        return got

    async def test_sparse_ranks_by_bm25_with_idf_over_the_namespace(self, projection: Projection) -> None:
        hits = await self._against_reference(projection, mode="sparse")
        assert {h.id for h in hits} == {"h0", "h1", "h2", "h3", "h6", "h7"}  # every text with a query word
        assert hits[0].id == "h1" and hits[0].text == HYBRID_TEXTS[1] and hits[0].metadata == {"i": 1}  # tf 2 and 2

    async def test_another_namespace_never_changes_sparse_scores(self, projection: Projection) -> None:
        await self._hybrid_load(projection)
        query = SearchQuery("c", "ns", None, "dense", limit=8, mode="sparse", terms=query_terms(HYBRID_QUERY))
        before = [(h.id, h.score) for h in await projection.search(query)]
        record = Recorder()
        record.position = 100
        more = [upserted(f"x{i}", _vector(300 + i), text=f"green green tea {i}", namespace="other") for i in range(20)]
        await projection.apply(record(*more))
        after = [(h.id, h.score) for h in await projection.search(query)]
        assert [i for i, _ in after] == [i for i, _ in before]
        assert [s for _, s in after] == pytest.approx([s for _, s in before], rel=1e-6)

    async def test_hybrid_fuses_dense_and_sparse(self, projection: Projection) -> None:
        # DBSF reads every score as "higher is better": the Memory refuses it for euclid distances.
        for fusion in ["rrf"] if self.distance == Distance.EUCLID else ["rrf", "dbsf"]:
            hits = await self._against_reference(projection, mode="hybrid", fusion=fusion)
            assert len(hits) == 8  # dense brings every memory; sparse only those with a query word

    async def test_weighted_rrf(self, projection: Projection) -> None:
        await self._against_reference(projection, mode="hybrid", weights=(0.8, 0.2))
        await self._against_reference(projection, mode="hybrid", weights=(0.8, 0.2), candidates=(2, 5))
        dense_only = await self._against_reference(projection, mode="hybrid", weights=(1.0, 0.0), limit=3)
        query = SearchQuery("c", "ns", np.array(_vector(7), np.float32), "dense", limit=3)
        assert [h.id for h in dense_only] == [h.id for h in await projection.search(query)]

    async def test_mmr_reranks_for_diversity(self, projection: Projection) -> None:
        if self.distance == Distance.EUCLID:  # MMR weighs similarities: the Memory refuses it for euclid
            return
        nearest = await self._against_reference(projection, limit=4)
        for diversity in (0.0, 0.5, 0.9):
            chosen = await self._against_reference(projection, limit=4, diversity=diversity, candidates=(8, 8))
            assert chosen[0].id == nearest[0].id  # the nearest is always chosen first
        assert [h.id for h in await self._against_reference(projection, limit=4, diversity=0.0)] == [
            h.id for h in nearest
        ]
        diverse = await self._against_reference(projection, limit=4, diversity=0.9, candidates=(8, 8))
        assert [h.id for h in diverse] != [h.id for h in nearest]  # these vectors: diversity changes the choice

    async def test_hybrid_with_a_small_pool_and_a_filter_and_a_threshold(self, projection: Projection) -> None:
        everything = await self._against_reference(
            projection, mode="hybrid", candidates=(3, 3), filter=parse_filter({"i": {"$lt": 6}})
        )
        assert all(int(h.id[1:]) < 6 for h in everything)
        cut = ((everything[1].score or 0.0) + (everything[2].score or 0.0)) / 2
        above = await self._against_reference(
            projection, mode="hybrid", candidates=(3, 3), filter=parse_filter({"i": {"$lt": 6}}), score_threshold=cut
        )
        assert [h.id for h in above] == [h.id for h in everything[:2]]

    async def test_sparse_search_without_a_known_word_finds_nothing(self, projection: Projection) -> None:
        await self._hybrid_load(projection)
        for text in ("the and of", "zyzzyva"):
            query = SearchQuery("c", "ns", None, "dense", mode="sparse", terms=query_terms(text))
            assert await projection.search(query) == []

    async def test_deleted_memories_leave_the_statistics(self, projection: Projection) -> None:
        from ..index.memory import InMemoryProjection

        reference = InMemoryProjection()
        stamped = await self._hybrid_load(projection, reference)
        record = Recorder()
        record.position = len(stamped)
        record.versions = {e.stream: e.version for e in stamped}
        deletes = record(deleted("h1"), deleted("h6"))
        for index in (projection, reference):
            await index.apply(deletes)
        query = SearchQuery("c", "ns", None, "dense", limit=8, mode="sparse", terms=query_terms(HYBRID_QUERY))
        got, expected = await projection.search(query), await reference.search(query)
        assert [h.id for h in got] == [h.id for h in expected] and "h1" not in {h.id for h in got}
        assert [h.score for h in got] == pytest.approx([h.score for h in expected], rel=1e-4)

    async def test_returned_vectors_are_the_memorys_own(self, projection: Projection) -> None:
        await self._hybrid_load(projection)
        (got,) = await projection.get("c", "ns", ["h0"], with_vectors=True)
        assert got.vectors is not None and list(got.vectors) == ["dense"]
        query = SearchQuery(
            "c",
            "ns",
            np.array(_vector(7), np.float32),
            "dense",
            limit=1,
            mode="hybrid",
            terms=query_terms(HYBRID_QUERY),
            with_vectors=True,
        )
        (hit,) = await projection.search(query)
        assert hit.vectors is not None and list(hit.vectors) == ["dense"]


class ProjectionConformance(SparseConformance, SpacesConformance):
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
        await projection.apply(
            record(
                created(),
                upserted("same", vector, namespace="x", text="x"),
                upserted("same", vector, namespace="y", text="y"),
                upserted("only-y", vector, namespace="y"),
            )
        )
        hits = await projection.search(SearchQuery("c", "x", np.array(vector, np.float32), "dense", limit=10))
        assert [(h.id, h.text) for h in hits] == [("same", "x")]
        assert [r.id for r in await projection.get("c", "x", ["same", "only-y"])] == ["same"]
        assert (await projection.count("c", "x"), await projection.count("c", "y"), await projection.count("c")) == (
            1,
            2,
            3,
        )

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
        await projection.apply(
            record(
                upserted("m1", vectors["m1"], text="new text"),
                deleted("m2"),
                upserted("other", vectors["m3"], namespace="keep"),
            )
        )
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
        await projection.apply(
            record(
                created(),
                upserted("a", _vector(1), text="one"),
                upserted("a", _vector(2), text="two"),
                deleted("a"),
                upserted("a", _vector(3), text="three"),
            )
        )
        (a,) = await projection.get("c", "ns", ["a"])
        assert (a.text, a.version) == ("three", 4)
        assert await projection.count("c", "ns") == 1

    @pytest.mark.parametrize("spec", FILTERS, ids=[str(f) for f in FILTERS])
    async def test_filter_selects_what_the_reference_selects(
        self, projection: Projection, spec: dict[str, Any]
    ) -> None:
        record = Recorder()
        events = [created()] + [upserted(f"f{i}", _vector(i), metadata=meta) for i, meta in enumerate(FILTER_DATA)]
        events.append(upserted("other-ns", _vector(0), metadata=FILTER_DATA[0], namespace="elsewhere"))
        await projection.apply(record(*events))
        node = parse_filter(spec)
        expected = sorted(f"f{i}" for i, meta in enumerate(FILTER_DATA) if matches(node, meta))
        assert sorted(r.id for r in await projection.scan("c", "ns", node)) == expected
        assert await projection.count("c", "ns", node) == len(expected)
        hits = await projection.search(
            SearchQuery("c", "ns", np.array(_vector(0), np.float32), "dense", limit=50, filter=node)
        )
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
            assert data.type == "memory.upserted"
            body = {"body": np.asarray(_vector(100 + i), "<f4").tobytes()}
            events.append(
                data.model_copy(
                    update={"data": data.data.model_copy(update={"vectors": {**data.data.vectors, **body}})}
                )
            )
        await projection.apply(record(*events))
        by_title = await projection.search(
            SearchQuery("multi", "ns", np.array(_vector(2, 3), np.float32), "title", limit=1)
        )
        by_body = await projection.search(
            SearchQuery("multi", "ns", np.array(_vector(104), np.float32), "body", limit=1)
        )
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

    # --- identity: (collection, namespace, id) -> point is injective (index/payload.py) ---

    async def test_ids_and_namespaces_sharing_a_separator_stay_apart(self, projection: Projection) -> None:
        # Joining namespace and id with "\x1f" gave these pairs one point: a tenant overwrote another.
        pairs = [
            ("team", "a\x1fx"),
            ("team\x1fa", "x"),
            ("n\x00", "id"),
            ("n", "\x00id"),
            ('["n",', '"i"]'),
            ("n", "i"),
        ]
        record = Recorder()
        writes = [upserted(i, _vector(k), namespace=n, text=f"{n}|{i}") for k, (n, i) in enumerate(pairs)]
        await projection.apply(record(created(), *writes))
        for namespace, memory_id in pairs:
            (found,) = await projection.get("c", namespace, [memory_id])
            assert (found.namespace, found.id, found.text) == (namespace, memory_id, f"{namespace}|{memory_id}")
            assert await projection.count("c", namespace) == sum(n == namespace for n, _ in pairs)
        await projection.apply(record(deleted("a\x1fx", namespace="team")))
        assert await projection.get("c", "team", ["a\x1fx"]) == []
        assert [r.id for r in await projection.get("c", "team\x1fa", ["x"])] == ["x"]

    async def test_same_id_in_two_collections_is_two_memories(self, projection: Projection) -> None:
        record = Recorder()
        await projection.apply(
            record(
                created("c"),
                created("d"),
                upserted("a", _vector(1), text="in c"),
                upserted("a", _vector(1), text="in d", collection="d"),
                deleted("a"),
            )
        )
        assert await projection.get("c", "ns", ["a"]) == []
        assert [r.text for r in await projection.get("d", "ns", ["a"])] == ["in d"]

    # --- values round-trip exactly (index/payload.py) ---

    async def test_metadata_and_text_round_trip_exactly(self, projection: Projection) -> None:
        record = Recorder()
        text = "text \x00 with \x1f controls, \u00e9, \U0001f642 and \u2028"
        events = [created(), upserted("all", _vector(0), text=text, metadata=EXACT_METADATA)]
        events += [upserted(f"f{i}", _vector(i), metadata={"x": v, "l": [v]}) for i, v in enumerate(EXACT_FLOATS)]
        events += [upserted(f"i{i}", _vector(i), metadata={"x": v}) for i, v in enumerate(EXACT_INTS)]
        expected = {e.memory_id: e.data.metadata for e in events[1:]}  # type: ignore[union-attr]
        await projection.apply(record(*events))

        def check(records: list[MemoryRecord]) -> None:
            wrong = [(r.id, r.metadata, expected[r.id]) for r in records if not identical(r.metadata, expected[r.id])]
            assert not wrong, f"{len(wrong)} memories came back changed, e.g. {wrong[:3]}"

        (everything,) = await projection.get("c", "ns", ["all"])
        assert everything.text == text
        check([everything])
        check(await projection.get("c", "ns", list(expected)))
        scanned = await projection.scan("c", "ns", limit=None)
        assert len(scanned) == len(expected)
        check(scanned)
        query = SearchQuery("c", "ns", np.array(_vector(0), np.float32), "dense", limit=len(expected))
        check(await projection.search(query))

    async def test_filters_compare_the_exact_float(self, projection: Projection) -> None:
        record = Recorder()
        values = EXACT_FLOATS[:120]
        writes = [upserted(f"f{i}", _vector(i), metadata={"x": v}) for i, v in enumerate(values)]
        await projection.apply(record(created(), *writes))
        wrong = []
        for value in values[::2]:
            for spec in ({"x": value}, {"x": {"$gte": value}}, {"x": {"$lt": value}}):
                node = parse_filter(spec)
                want = sorted(f"f{k}" for k, v in enumerate(values) if matches(node, {"x": v}))
                if sorted(r.id for r in await projection.scan("c", "ns", node, limit=None)) != want:
                    wrong.append(spec)
        assert not wrong, (
            f"{len(wrong)} of {3 * len(values[::2])} filters on exact floats answer wrongly, e.g. {wrong[:3]}"
        )

    # --- state, entries, repair (index/base.py) ---

    async def test_state_is_recorded_by_flush(self, projection: Projection) -> None:
        assert await projection.state() is None
        record = Recorder()
        await projection.apply(record(created(), upserted("a", _vector(1))))
        await projection.flush()
        assert await projection.state() == IndexState(2, projection.layout)
        await projection.apply(record(upserted("b", _vector(2)), deleted("a")))
        await projection.flush()
        assert await projection.state() == IndexState(4, projection.layout)

    async def test_a_fresh_projection_has_no_state_until_it_flushes(self, projection: Projection) -> None:
        record, _ = await self._load(projection, n=2)
        await projection.flush()
        fresh = await projection.fresh()
        await fresh.open()
        try:
            assert await fresh.state() is None
            await fresh.apply(record(created(), upserted("z", _vector(9))))
            assert await fresh.state() is None  # applied is not durable until flushed
            await fresh.flush()
            assert await fresh.state() == IndexState(record.position, projection.layout)
        except BaseException:
            await fresh.drop()
            raise
        await fresh.promote(projection)
        await fresh.close()

    async def test_entries_list_every_memory_with_its_version(self, projection: Projection) -> None:
        record = Recorder()
        await projection.apply(
            record(
                created(),
                created("d"),
                upserted("a", _vector(1)),
                upserted("a", _vector(2)),
                upserted("b", _vector(3), namespace="x\x1fy"),
                upserted("c", _vector(4), namespace="gone"),
                upserted("d", _vector(5)),
                deleted("d"),
                upserted("e", _vector(6), collection="d"),
            )
        )
        assert sorted(await projection.entries("c"), key=str) == sorted(
            [Entry("ns", "a", 2), Entry("x\x1fy", "b", 1), Entry("gone", "c", 1)], key=str
        )
        assert await projection.entries("d") == [Entry("ns", "e", 1)]
        assert await projection.entries("never") == []
        await projection.apply(record(erased("gone")))
        assert sorted(await projection.entries("c"), key=str) == sorted(
            [Entry("ns", "a", 2), Entry("x\x1fy", "b", 1)], key=str
        )

    async def test_repair_writes_what_the_index_lacks(self, projection: Projection) -> None:
        # What verify(repair=True) does: re-project a memory's latest event whatever the index
        # holds of it (missing, stale, or present although deleted), without moving applied_position.
        record = Recorder()
        first = record(created(), upserted("a", _vector(1), text="one"), upserted("b", _vector(2)))
        await projection.apply(first)
        applied = projection.applied_position
        newer = record(upserted("a", _vector(4), text="three"), deleted("b"), deleted("never-there"))
        await projection.repair(newer)
        (a,) = await projection.get("c", "ns", ["a"])
        assert (a.text, a.version) == ("three", 2)
        assert await projection.get("c", "ns", ["b"]) == []
        assert projection.applied_position == applied
        await projection.repair(record(upserted("b", _vector(5), text="back")))  # a deleted memory comes back
        assert [r.id for r in await projection.scan("c", "ns")] == ["a", "b"]
        await projection.repair(newer[:1])  # the same event again: same state
        (a,) = await projection.get("c", "ns", ["a"])
        assert (a.text, a.version) == ("three", 2)


class SharedProjectionConformance(SharedSpacesConformance):
    """For an index that several processes write at once (a Qdrant server): subclasses provide a
    ``pair`` fixture yielding two opened projections on the same storage, as two processes would
    open it. Each applies the log at its own pace; whatever the order, a memory's state in the
    index never moves back (index/qdrant_conditional.py)."""

    async def test_a_lagging_upsert_never_replaces_a_newer_one(self, pair: tuple[Projection, Projection]) -> None:
        ahead, behind = pair
        events = Recorder()(created(), upserted("a", _vector(1), text="one"), upserted("a", _vector(2), text="two"))
        await ahead.apply(events)
        await behind.apply(events[:2])
        for index in pair:
            (a,) = await index.get("c", "ns", ["a"])
            assert (a.text, a.version) == ("two", 2)

    async def test_a_lagging_upsert_never_brings_back_a_deleted_memory(
        self, pair: tuple[Projection, Projection]
    ) -> None:
        ahead, behind = pair
        events = Recorder()(created(), upserted("a", _vector(1)), upserted("b", _vector(2)), deleted("a"))
        await ahead.apply(events)
        await behind.apply(events[:3])
        for index in pair:
            assert [r.id for r in await index.scan("c", "ns")] == ["b"]
            assert await index.get("c", "ns", ["a"]) == []
            assert await index.count("c", "ns") == 1
            assert [e.memory_id for e in await index.entries("c")] == ["b"]

    async def test_a_lagging_upsert_never_brings_back_an_erased_namespace(
        self, pair: tuple[Projection, Projection]
    ) -> None:
        ahead, behind = pair
        record = Recorder()
        events = record(
            created(), upserted("a", _vector(1)), upserted("b", _vector(2), namespace="other"), erased("ns")
        )
        await ahead.apply(events)
        await behind.apply(events[:2])
        for index in pair:
            assert await index.scan("c", "ns") == []
            hits = await index.search(SearchQuery("c", "ns", np.asarray(_vector(1), dtype=np.float32), "dense"))
            assert hits == []
        later = record(upserted("a", _vector(3), text="again"))  # written after the erase: alive
        await behind.apply(events[2:] + later)
        for index in pair:
            assert [(r.id, r.text) for r in await index.scan("c", "ns")] == [("a", "again")]
            assert [r.id for r in await index.scan("c", "other")] == ["b"]

    async def test_a_batch_overtakes_what_another_process_wrote_inside_its_range(
        self, pair: tuple[Projection, Projection]
    ) -> None:
        # `ahead` holds a at position 4; `behind` applies 1..5 in one batch whose lowest position
        # is 2: a's newer event (5) must still land, and b's (2) too.
        ahead, behind = pair
        events = Recorder()(
            created(),
            upserted("b", _vector(1)),
            upserted("a", _vector(2), text="one"),
            upserted("a", _vector(3), text="two"),
            upserted("a", _vector(4), text="three"),
        )
        await ahead.apply(events[:4])
        await behind.apply(events)
        for index in pair:
            (a,) = await index.get("c", "ns", ["a"])
            assert (a.text, a.version, a.position) == ("three", 3, 5)
            assert [r.id for r in await index.scan("c", "ns")] == ["a", "b"]

    async def test_a_repair_never_moves_a_memory_back(self, pair: tuple[Projection, Projection]) -> None:
        ahead, behind = pair
        events = Recorder()(created(), upserted("a", _vector(1), text="one"), upserted("a", _vector(2), text="two"))
        await ahead.apply(events)
        await behind.repair(events[1:2])  # a verify that read the log before the second write
        (a,) = await ahead.get("c", "ns", ["a"])
        assert (a.text, a.version) == ("two", 2)
