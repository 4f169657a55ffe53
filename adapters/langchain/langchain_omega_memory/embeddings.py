"""Offline LangChain embeddings: omega's hash embedder behind LangChain's ``Embeddings`` interface.

They find texts that share words, with no model and no network, which is what examples and tests
need. Use a real model (``OpenAIEmbeddings``, ``HuggingFaceEmbeddings``, ...) for semantic search.
"""

from __future__ import annotations

from langchain_core.embeddings import Embeddings

from omega_memory_plugin.embeddings import HashEmbedder


class OmegaHashEmbeddings(Embeddings):
    """Hashed words and word pairs, L2-normalised.

    Example::

        >>> len(OmegaHashEmbeddings(dimension=64).embed_query("green tea"))
        64
    """

    def __init__(self, dimension: int = 384) -> None:
        self._hash = HashEmbedder(dimension)
        self.model = self._hash.name  # "hash:<dimension>", recorded in every event

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._hash.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._hash.embed([text])[0]
