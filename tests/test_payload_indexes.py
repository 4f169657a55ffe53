"""Payload indexes made on first use speed filters up without changing a single answer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qdrant_edge as qe

from omega_memory_plugin import Memory
from omega_memory_plugin.expiry import unexpired
from omega_memory_plugin.filters import matches, parse_filter
from omega_memory_plugin.index.base import SearchQuery
from omega_memory_plugin.index.edge import EdgeProjection
from omega_memory_plugin.testing.builders import Recorder, created, upserted
from omega_memory_plugin.testing.projection_conformance import FILTER_DATA, FILTERS

# Keys holding values of several types, so that an index of one type meets values of the others.
MIXED_DATA: list[dict[str, Any]] = [
    {"topic": 7, "year": "2021", "tags": [1, "a", 2.5], "ok": "true", "score": "4.5"},
    {"topic": ["tea", 3], "year": [2021, "x"], "count": 0.0, "ok": 1},
]
DATA = FILTER_DATA + MIXED_DATA
MIXED_FILTERS: list[dict[str, Any]] = [
    {"topic": 7},
    {"topic": {"$in": ["tea", 7]}},
    {"topic": {"$gt": 5}},
    {"year": "2021"},
    {"year": {"$gte": 2021}},
    {"tags": 1},
    {"tags": {"$lt": 3}},
    {"tags": {"$nin": ["a", 2.5]}},
    {"ok": True},
    {"ok": 1},
    {"count": 0},
    {"score": {"$ne": 4.5}},
]
KEYS = sorted({key for row in DATA for key in row} | {"author.name"})
# The kinds the index makes. Not "integer": Edge then answers {"score": 4.5} and ranges over
# score without the float values (tried: 4 of these cases fail), so numbers get a float index.
INDEXES = {"keyword": qe.KeywordIndexParams(), "float": qe.FloatIndexParams()}


def vector(i: int) -> list[float]:
    return np.random.default_rng(i).standard_normal(4).tolist()


async def loaded(root: Path) -> EdgeProjection:
    projection = EdgeProjection(root)
    await projection.open()
    events = [created()] + [upserted(f"f{i}", vector(i), metadata=meta) for i, meta in enumerate(DATA)]
    await projection.apply(Recorder()(*events))
    return projection


@pytest.fixture(params=["on first use", *INDEXES])
async def projection(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EdgeProjection]:
    """Edge with the indexes a filter makes itself, or with one index kind forced on every key."""
    index = await loaded(tmp_path)
    if request.param in INDEXES:
        for key in KEYS:
            index._shards["c"].update(qe.UpdateOperation.create_field_index(f"metadata.{key}", INDEXES[request.param]))
        index._indexed["c"] = set(index._shards["c"].info().payload_schema)  # so no other kind is added
    yield index
    await index.close()


@pytest.mark.parametrize("spec", FILTERS + MIXED_FILTERS, ids=[str(f) for f in FILTERS + MIXED_FILTERS])
async def test_indexed_filters_select_what_the_reference_selects(projection: EdgeProjection, spec: dict) -> None:
    node = parse_filter(spec)
    expected = sorted(f"f{i}" for i, meta in enumerate(DATA) if matches(node, meta))
    query = SearchQuery("c", "ns", np.array(vector(0), np.float32), "dense", limit=50, filter=node)
    assert sorted(h.id for h in await projection.search(query)) == expected
    assert sorted(r.id for r in await projection.scan("c", "ns", node)) == expected
    assert await projection.count("c", "ns", node) == len(expected)


async def test_a_filter_indexes_its_keys_once_and_the_indexes_survive_a_reopen(tmp_path: Path) -> None:
    index = await loaded(tmp_path)
    node = parse_filter({"topic": "tea", "year": {"$gte": 2020}, "ok": True, "note": {"$text": "no"}})
    await index.count("c", "ns", node)
    schema = index._shards["c"].info().payload_schema
    assert {"metadata.topic", "metadata.year", "_booleans"} <= set(schema)
    assert "metadata.note" not in schema  # $text is served by no payload index
    await index.flush()
    await index.close()
    reopened = EdgeProjection(tmp_path)
    await reopened.open()
    assert {"metadata.topic", "metadata.year"} <= set(reopened._shards["c"].info().payload_schema)
    assert await reopened.count("c", "ns", node) == sum(matches(node, m) for m in DATA)
    await reopened.close()


def test_a_rebuilt_index_answers_filters_the_same(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        for i, meta in enumerate(DATA):
            memory.upsert(f"memory {i}", id=f"f{i}", metadata=meta)
        answers = {str(f): sorted(r.id for r in memory.scan(filter=f)) for f in FILTERS + MIXED_FILTERS}
        memory.rebuild(progress=False)
        assert {str(f): sorted(r.id for r in memory.scan(filter=f)) for f in FILTERS + MIXED_FILTERS} == answers


async def test_a_new_collection_indexes_expiry_before_any_search(tmp_path: Path) -> None:
    """Every search filters on expires_at (expiry.py): its index is made with the collection, so
    the first search after an open never builds it inline (162 ms at 30,000 memories)."""
    index = await loaded(tmp_path)
    assert "expires_at" in index._shards["c"].info().payload_schema
    await index.close()


async def test_expired_points_are_left_out_with_or_without_the_expiry_index(tmp_path: Path) -> None:
    """The expiry condition is skipped only where the expiry index says no point has an expiry; a
    shard made before that index came with its collection still leaves expired points out, and
    gets the index at its first read."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    projection = EdgeProjection(tmp_path)
    await projection.open()
    await projection.apply(
        Recorder()(created(), upserted("old", vector(1)), upserted("gone", vector(2), expires_at=past))
    )
    shard = projection._shards["c"]
    for made_with_index in (True, False):
        if not made_with_index:
            shard.update(qe.UpdateOperation.delete_field_index("expires_at"))
            projection._indexed.clear()
        live = unexpired(None, time.time())
        query = SearchQuery("c", "ns", np.array(vector(0), np.float32), "dense", limit=10, filter=live)
        assert [h.id for h in await projection.search(query)] == ["old"]
        assert [r.id for r in await projection.scan("c", "ns", live)] == ["old"]
        assert await projection.count("c", "ns", live) == 1
        assert "expires_at" in shard.info().payload_schema
    await projection.close()
