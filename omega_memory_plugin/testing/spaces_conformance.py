"""Embedding spaces (:mod:`omega_memory_plugin.spaces`) as tests, mixed into
:class:`~.projection_conformance.ProjectionConformance` so that every index passes them.

A collection ``c`` re-embedded with another model holds its space 1 in the index collection
``c~1``: these cases apply the events of a re-embedding and read both spaces by those names, as the
Memory does.
"""

from __future__ import annotations

import numpy as np

from ..events import Event
from ..index.base import Projection, SearchQuery
from ..index.bm25 import query_terms
from ..records import MemoryRecord
from .builders import Recorder, created, deleted, erased, model_added, model_switched, reembedded, upserted

OLD = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
NEW = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]  # another model: 3 dimensions, another order


def _query(collection: str, vector: list[float], namespace: str = "ns", **options: object) -> SearchQuery:
    return SearchQuery(collection, namespace, np.asarray(vector, np.float32), "dense", **options)  # type: ignore[arg-type]


def _state(records: list[MemoryRecord]) -> list[tuple[str, str, int, str, object]]:
    return sorted((r.namespace, r.id, r.version, r.text, r.metadata) for r in records)


class SpacesConformance:
    async def _re_embedded(self, projection: Projection) -> tuple[Recorder, list[Event]]:
        """Three memories in space 0 (model m0), all re-embedded into space 1 (model m1), not switched."""
        record = Recorder()
        writes = record(
            created("c", {"dense": 4}),
            *(upserted(f"m{i}", OLD[i], text=f"memory {i} about tea", metadata={"i": i}, model="m0") for i in range(3)),
        )
        copies = record(model_added(1, 3, "m1"), *(reembedded(writes[1 + i], NEW[i], model="m1") for i in range(3)))
        await projection.apply(writes + copies)
        return record, writes

    async def test_a_re_embedded_memory_is_served_from_its_space_with_the_new_vectors(
        self, projection: Projection
    ) -> None:
        await self._re_embedded(projection)
        for i in range(3):
            (hit, *_) = await projection.search(_query("c~1", NEW[i], limit=3))
            (old, *_) = await projection.search(_query("c", OLD[i], limit=3))
            assert (hit.id, old.id) == (f"m{i}", f"m{i}")
            assert (hit.version, hit.text, hit.metadata, hit.embedding_model) == (1, old.text, {"i": i}, "m1")
            assert old.embedding_model == "m0"
        (found,) = await projection.get("c~1", "ns", ["m1"], with_vectors=True)
        assert found.vectors is not None and np.allclose(found.vectors["dense"], NEW[1])
        assert _state(await projection.scan("c~1", "ns", limit=None)) == _state(
            await projection.scan("c", "ns", limit=None)
        )
        entries = [
            sorted((e.namespace, e.memory_id, e.version) for e in await projection.entries(s)) for s in ("c", "c~1")
        ]
        assert entries[0] == entries[1]
        sparse = SearchQuery("c~1", "ns", None, "dense", mode="sparse", terms=query_terms("memory 2"))
        assert [h.id for h in await projection.search(sparse)][0] == "m2"  # BM25 from the text, in every space

    async def test_a_write_in_the_served_space_leaves_the_other_until_re_embedded(self, projection: Projection) -> None:
        record, _ = await self._re_embedded(projection)
        (again,) = record(upserted("m0", OLD[1], text="changed", model="m0"))
        await projection.apply([again])
        assert await projection.get("c~1", "ns", ["m0"]) == [], "space 1 holds no vectors of version 2"
        assert [(r.id, r.version) for r in await projection.get("c", "ns", ["m0"])] == [("m0", 2)]
        await projection.apply(record(reembedded(again, NEW[1], model="m1")))
        (copy,) = await projection.get("c~1", "ns", ["m0"])
        assert (copy.version, copy.text) == (2, "changed")

    async def test_after_a_switch_writes_go_to_the_new_space_and_leave_the_old(self, projection: Projection) -> None:
        record, _ = await self._re_embedded(projection)
        await projection.apply(
            record(
                model_switched(1, "m0", "m1"),
                upserted("m0", NEW[2], text="written with m1", space=1, model="m1"),
                upserted("new", NEW[1], space=1, model="m1"),
            )
        )
        assert [(r.id, r.version, r.text) for r in await projection.get("c~1", "ns", ["m0", "new"])] == [
            ("m0", 2, "written with m1"),
            ("new", 1, "text of new"),
        ]
        assert await projection.get("c", "ns", ["m0", "new"]) == []
        assert [r.id for r in await projection.scan("c", "ns")] == ["m1", "m2"]  # untouched: kept for a rollback

    async def test_deletes_and_erases_reach_every_space(self, projection: Projection) -> None:
        record, _ = await self._re_embedded(projection)
        await projection.apply(record(upserted("x", OLD[0], namespace="other", model="m0"), deleted("m1")))
        for space in ("c", "c~1"):
            assert [r.id for r in await projection.scan(space, "ns")] == ["m0", "m2"]
        await projection.apply(record(erased("ns")))
        for space in ("c", "c~1"):
            assert await projection.count(space, "ns") == 0
        assert [r.id for r in await projection.scan("c", "other")] == ["x"]

    async def test_applying_the_same_events_again_changes_nothing(self, projection: Projection) -> None:
        record, writes = await self._re_embedded(projection)
        later = record(upserted("m2", OLD[0], text="v2", model="m0"))
        await projection.apply(later)
        before = [_state(await projection.scan(space, "ns", limit=None)) for space in ("c", "c~1")]
        everything = writes + record(model_added(2, 3, "m2"))
        await projection.apply(everything)  # old positions: ignored
        assert [_state(await projection.scan(space, "ns", limit=None)) for space in ("c", "c~1")] == before
        assert {"c", "c~1", "c~2"} <= set(projection.held("c"))


class SharedSpacesConformance:
    """For an index several processes write at once: a re-embedding applied late never brings
    back a version another process already replaced."""

    async def test_a_lagging_re_embedding_never_brings_back_an_older_version(
        self, pair: tuple[Projection, Projection]
    ) -> None:
        ahead, behind = pair
        record = Recorder()
        first = record(created("c", {"dense": 4}), upserted("a", OLD[0], text="one", model="m0"))
        copy = record(model_added(1, 3, "m1"), reembedded(first[1], NEW[0], model="m1"))
        newer = record(upserted("a", OLD[1], text="two", model="m0"))
        await ahead.apply(first + copy + newer)
        await behind.apply(first + copy)
        for index in pair:
            assert await index.get("c~1", "ns", ["a"]) == []
            (a,) = await index.get("c", "ns", ["a"])
            assert (a.version, a.text) == (2, "two")
