"""Any LlamaIndex ``BaseEmbedding`` as an omega embedder, so a Memory embeds text with it directly.

Example::

    from llama_index.embeddings.openai import OpenAIEmbedding
    from omega_memory_plugin import Memory
    from llama_index.vector_stores.omega_memory import LlamaIndexEmbedder

    memory = Memory("./.omega-memory", embedder=LlamaIndexEmbedder(OpenAIEmbedding(model="text-embedding-3-small")))
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.embeddings.base import BaseEmbedding

from .base import model_name


class LlamaIndexEmbedder:
    """An :class:`~omega_memory_plugin.embeddings.Embedder` over ``embed_model``: texts through
    ``get_text_embedding_batch``; ``name`` is what the vector store records for the same model
    (``hash:<dim>`` for ``OmegaHashEmbedding``, else ``llama_index:<class>:<model_name>``);
    ``dimension`` is learnt from one embedding the first time it is read, unless given."""

    def __init__(self, embed_model: BaseEmbedding, *, dimension: int | None = None) -> None:
        self.embed_model = embed_model
        name = model_name(embed_model)
        assert name is not None
        self.name = name
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embed_model.get_text_embedding("dimension"))
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(v) for v in self.embed_model.get_text_embedding_batch(list(texts))]
