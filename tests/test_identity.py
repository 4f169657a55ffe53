"""Identity: (collection, namespace, memory id) -> index point is injective (index/payload.py).

Joining namespace and id with a separator was not: ("team", "a\\x1fx") and ("team\\x1fa", "x") were
one point, so one tenant overwrote another, in every index. A point addressed and laid out by an
older derivation (payload.LAYOUT) is refused with a message saying to rebuild.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qdrant_client import AsyncQdrantClient

from omega_memory_plugin.errors import IndexUnavailableError
from omega_memory_plugin.index.base import Entry, Projection
from omega_memory_plugin.index.edge import EdgeProjection
from omega_memory_plugin.index.memory import InMemoryProjection
from omega_memory_plugin.index.payload import point_id, to_record
from omega_memory_plugin.index.qdrant import QdrantProjection
from omega_memory_plugin.testing.builders import Recorder, created, upserted

# Characters that any encoding of the triple might use as structure, and a few far from ASCII.
TRICKY = ["\x1f", "\x00", '"', "\\", ",", "[", "]", ":", "|", "/", "\u2028", "\U0001f642", "a", "b"]
parts = st.text(st.sampled_from(TRICKY) | st.characters(exclude_categories=["Cs"]), max_size=12)
triples = st.tuples(parts, parts, parts)


@settings(max_examples=2000)
@given(triples, triples)
def test_different_triples_never_share_a_point(a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    assert (point_id(*a) == point_id(*b)) == (a == b)


@given(parts, parts, parts, parts, st.sampled_from(TRICKY))
def test_the_same_characters_cut_elsewhere_give_another_point(c: str, x: str, y: str, z: str, sep: str) -> None:
    # The shape of the reported collision, at both boundaries of the triple.
    for a, b in [((c, x, y + sep + z), (c, x + sep + y, z)), ((c + sep + x, y, z), (c, sep + x + y, z))]:
        if a != b:
            assert point_id(*a) != point_id(*b)


@given(triples)
def test_a_point_id_is_a_stable_uuid(triple: tuple[str, str, str]) -> None:
    assert point_id(*triple) == point_id(*triple) == str(uuid.UUID(point_id(*triple)))


@settings(max_examples=1000)
@given(triples)
def test_a_point_id_is_uuid5_of_the_length_prefixed_name(triple: tuple[str, str, str]) -> None:
    # point_id writes uuid5 out for speed: it must stay the same id for every triple.
    c, ns, m = triple
    name = f"{len(c)}:{c}{len(ns)}:{ns}{m}"
    assert point_id(c, ns, m) == str(uuid.uuid5(uuid.UUID("6f6d6567-612d-6d65-6d6f-72792d706c75"), name))


def test_point_ids_do_not_change_between_versions_of_the_same_layout() -> None:
    # Indexes built by another process or release must address the same points (payload.LAYOUT).
    assert point_id("c", "ns", "m1") == "06a874b1-3275-5160-aec9-f2573dffbc6e"


@pytest.fixture(params=["memory", "edge", "qdrant-server", "qdrant-local"])
async def projection(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Projection]:
    index: Projection
    if request.param == "memory":
        index = InMemoryProjection()
    elif request.param == "edge":
        index = EdgeProjection(tmp_path / "index")
    elif request.param == "qdrant-server":  # the real Qdrant 1.19 server the session started
        url = request.getfixturevalue("qdrant_server")
        prefix = request.getfixturevalue("qdrant_prefix")
        index = QdrantProjection(AsyncQdrantClient(url=url), prefix=prefix, owns_client=True)
    else:
        index = QdrantProjection(AsyncQdrantClient(location=":memory:"), owns_client=True)
    await index.open()
    yield index
    await index.close()


async def test_the_reported_collision_is_two_memories_on_every_index(projection: Projection) -> None:
    vector = [1.0, 0.0, 0.0, 0.0]
    await projection.apply(
        Recorder()(
            created(),
            upserted("a\x1fx", vector, namespace="team", text="team's memory"),
            upserted("x", vector, namespace="team\x1fa", text="the other tenant's memory"),
        )
    )
    assert [r.text for r in await projection.get("c", "team", ["a\x1fx"])] == ["team's memory"]
    assert [r.text for r in await projection.get("c", "team\x1fa", ["x"])] == ["the other tenant's memory"]
    assert sorted(await projection.entries("c"), key=str) == sorted(
        [Entry("team", "a\x1fx", 1), Entry("team\x1fa", "x", 1)], key=str
    )


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(parts.filter(bool), parts.filter(bool)), min_size=1, max_size=12, unique=True))
def test_every_distinct_memory_is_kept_by_the_reference_index(keys: list[tuple[str, str]]) -> None:
    async def check() -> None:
        index = InMemoryProjection()
        record = Recorder()
        vector = np.ones(4, np.float32).tolist()
        await index.apply(record(created(), *[upserted(i, vector, namespace=n, text=f"{n!r}/{i!r}") for n, i in keys]))
        assert sorted(await index.entries("c"), key=str) == sorted((Entry(n, i, 1) for n, i in keys), key=str)
        for n, i in keys:
            assert [r.text for r in await index.get("c", n, [i])] == [f"{n!r}/{i!r}"]

    asyncio.run(check())


def test_a_point_of_an_older_layout_says_to_rebuild() -> None:
    older = {"memory_id": "m1", "namespace": "ns", "text": "t", "metadata": {}, "version": 1, "position": 1}
    with pytest.raises(IndexUnavailableError, match=r"older layout.*rebuild the index from the log"):
        to_record("c", older)
