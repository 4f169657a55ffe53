"""Writes as they are staged: validated in the caller's thread, turned into events on the engine.

Staging checks everything that does not depend on stored state (ids, text, metadata, finite
vectors). What does depend on it (vector dimensions against the collection, whether a deleted
memory exists) is checked when the commit runs, still before anything is appended.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from .embeddings import Embedder
from .errors import EmbeddingModelError, InvalidInputError, InvalidVectorError
from .events import CollectionCreated
from .origin import current_origin
from .validation import (
    check_collection,
    check_id,
    check_metadata,
    check_namespace,
    check_string,
    check_subject,
    check_text,
    check_vector,
    check_vector_name,
    check_version,
)

DEFAULT_VECTOR = "dense"

VectorsInput = Sequence[float] | np.ndarray | Mapping[str, Sequence[float] | np.ndarray]


@dataclass(slots=True)
class StagedWrite:
    kind: Literal["upsert", "delete", "erase"]
    collection: str
    namespace: str
    memory_id: str = ""
    text: str = ""
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    embedding_model: str | None = None
    expected_version: int | None = None
    #: the vectors were made by the Memory's embedder from ``text`` (so they can be made again)
    embedded: bool = False
    #: who staged it (:mod:`.origin`), taken in the caller's context when the write is staged
    origin: str = field(default_factory=current_origin)
    #: the id was made here, not given (a dedup collection derives it from the text instead)
    generated_id: bool = False
    #: when the memory leaves every read (:mod:`.expiry`)
    expires_at: datetime | None = None
    #: whose data key seals it in the log (None: its namespace's; :mod:`.log.sealed`)
    subject: str | None = None


def named_vectors(vectors: VectorsInput) -> dict[str, np.ndarray]:
    """A bare vector becomes the default named vector; each one is checked for shape and finiteness."""
    if isinstance(vectors, Mapping):
        if not vectors:
            raise InvalidVectorError("vectors is an empty dict; give at least one named vector")
        return {check_vector_name(name): check_vector(name, values, None) for name, values in vectors.items()}
    return {DEFAULT_VECTOR: check_vector(DEFAULT_VECTOR, vectors, None)}


def stage_upsert(
    text: object,
    *,
    memory_id: str | None,
    vectors: VectorsInput | None,
    metadata: object,
    namespace: str,
    collection: str,
    expected_version: int | None,
    max_text_bytes: int,
    embedding_model: str | None = None,
    expires_at: datetime | None = None,
    subject: str | None = None,
) -> StagedWrite:
    if expected_version is not None:
        check_version(expected_version)
    if embedding_model is not None and (vectors is None or not check_string(embedding_model, "embedding_model")):
        raise InvalidInputError(
            "embedding_model names the model that made the given vectors: a non-empty string, with vectors=..."
        )
    return StagedWrite(
        kind="upsert",
        collection=check_collection(collection),
        namespace=check_namespace(namespace),
        memory_id=uuid.uuid4().hex if memory_id is None else check_id(memory_id),
        text=check_text(text, max_text_bytes),
        vectors=named_vectors(vectors) if vectors is not None else {},
        metadata=check_metadata(metadata),
        embedding_model=embedding_model,
        expected_version=expected_version,
        generated_id=memory_id is None,
        expires_at=expires_at,
        subject=None if subject is None else check_subject(subject),
    )


def stage_delete(memory_id: object, namespace: str, collection: str) -> StagedWrite:
    return StagedWrite("delete", check_collection(collection), check_namespace(namespace), check_id(memory_id))


def stage_erase(namespace: str, collection: str) -> StagedWrite:
    return StagedWrite("erase", check_collection(collection), check_namespace(namespace))


def embed_missing(writes: Sequence[StagedWrite], embedder: Embedder | None) -> None:
    """Fill in vectors for upserts that came with text only, in one embedder call."""
    missing = [w for w in writes if w.kind == "upsert" and not w.vectors]
    if not missing:
        return
    if embedder is None:
        raise InvalidVectorError(
            "a memory was given without vectors and no embedder is configured; pass vectors=... "
            "or open the Memory with embedder='hash:384' (or any Embedder)"
        )
    embedded = list(embedder.embed([w.text for w in missing]))
    if len(embedded) != len(missing):
        raise InvalidVectorError(
            f"the embedder {embedder.name!r} returned {len(embedded)} vectors for {len(missing)} texts"
        )
    for write, values in zip(missing, embedded, strict=True):
        write.vectors = {DEFAULT_VECTOR: check_vector(DEFAULT_VECTOR, values, embedder.dimension)}
        write.embedding_model = embedder.name
        write.embedded = True


def check_dimensions(sizes: Mapping[str, int], schema: CollectionCreated, collection: str, memory_id: str = "") -> None:
    """Vector sizes (name -> dimension) against the collection's fixed dimensions, raised before
    any append. ``memory_id`` names the memory in the message, when there is one."""
    for name, size in sizes.items():
        expected = schema.vectors.get(name)
        if expected is None:
            raise InvalidVectorError(
                f"collection {collection!r} has no vector named {name!r}; it has {sorted(schema.vectors)}"
            )
        if size != expected:
            subject = f"memory {memory_id!r}: vector" if memory_id else "vector"
            raise InvalidVectorError(
                f"{subject} {name!r} has dimension {size}, but collection {collection!r} stores "
                f"dimension {expected}; use one embedding model per collection"
            )


def check_model(schema: CollectionCreated, model: str | None, collection: str, what: str = "these vectors") -> None:
    """Vectors of ``model`` against the model the collection holds, when both are known: a
    collection holds one model's vectors (another model's of the same dimension would be accepted
    by the index and rank as noise)."""
    if model is not None and schema.embedding_model is not None and model != schema.embedding_model:
        raise EmbeddingModelError(
            f"collection {collection!r} holds vectors of embedding model {schema.embedding_model!r}, but {what} "
            f"come from {model!r}: use {schema.embedding_model!r} (e.g. Memory(embedder={schema.embedding_model!r})) "
            "or another collection"
        )


def vector_sizes(write: StagedWrite) -> dict[str, int]:
    return {name: int(vector.size) for name, vector in write.vectors.items()}
