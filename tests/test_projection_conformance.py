"""Every Projection (index) implementation passes the same conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from omega_memory_plugin.events import Distance
from omega_memory_plugin.index.base import Projection
from omega_memory_plugin.index.edge import EdgeProjection
from omega_memory_plugin.index.memory import InMemoryProjection
from omega_memory_plugin.index.qdrant import QdrantProjection
from omega_memory_plugin.testing.builders import Recorder, created, upserted
from omega_memory_plugin.testing.projection_conformance import ProjectionConformance


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


class TestQdrantLocalProjection(ProjectionConformance):
    """qdrant-client local mode runs the same code path as a Qdrant server."""

    @pytest.fixture
    async def projection(self) -> AsyncIterator[Projection]:
        index = QdrantProjection(AsyncQdrantClient(location=":memory:"), owns_client=True)
        await index.open()
        yield index
        await index.close()


class TestQdrantLocalProjectionEuclid(TestQdrantLocalProjection):
    distance = Distance.EUCLID
