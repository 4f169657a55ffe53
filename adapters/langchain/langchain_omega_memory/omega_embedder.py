"""Any LangChain ``Embeddings`` as an omega embedder, so a Memory embeds text with it directly.

Example::

    from langchain_openai import OpenAIEmbeddings
    from omega_memory_plugin import Memory
    from langchain_omega_memory import LangChainEmbedder

    memory = Memory("./.omega-memory", embedder=LangChainEmbedder(OpenAIEmbeddings(model="text-embedding-3-small")))
    memory.upsert("Ada prefers green tea", id="pref-1")   # recorded as langchain:OpenAIEmbeddings:text-embedding-3-small
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.embeddings import Embeddings

from .vectorstores import model_id


class LangChainEmbedder:
    """An :class:`~omega_memory_plugin.embeddings.Embedder` over ``embeddings``: documents through
    ``embed_documents``; ``name`` is the model id the vector store records for the same object
    (so the store and the Memory agree on what made a collection's vectors); ``dimension`` is
    learnt from one embedding the first time it is read, unless given."""

    def __init__(self, embeddings: Embeddings, *, dimension: int | None = None) -> None:
        self.embeddings = embeddings
        self.name = model_id(embeddings)
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embeddings.embed_query("dimension"))
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embeddings.embed_documents(list(texts))
