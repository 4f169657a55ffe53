"""Every Projection (index) implementation passes the same conformance suite.

The Qdrant server index runs against a real Qdrant server (the ``qdrant_server`` fixture: 1.19
from ``../shared/qdrant/``, or OMEGA_TEST_QDRANT_URL); qdrant-client's local mode is an extra.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import AsyncQdrantClient

from omega_memory_plugin.errors import UnsupportedFilterError
from omega_memory_plugin.events import Distance
from omega_memory_plugin.index.base import Projection
from omega_memory_plugin.index.edge import EdgeProjection
from omega_memory_plugin.index.memory import InMemoryProjection
from omega_memory_plugin.index.qdrant import QdrantProjection
from omega_memory_plugin.testing.builders import Recorder, created, upserted
from omega_memory_plugin.testing.projection_conformance import (
    FILTERS,
    ProjectionConformance,
    SharedProjectionConformance,
)


class TestInMemoryProjection(ProjectionConformance):
    @pytest.fixture
    async def projection(self) -> AsyncIterator[Projection]:
        index = InMemoryProjection()
        yield index
        await index.close()


class TestEdgeProjection(ProjectionConformance):
    @pytest.fixture
    async def projection(self, tmp_path: Path) -> AsyncIterator[Projection]:
        index = EdgeProjection(tmp_path / "index")
        await index.open()
        yield index
        await index.close()

    async def test_flushed_data_survives_reopen_and_current_generation_is_kept(self, tmp_path: Path) -> None:
        root = tmp_path / "durable"
        index = EdgeProjection(root)
        await index.apply(Recorder()(created(), upserted("a", [1, 0, 0, 0])))
        await index.flush()
        await index.close()
        again = EdgeProjection(root)
        assert again.name == index.name
        assert [r.id for r in await again.get("c", "ns", ["a"])] == ["a"]
        await again.close()


class TestEdgeProjectionDot(TestEdgeProjection):
    distance = Distance.DOT


class TestEdgeProjectionBuiltInAChildProcess(ProjectionConformance):
    """A new generation as rebuild() makes a large one: written by a child process
    (index/edge_build.py) until its first read, which takes its shards over; later writes land here."""

    @pytest.fixture
    async def projection(self, tmp_path: Path) -> AsyncIterator[Projection]:
        owner = EdgeProjection(tmp_path / "index", child_build_at=0)
        index = await owner.fresh(events=0)
        assert index._build is not None
        await index.open()
        yield index
        await index.close()
        await owner.close()


class TestQdrantLocalProjection(ProjectionConformance):
    """qdrant-client local mode runs the same code path as a Qdrant server."""

    @pytest.fixture
    async def projection(self) -> AsyncIterator[Projection]:
        index = QdrantProjection(AsyncQdrantClient(location=":memory:"), owns_client=True)
        await index.open()
        yield index
        await index.close()


class TestQdrantLocalSharedProjection(SharedProjectionConformance):
    """Two projections on one local-mode client: the same storage, as two processes see a server."""

    @pytest.fixture
    async def pair(self) -> AsyncIterator[tuple[Projection, Projection]]:
        client = AsyncQdrantClient(location=":memory:")
        first, second = QdrantProjection(client, owns_client=True), QdrantProjection(client)
        await first.open()
        await second.open()
        yield first, second
        await second.close()
        await first.close()


class TestQdrantLocalProjectionEuclid(TestQdrantLocalProjection):
    distance = Distance.EUCLID


class TestQdrantServerProjection(ProjectionConformance):
    """The production index on a real Qdrant server; each test in collections of its own prefix."""

    @pytest.fixture
    async def projection(self, qdrant_url: str, qdrant_prefix: str) -> AsyncIterator[Projection]:
        index = QdrantProjection(AsyncQdrantClient(url=qdrant_url), prefix=qdrant_prefix, owns_client=True)
        await index.open()
        yield index
        await index.close()

    @pytest.mark.parametrize("spec", FILTERS, ids=[str(f) for f in FILTERS])
    async def test_filter_selects_what_the_reference_selects(
        self, projection: Projection, spec: dict[str, Any]
    ) -> None:
        # $text needs MatchSubstring (Qdrant >= 1.20): on an older server the index must refuse
        # it by name, never answer something else.
        assert isinstance(projection, QdrantProjection)
        substring = any(op in json.dumps(spec) for op in ('"$text"', '"$itext"')) or any(
            isinstance(v, str) for v in _contains_operands(spec)
        )
        if substring and not projection.has_substring:
            with pytest.raises(UnsupportedFilterError, match=r"is version .*upgrade the server"):
                await super().test_filter_selects_what_the_reference_selects(projection, spec)
            return
        await super().test_filter_selects_what_the_reference_selects(projection, spec)


class TestQdrantServerSharedProjection(SharedProjectionConformance):
    """Two clients of one real server, as two processes open it."""

    @pytest.fixture
    async def pair(self, qdrant_url: str, qdrant_prefix: str) -> AsyncIterator[tuple[Projection, Projection]]:
        pair = [
            QdrantProjection(AsyncQdrantClient(url=qdrant_url), prefix=qdrant_prefix, owns_client=True)
            for _ in range(2)
        ]
        for index in pair:
            await index.open()
        yield pair[0], pair[1]
        for index in pair:
            await index.close()


class TestQdrantServerProjectionDot(TestQdrantServerProjection):
    distance = Distance.DOT


def _contains_operands(spec: Any) -> list[Any]:
    """The operands of every ``$contains`` in a filter spec (a string one needs a substring match)."""
    if isinstance(spec, dict):
        return [v for k, v in spec.items() if k == "$contains"] + [
            o for v in spec.values() for o in _contains_operands(v)
        ]
    if isinstance(spec, list):
        return [o for item in spec for o in _contains_operands(item)]
    return []
