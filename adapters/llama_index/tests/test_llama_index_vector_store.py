"""The vector-store conformance suite against the embedded default and the Mongo log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.vector_stores.omega_memory.testing import VectorStoreConformance

from omega_memory_plugin import Memory


class TestEmbedded(VectorStoreConformance):
    """SQLite log + Qdrant Edge index in one directory: what ``Memory(path)`` opens."""

    @pytest.fixture
    def memory(self, tmp_path: Path) -> Iterator[Memory]:
        with Memory(path=tmp_path / "memory") as memory:
            yield memory


class TestMongoLog(VectorStoreConformance):
    """The Mongo log (FerretDB, or OMEGA_TEST_MONGO_URL) projected through qdrant-client, the
    server index's code path."""

    @pytest.fixture
    def memory(self, mongo_url: str) -> Iterator[Memory]:
        with Memory(log_url=mongo_url, index_url="qdrant-local://:memory:") as memory:
            yield memory
