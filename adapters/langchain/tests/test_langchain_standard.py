"""LangChain's own standard VectorStore suite, unmodified, on each backend a user deploys.

Nothing is skipped or overridden: the subclasses only say how to make an empty store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from langchain_omega_memory import OmegaMemoryVectorStore
from omega_memory_plugin import Memory


def _store(memory: Memory) -> Iterator[OmegaMemoryVectorStore]:
    store = OmegaMemoryVectorStore(memory, VectorStoreIntegrationTests.get_embeddings(), namespace="standard-suite")
    try:
        yield store
    finally:
        memory.close()


class TestEmbeddedDefault(VectorStoreIntegrationTests):
    """SQLite log + Qdrant Edge index, the zero-setup default."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[OmegaMemoryVectorStore]:
        yield from _store(Memory(tmp_path / "memory"))


class TestMongoLog(VectorStoreIntegrationTests):
    """The production log (a Mongo-wire server) projected into Qdrant Edge."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path, mongo_url: str) -> Iterator[OmegaMemoryVectorStore]:
        yield from _store(Memory(log_url=mongo_url, index_url=f"edge:///{tmp_path}/index"))


class TestQdrantClientIndex(VectorStoreIntegrationTests):
    """The Qdrant-server code path (qdrant-client, in local mode here) behind the SQLite log."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[OmegaMemoryVectorStore]:
        yield from _store(Memory(log_url=f"sqlite:///{tmp_path}/log.db", index_url="qdrant-local://:memory:"))
