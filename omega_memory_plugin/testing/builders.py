"""Build events for tests the way a log would record them (positions and versions assigned)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..events import (
    CollectionCreated,
    CollectionCreatedEvent,
    Distance,
    Event,
    MemoryDeletedEvent,
    MemoryReembedded,
    MemoryReembeddedEvent,
    MemoryUpserted,
    MemoryUpsertedEvent,
    ModelAdded,
    ModelAddedEvent,
    ModelSwitched,
    ModelSwitchedEvent,
    NamespaceErasedEvent,
    StreamKey,
    SubjectForgotten,
    SubjectForgottenEvent,
    pack_vector,
)


def created(
    collection: str = "c", vectors: Mapping[str, int] | None = None, distance: Distance = Distance.COSINE
) -> Event:
    return CollectionCreatedEvent(
        collection=collection, data=CollectionCreated(vectors=dict(vectors or {"dense": 4}), distance=distance)
    )


def upserted(
    memory_id: str,
    vector: Sequence[float],
    *,
    text: str | None = None,
    metadata: dict[str, Any] | None = None,
    namespace: str = "ns",
    collection: str = "c",
    name: str = "dense",
    space: int = 0,
    model: str | None = None,
    expires_at: datetime | None = None,
) -> Event:
    data = MemoryUpserted(
        text=text or f"text of {memory_id}",
        vectors={name: pack_vector(vector)},
        metadata=metadata or {},
        space=space,
        embedding_model=model,
        expires_at=expires_at,
    )
    return MemoryUpsertedEvent(collection=collection, namespace=namespace, memory_id=memory_id, data=data)


def model_added(space: int, dimension: int, model: str | None = None, collection: str = "c") -> Event:
    return ModelAddedEvent(
        collection=collection, data=ModelAdded(space=space, vectors={"dense": dimension}, embedding_model=model)
    )


def model_switched(
    space: int, from_model: str | None = None, to_model: str | None = None, collection: str = "c"
) -> Event:
    return ModelSwitchedEvent(
        collection=collection, data=ModelSwitched(space=space, from_model=from_model, to_model=to_model)
    )


def reembedded(of: Event, vector: Sequence[float], *, space: int = 1, model: str | None = None) -> Event:
    """``of`` (a recorded ``memory.upserted``) re-embedded into ``space`` with ``vector``."""
    assert isinstance(of, MemoryUpsertedEvent)
    data = MemoryReembedded(
        namespace=of.namespace,
        memory_id=of.memory_id,
        version=of.version,
        of_position=of.position,
        space=space,
        text=of.data.text,
        vectors={"dense": pack_vector(vector)},
        metadata=of.data.metadata,
        embedding_model=model,
    )
    return MemoryReembeddedEvent(collection=of.collection, data=data)


def deleted(memory_id: str, *, namespace: str = "ns", collection: str = "c") -> Event:
    return MemoryDeletedEvent(collection=collection, namespace=namespace, memory_id=memory_id)


def erased(namespace: str = "ns", collection: str = "c") -> Event:
    return NamespaceErasedEvent(collection=collection, namespace=namespace)


def subject_forgotten(keys: Sequence[str], collection: str = "c") -> Event:
    return SubjectForgottenEvent(collection=collection, data=SubjectForgotten(keys=list(keys)))


class Recorder:
    """Stamps positions and versions on events as a log would, without a log."""

    def __init__(self) -> None:
        self.position = 0
        self.versions: dict[StreamKey, int] = {}

    def __call__(self, *events: Event) -> list[Event]:
        stamped = []
        for event in events:
            self.position += 1
            version = self.versions.get(event.stream, 0) + 1
            self.versions[event.stream] = version
            stamped.append(
                event.model_copy(
                    update={"position": self.position, "version": version, "recorded_at": datetime.now(UTC)}
                )
            )
        return stamped
