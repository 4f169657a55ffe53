"""Embeddings from `sentence-transformers <https://sbert.net>`_ models (PyTorch, CPU or GPU).

Names are ``sentence-transformers:<model>``, e.g. ``sentence-transformers:all-MiniLM-L6-v2``: the
model is loaded (downloaded into the Hugging Face cache the first time, unless ``HF_HUB_OFFLINE=1``)
when the embedder is made, since sentence-transformers knows a model's dimension only once loaded.
A model already loaded can be passed instead of a name. Needs the ``sentence-transformers`` extra
(which brings PyTorch).

Not exercised against the library in this project's tests: PyTorch is too large for its CI and no
model can be had offline there. The tests check this wrapper against the interface the library
documents (``get_sentence_embedding_dimension()``, ``encode(...)``), and the error when the extra
is missing.

Example::

    from omega_memory_plugin import Memory

    memory = Memory("./.omega-memory", embedder="sentence-transformers:all-MiniLM-L6-v2")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import EmbedderError
from ..extras import require

BATCH_SIZE = 64


class SentenceTransformerEmbedder:
    """An :class:`~omega_memory_plugin.embeddings.Embedder` over a ``SentenceTransformer``.

    ``model`` is a model name (loaded here) or a loaded ``SentenceTransformer``, whose ``name``
    must then be given. Vectors are normalised (cosine collections compare them as sentence
    models are trained to be compared) unless ``normalize=False``.
    """

    def __init__(
        self,
        model: str | Any,
        *,
        name: str | None = None,
        device: str | None = None,
        batch_size: int = BATCH_SIZE,
        normalize: bool = True,
    ) -> None:
        if isinstance(model, str):
            library = require(
                "sentence_transformers", extra="sentence-transformers", needed_by="the sentence-transformers embedder"
            )
            try:
                loaded = library.SentenceTransformer(model, device=device)
            except (OSError, ValueError) as exc:
                raise EmbedderError(
                    f"cannot load sentence-transformers model {model!r}: {exc}. Run once where it can be "
                    "downloaded (it is kept in the Hugging Face cache, HF_HOME), or pass a local directory"
                ) from exc
            name = name or model
        elif name is None:
            raise EmbedderError("a loaded SentenceTransformer needs name=...: the model id events record")
        else:
            loaded = model
        self._model = loaded
        self.name = f"sentence-transformers:{name}"
        size = loaded.get_sentence_embedding_dimension()
        if not isinstance(size, int) or size < 1:
            raise EmbedderError(f"sentence-transformers model {name!r} reports no fixed dimension ({size!r})")
        self._dimension = size
        self._batch_size = batch_size
        self._normalize = normalize

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self._normalize,
            show_progress_bar=False,
        )
        array = np.asarray(vectors, dtype=np.float32)
        if array.shape != (len(texts), self._dimension):
            raise EmbedderError(
                f"{self.name} returned vectors of shape {array.shape} for {len(texts)} texts of dimension {self._dimension}"
            )
        return list(array)
