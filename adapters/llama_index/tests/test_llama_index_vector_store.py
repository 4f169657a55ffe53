"""The vector-store conformance suite against the embedded default and the Mongo log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from llama_index.vector_stores.omega_memory import LlamaIndexEmbedder, OmegaHashEmbedding, OmegaMemoryVectorStore
from llama_index.vector_stores.omega_memory.testing import VectorStoreConformance

from omega_memory_plugin import EmbeddingModelError, InvalidInputError, Memory


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


def test_the_embed_model_is_recorded_and_another_refused(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as memory:
        store = OmegaMemoryVectorStore(memory, namespace="u", embed_model=OmegaHashEmbedding(16))
        assert store.embedding_model == "hash:16"
        node = TextNode(id_="n1", text="green tea", embedding=OmegaHashEmbedding(16).get_text_embedding("green tea"))
        store.add([node])
        assert memory.collections()["llama_index"].embedding_model == "hash:16"
        assert memory.get("n1", namespace="u", collection="llama_index")[0].embedding_model == "hash:16"
        other = OmegaMemoryVectorStore(memory, namespace="u", embed_model="openai:text-embedding-3-small")
        with pytest.raises(EmbeddingModelError):
            other.add([TextNode(id_="n2", text="x", embedding=[0.5] * 16)])
        with pytest.raises(EmbeddingModelError):
            other.query(VectorStoreQuery(query_embedding=[0.5] * 16, similarity_top_k=1))
    with Memory(tmp_path / "m") as memory:  # omega embeds text with the recorded model again
        assert memory.search(text="green tea", namespace="u", collection="llama_index")[0].id == "n1"


def test_a_llama_index_embed_model_as_the_memorys_embedder(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder=LlamaIndexEmbedder(OmegaHashEmbedding(16))) as memory:
        assert memory.embedder is not None and (memory.embedder.name, memory.embedder.dimension) == ("hash:16", 16)
        memory.upsert("Ada drinks green tea", id="tea", namespace="u", collection="llama_index")
        store = OmegaMemoryVectorStore(memory, namespace="u", embed_model=OmegaHashEmbedding(16))
        query = VectorStoreQuery(
            query_embedding=OmegaHashEmbedding(16).get_query_embedding("green tea"), similarity_top_k=1
        )
        assert store.query(query).ids == ["tea"]  # the same model on both paths: accepted


def test_a_store_opens_its_memory_from_a_path_with_a_collection_name(tmp_path: Path) -> None:
    store = OmegaMemoryVectorStore(path=tmp_path / "m", collection_name="docs", namespace="n")
    try:
        store.add([TextNode(id_="a", text="green tea", embedding=[1.0, 0.0, 0.0, 0.0])])
        assert store.collection == "docs"
        assert [r.text for r in store.memory.get("a", namespace="n", collection="docs")] == ["green tea"]
        with pytest.raises(InvalidInputError, match="not both"):
            OmegaMemoryVectorStore(store.memory, path=tmp_path / "other")
        with pytest.raises(InvalidInputError, match="differ"):
            OmegaMemoryVectorStore(store.memory, collection="a", collection_name="b")
    finally:
        store.memory.close()


def test_its_writes_record_the_adapter_as_their_origin(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as memory:
        store = OmegaMemoryVectorStore(memory, namespace="u", embed_model=OmegaHashEmbedding(16))
        store.add([TextNode(id_="n1", text="tea", embedding=OmegaHashEmbedding(16).get_text_embedding("tea"))])
        store.delete_nodes(["n1"])
        history = memory.explain("n1", namespace="u", collection="llama_index").history
        assert [e.data.origin for e in history] == ["llama-index-vector-stores-omega-memory"] * 2
