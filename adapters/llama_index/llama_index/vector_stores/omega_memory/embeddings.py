"""An offline LlamaIndex embed model: omega's hash embedder behind LlamaIndex's ``BaseEmbedding``.

It finds texts that share words, with no model download and no network, which is what examples
and tests need. For semantic search pass a real model instead (``OpenAIEmbedding``,
``HuggingFaceEmbedding``, ...); the vector store takes whatever embeddings the nodes carry.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

from omega_memory_plugin.embeddings import HashEmbedder


class OmegaHashEmbedding(BaseEmbedding):
    """Hashed words and word pairs, L2-normalised.

    Example::

        >>> len(OmegaHashEmbedding(dimension=64).get_text_embedding("green tea"))
        64
    """

    dimension: int = Field(default=384, ge=2, description="Size of the vectors.")
    _hash: HashEmbedder = PrivateAttr()

    def __init__(self, dimension: int = 384, **kwargs: Any) -> None:
        super().__init__(dimension=dimension, model_name=f"hash:{dimension}", **kwargs)
        self._hash = HashEmbedder(dimension)

    @classmethod
    def class_name(cls) -> str:
        return "OmegaHashEmbedding"

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._hash.embed([query])[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._hash.embed([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._hash.embed(texts)
