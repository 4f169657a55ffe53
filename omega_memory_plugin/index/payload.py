"""How a memory is laid out in a Qdrant point, shared by the Qdrant Edge and qdrant-client indexes.

User metadata lives under one key (``metadata``) so it can never collide with the fields the
library keeps beside it; filters address it as ``metadata.<key>``.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..events import MemoryUpsertedEvent, vector_array
from ..records import MemoryRecord

MEMORY_ID = "memory_id"
NAMESPACE = "namespace"
TEXT = "text"
METADATA = "metadata"
VERSION = "version"
POSITION = "position"
EMBEDDING_MODEL = "embedding_model"

# Fixed so that point ids are the same in every index ever built from the same log.
_POINT_NAMESPACE = uuid.UUID("6f6d6567-612d-6d65-6d6f-72792d706c75")


def point_id(namespace: str, memory_id: str) -> str:
    """Qdrant accepts only UUIDs and integers as point ids; memory ids are arbitrary strings."""
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{namespace}\x1f{memory_id}"))


def metadata_key(key: str) -> str:
    return f"{METADATA}.{key}"


def to_payload(event: MemoryUpsertedEvent) -> dict[str, Any]:
    return {
        MEMORY_ID: event.memory_id,
        NAMESPACE: event.namespace,
        TEXT: event.data.text,
        METADATA: event.data.metadata,
        VERSION: event.version,
        POSITION: event.position,
        EMBEDDING_MODEL: event.data.embedding_model,
    }


def to_vectors(event: MemoryUpsertedEvent) -> dict[str, list[float]]:
    return {name: vector_array(raw).tolist() for name, raw in event.data.vectors.items()}


def to_record(
    collection: str,
    payload: dict[str, Any],
    score: float | None = None,
    vectors: dict[str, list[float]] | None = None,
) -> MemoryRecord:
    return MemoryRecord(
        id=payload[MEMORY_ID],
        text=payload[TEXT],
        metadata=payload[METADATA],
        namespace=payload[NAMESPACE],
        collection=collection,
        version=payload[VERSION],
        position=payload[POSITION],
        score=score,
        embedding_model=payload.get(EMBEDDING_MODEL),
        vectors=vectors,
    )
