"""BM25 terms of a memory's text: the one tokenizer every index uses for sparse search.

Every index computes a memory's sparse vector here, from the text in its event, when it applies
the event: the log stays free of models, and a replay computes the same vectors again. The terms
come from ``qdrant_edge.Bm25`` (word tokenizer, English stopwords and Snowball stemmer, hashed
with murmur3 as Qdrant's own ``qdrant/bm25`` does): deterministic, offline, and byte for byte what
a Qdrant server computes for a ``Document``, so the embedded index, the server and the in-memory
reference agree.

The stored weights hold term frequency and length normalisation only. IDF is applied at query
time over the namespace queried, never over the whole collection, so that one tenant's words never
change another tenant's scores: Qdrant's IDF modifier with the namespace as its corpus
(``IdfParams`` on Edge, ``IdfCorpusParams`` on the server), and :func:`idf` in the in-memory index.

Example::

    >>> indices, values = document_terms("Ada drinks green tea")
    >>> len(indices) == len(values) == 4
    True
    >>> query_terms("the") == ([], [])  # stopwords only: nothing to match
    True
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias

import qdrant_edge as qe

#: The name of the sparse vector in every point. Dense vector names cannot start with "_"
#: (validation.check_vector_name), so it never collides with a collection's own vectors.
SPARSE = "_bm25"

#: k1 = 1.2, b = 0.75, average length 256: Qdrant's defaults, recorded by the index layout
#: (payload.LAYOUT): changing anything here changes every stored vector.
CONFIG = qe.Bm25Config()
_ENCODER = qe.Bm25(CONFIG)

Terms: TypeAlias = tuple[list[int], list[float]]
"""A sparse vector: term ids (ascending) and their weights."""


def _terms(vector: qe.SparseVector) -> Terms:
    pairs = sorted(zip(vector.indices, vector.values, strict=True))
    return [i for i, _ in pairs], [v for _, v in pairs]


def document_terms(text: str) -> Terms:
    """The stored sparse vector of a memory's text: BM25 term weights without IDF."""
    return _terms(_ENCODER.embed_document(text))


def query_terms(text: str) -> Terms:
    """The sparse query of a text: weight 1 for each distinct term."""
    return _terms(_ENCODER.embed_query(text))


def idf(documents: int, containing: int) -> float:
    """Qdrant's IDF modifier: ``ln(1 + (N - n + 0.5) / (n + 0.5))`` over ``documents`` (N)
    of which ``containing`` (n) hold the term."""
    return math.log(1 + (documents - containing + 0.5) / (containing + 0.5))


def own_vectors(raw: Any) -> dict[str, list[float]] | None:
    """The vectors of a point as a Qdrant index returns them, without the index's sparse vector:
    a memory's vectors are the ones it was written with."""
    mine = {name: vector for name, vector in raw.items() if name != SPARSE} if isinstance(raw, dict) else {}
    return mine or None
