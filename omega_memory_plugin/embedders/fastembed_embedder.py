"""Embeddings from `fastembed <https://qdrant.github.io/fastembed/>`_ (Qdrant's ONNX models, on the CPU).

Names are ``fastembed:<model>``, e.g. ``fastembed:BAAI/bge-small-en-v1.5``, any model of
``TextEmbedding.list_supported_models()``. The dimension comes from that catalogue, so a memory
can be opened, and a collection created, without loading the model; the model is loaded by the
first ``embed`` call: fastembed downloads it into its cache (``cache_dir``,
``OMEGA_FASTEMBED_CACHE_DIR``, else ``FASTEMBED_CACHE_PATH`` or a temporary directory) unless
``local_files_only`` (``OMEGA_FASTEMBED_LOCAL_FILES_ONLY=true``) says to use the cache only,
as a machine without network must. Needs the ``fastembed`` extra.

Example::

    from omega_memory_plugin import Memory

    memory = Memory("./.omega-memory", embedder="fastembed:BAAI/bge-small-en-v1.5")  # 384 dimensions
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError
from ..extras import require

BATCH_SIZE = 256


class FastEmbedEmbedder:
    """An :class:`~omega_memory_plugin.embeddings.Embedder` over a fastembed ``TextEmbedding``."""

    def __init__(
        self,
        model: str,
        *,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        threads: int | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        fastembed = require("fastembed", extra="fastembed", needed_by="the fastembed embedder")
        catalogue = {m["model"]: m for m in fastembed.TextEmbedding.list_supported_models()}
        described = catalogue.get(model)
        if described is None:
            known = ", ".join(sorted(catalogue)[:8])
            raise EmbedderError(
                f"fastembed has no text model {model!r}; it has {len(catalogue)}, e.g. {known} "
                "(all of them: fastembed.TextEmbedding.list_supported_models())"
            )
        self.model = model
        self.name = f"fastembed:{model}"
        self._dimension = int(described["dim"])
        self._options: dict[str, Any] = {
            "cache_dir": None if cache_dir is None else str(cache_dir),
            "threads": threads,
            "local_files_only": local_files_only,
        }
        self._batch_size = batch_size
        self._loaded: Any = None
        self._module = fastembed

    @property
    def dimension(self) -> int:
        return self._dimension

    def _text_embedding(self) -> Any:
        if self._loaded is None:
            try:
                self._loaded = self._module.TextEmbedding(self.model, **self._options)
            except (ValueError, OSError) as exc:
                where = self._options["cache_dir"] or "fastembed's cache (FASTEMBED_CACHE_PATH)"
                offline = " (local_files_only: the cache only)" if self._options["local_files_only"] else ""
                raise EmbedderError(
                    f"cannot load fastembed model {self.model!r} from {where}{offline}: {exc}. Run once where it "
                    "can be downloaded, then point cache_dir (OMEGA_FASTEMBED_CACHE_DIR) at that cache"
                ) from exc
        return self._loaded

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        vectors = list(self._text_embedding().embed(list(texts), batch_size=self._batch_size))
        if len(vectors) != len(texts) or any(v.shape != (self._dimension,) for v in vectors):
            raise EmbedderError(
                f"fastembed model {self.model!r} returned {len(vectors)} vectors for {len(texts)} texts, "
                f"expected each of dimension {self._dimension}"
            )
        return vectors
