"""Embedders turn text into vectors when a write or search gives text without a vector.

The built-in ``hash`` embedder needs no model and no network: it hashes words and word pairs into
a fixed number of dimensions. It finds texts that share words, which makes it right for demos,
tests and offline examples; plug in a real model (any object with ``name``, ``dimension`` and
``embed``) for semantic search.

Example::

    >>> from omega_memory_plugin.embeddings import HashEmbedder
    >>> e = HashEmbedder(8)
    >>> len(e.embed(["green tea"])[0])
    8
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import InvalidInputError
from .hookspecs import hookimpl
from .settings import Settings

_WORD = re.compile(r"\w+")


@runtime_checkable
class Embedder(Protocol):
    #: recorded in every event as the embedding model id, so a replay knows what made a vector
    name: str

    @property
    def dimension(self) -> int:
        """The size of the vectors it makes (an attribute does)."""
        ...

    def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float] | np.ndarray]:
        """One vector per text, in order (lists of floats or numpy arrays)."""
        ...


class HashEmbedder:
    """Feature hashing of lower-cased words and adjacent word pairs, L2-normalised."""

    def __init__(self, dimension: int = 384) -> None:
        if dimension < 2:
            raise ValueError(f"dimension must be at least 2, got {dimension}")
        self.dimension = dimension
        self.name = f"hash:{dimension}"

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dimension] += 1.0 if value >> 63 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        rows: list[list[float]] = (out / norms).tolist()
        return rows


@hookimpl
def omega_memory_embedder(name: str, settings: Settings) -> Embedder | None:
    kind, _, size = name.partition(":")
    if kind != "hash":
        return None
    if size and not (size.isascii() and size.isdigit() and int(size) >= 2):
        raise InvalidInputError(f"embedder {name!r}: the hash embedder's dimension is an integer >= 2, e.g. 'hash:384'")
    return HashEmbedder(int(size) if size else 384)
