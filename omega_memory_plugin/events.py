"""Event types and the envelope every event shares.

Events are immutable pydantic models. A *pending* event (built by :class:`~omega_memory_plugin.Memory`)
has ``position == 0`` and ``version == 0``; the log assigns both when it records the event and
returns a copy carrying them. ``event_id`` is the idempotency key: appending an event whose id the
log already holds is a no-op.

Vectors travel as little-endian float32 bytes (``vectors={"dense": b"..."}``), never as JSON float
lists; :func:`vector_array` turns them back into numpy arrays without copying.

Example::

    >>> from omega_memory_plugin.events import MemoryUpserted, MemoryUpsertedEvent, pack_vector
    >>> ev = MemoryUpsertedEvent(collection="default", namespace="agent-1", memory_id="m1",
    ...     data=MemoryUpserted(text="likes tea", vectors={"dense": pack_vector([0.1, 0.2])}))
    >>> ev.position, ev.version
    (0, 0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias, TypeVar, cast
from uuid import UUID, uuid4

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

SCHEMA_VERSION = 1

StreamKey: TypeAlias = tuple[str, str, str]
"""(collection, namespace, memory_id): the unit a version counts in. Collection-level events use
namespace ``""`` and memory_id ``""``; namespace-level events use memory_id ``""``."""


class Distance(StrEnum):
    """How vectors of a collection are compared."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLID = "euclid"


def pack_vector(values: Sequence[float] | np.ndarray) -> bytes:
    """Float values -> little-endian float32 bytes, the form events store."""
    return np.asarray(values, dtype="<f4").tobytes()


def vector_array(blob: bytes) -> np.ndarray:
    """Little-endian float32 bytes -> a read-only numpy view (no copy)."""
    return np.frombuffer(blob, dtype="<f4")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")


M = TypeVar("M", bound=BaseModel)


def replaced(model: M, changes: Mapping[str, Any]) -> M:
    """A shallow copy of ``model`` with ``changes``, unvalidated: ``model_copy(update=...)`` at a
    fifth of its cost (it copies the fields-set and private state through ``copy.copy``), for the
    paths that run once per event (sealing on append, opening on every replay). The values come
    from a model of the same type, so they need no validation."""
    copy = model.__class__.__new__(model.__class__)
    object.__setattr__(copy, "__dict__", {**model.__dict__, **changes})
    object.__setattr__(copy, "__pydantic_fields_set__", model.__pydantic_fields_set__ | changes.keys())
    object.__setattr__(copy, "__pydantic_extra__", None)
    object.__setattr__(copy, "__pydantic_private__", None)
    return copy


class Sealable(_Frozen):
    """Data that carries memory content (text, metadata, vectors), which the log stores sealed
    (:mod:`omega_memory_plugin.log.sealed`)."""

    #: the id of the data key that seals the content in the log (a re-embedding: its memory's
    #: key); None: the content is stored in clear
    key: str | None = None
    #: the content as the log stores it, sealed; in an event read back it is set only when the
    #: content can no longer be opened (its subject was forgotten, or compaction dropped it), and
    #: then text, metadata and vectors are empty
    sealed: bytes | None = Field(default=None, repr=False)

    @property
    def forgotten(self) -> bool:
        """The content is gone for good: this event only says that a memory was written."""
        return self.sealed is not None


class MemoryUpserted(Sealable):
    """A memory was written (created, or replaced as a whole). ``space`` is the embedding space
    of its collection whose model made ``vectors``: 0, the collection's first, until a
    re-embedding switches the collection to another (:mod:`omega_memory_plugin.spaces`)."""

    text: str
    vectors: dict[str, bytes]
    metadata: dict[str, Any] = Field(default_factory=dict)
    embedding_model: str | None = None
    space: int = 0
    origin: str | None = None  # who wrote it (omega_memory_plugin.origin); None in events older than it
    #: when it leaves every read (omega_memory_plugin.expiry); None: never
    expires_at: datetime | None = None
    #: whose data key seals the content in the log (:mod:`omega_memory_plugin.sealing`); None: the
    #: namespace. Only on the way in: the log records the key's id, never the subject.
    subject: str | None = None


class MemoryDeleted(_Frozen):
    """A memory was deleted."""

    origin: str | None = None


class NamespaceErased(_Frozen):
    """Every memory of one namespace in one collection was erased."""

    origin: str | None = None


class CollectionCreated(_Frozen):
    """A collection was created with fixed named dense vectors (name -> dimension), and, when it
    is known, the embedding model whose vectors it holds (so that a reopened memory finds its
    embedder again, and vectors of another model are refused rather than mixed)."""

    vectors: dict[str, int]
    distance: Distance = Distance.COSINE
    embedding_model: str | None = None
    #: memories written without an id get one derived from their content (:mod:`..dedup`)
    dedup: bool = False


class ModelAdded(_Frozen):
    """A re-embedding began: the collection gains embedding space ``space`` for the vectors of
    ``embedding_model`` (name -> dimension), filled by ``memory.reembedded`` events while the
    current space keeps serving."""

    space: int
    vectors: dict[str, int]
    distance: Distance = Distance.COSINE
    embedding_model: str | None = None


class ModelSwitched(_Frozen):
    """From this position on the collection is searched, and written, in embedding space
    ``space`` (vectors of ``to_model``) instead of the space of ``from_model``."""

    space: int
    from_model: str | None = None
    to_model: str | None = None


class MemoryReembedded(Sealable):
    """Vectors of another embedding space for one memory at one version: the memory as its
    ``version`` (written at log position ``of_position``) holds it, with ``vectors`` made by
    ``embedding_model`` for space ``space``. Recorded only while the memory is still at that
    version (the append checks it), on the collection's re-embedding stream (:data:`REEMBED_STREAM`),
    so the memory's own versions do not change."""

    namespace: str
    memory_id: str
    version: int
    of_position: int
    space: int
    text: str
    vectors: dict[str, bytes]
    metadata: dict[str, Any] = Field(default_factory=dict)
    embedding_model: str | None = None
    origin: str | None = None
    expires_at: datetime | None = None  # the re-embedded version's, kept in the new space


class SubjectForgotten(_Frozen):
    """The data keys of one subject were destroyed (``memory.forget``): every event sealed under
    them is unreadable from then on. Holds the keys' random ids only, never the subject."""

    keys: list[str]
    origin: str | None = None


#: The stream id of the events that re-embed a collection's memories: ``(collection, "", REEMBED_STREAM)``.
#: No memory can have it, since the facade refuses the empty namespace.
REEMBED_STREAM = "~reembedded"
#: The stream of ``subject.forgotten`` events: ``(collection, "", FORGOTTEN_STREAM)``, in the
#: collection of the Memory that forgot (a subject's keys span collections).
FORGOTTEN_STREAM = "~forgotten"


class _Envelope(_Frozen):
    event_id: UUID = Field(default_factory=uuid4)
    collection: str
    namespace: str = ""
    memory_id: str = ""
    version: int = 0
    position: int = 0
    recorded_at: datetime | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def stream(self) -> StreamKey:
        return (self.collection, self.namespace, self.memory_id)


class MemoryUpsertedEvent(_Envelope):
    type: Literal["memory.upserted"] = "memory.upserted"
    data: MemoryUpserted


class MemoryDeletedEvent(_Envelope):
    type: Literal["memory.deleted"] = "memory.deleted"
    data: MemoryDeleted = MemoryDeleted()


class NamespaceErasedEvent(_Envelope):
    type: Literal["namespace.erased"] = "namespace.erased"
    data: NamespaceErased = NamespaceErased()


class CollectionCreatedEvent(_Envelope):
    type: Literal["collection.created"] = "collection.created"
    data: CollectionCreated


class ModelAddedEvent(_Envelope):
    type: Literal["collection.model_added"] = "collection.model_added"
    data: ModelAdded


class ModelSwitchedEvent(_Envelope):
    type: Literal["collection.model_switched"] = "collection.model_switched"
    data: ModelSwitched


class MemoryReembeddedEvent(_Envelope):
    type: Literal["memory.reembedded"] = "memory.reembedded"
    memory_id: str = REEMBED_STREAM
    data: MemoryReembedded


class SubjectForgottenEvent(_Envelope):
    type: Literal["subject.forgotten"] = "subject.forgotten"
    memory_id: str = FORGOTTEN_STREAM
    data: SubjectForgotten


Event: TypeAlias = Annotated[
    MemoryUpsertedEvent
    | MemoryDeletedEvent
    | NamespaceErasedEvent
    | CollectionCreatedEvent
    | ModelAddedEvent
    | ModelSwitchedEvent
    | MemoryReembeddedEvent
    | SubjectForgottenEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_CLASSES: dict[str, type[_Envelope]] = {
    "memory.upserted": MemoryUpsertedEvent,
    "memory.deleted": MemoryDeletedEvent,
    "namespace.erased": NamespaceErasedEvent,
    "collection.created": CollectionCreatedEvent,
    "collection.model_added": ModelAddedEvent,
    "collection.model_switched": ModelSwitchedEvent,
    "memory.reembedded": MemoryReembeddedEvent,
    "subject.forgotten": SubjectForgottenEvent,
}
#: Events whose data carries ``vectors`` (name -> float32 bytes), which logs store as binary.
VECTOR_EVENTS = frozenset({"memory.upserted", "memory.reembedded"})
_DATA_CLASSES: dict[str, type[_Frozen]] = {
    "memory.upserted": MemoryUpserted,
    "memory.deleted": MemoryDeleted,
    "namespace.erased": NamespaceErased,
    "collection.created": CollectionCreated,
    "collection.model_added": ModelAdded,
    "collection.model_switched": ModelSwitched,
    "memory.reembedded": MemoryReembedded,
    "subject.forgotten": SubjectForgotten,
}

# (event type, schema version it upgrades FROM) -> function turning that data dict into the next
# version's. Old events are upcast on read and never rewritten in the log.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def decode_event(
    *,
    type: str,
    data: dict[str, Any],
    schema_version: int,
    **envelope: Any,
) -> Event:
    """Build a recorded event from trusted storage fields, upcasting old data shapes.

    Storage has already validated these values when they were appended, so the models are
    constructed without re-validation (replay speed depends on it).
    """
    while schema_version < SCHEMA_VERSION:
        data = UPCASTERS[(type, schema_version)](data)
        schema_version += 1
    if type in ("collection.created", "collection.model_added") and "distance" in data:
        data = {**data, "distance": Distance(data["distance"])}  # stored as its value; the model holds the enum
    if isinstance(data.get("expires_at"), str):
        data = {**data, "expires_at": datetime.fromisoformat(data["expires_at"])}  # stored as ISO 8601 text
    payload = constructed(_DATA_CLASSES[type], data)
    event: Event = constructed(  # type: ignore[assignment]
        EVENT_CLASSES[type], {"type": type, "data": payload, "schema_version": schema_version, **envelope}
    )
    return event


_REQUIRED = object()
#: per model class: its fields in order, each with its default (or _REQUIRED) and default factory
_FIELDS: dict[type[BaseModel], tuple[tuple[str, Any, Callable[[], Any] | None], ...]] = {}


def constructed(cls: type[M], values: Mapping[str, Any]) -> M:
    """``cls.model_construct(**values)`` (trusted values, no validation) at a sixth of its cost:
    pydantic's walks every field's default through several layers on every call, which made it
    about 40 µs of each event read (two models per event). Fields ``values`` lacks get their
    defaults (a fresh one from a default factory); keys that are not fields are dropped, as
    model_construct drops them."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(
            (
                name,
                _REQUIRED if info.is_required() else info.default,
                cast("Callable[[], Any]", info.default_factory),  # ours take no argument
            )
            for name, info in cls.model_fields.items()
        )
    state: dict[str, Any] = {}
    given = set()
    for name, default, factory in fields:  # in field order, as model_construct keeps them
        if name in values:
            state[name] = values[name]
            given.add(name)
        elif factory is not None:
            state[name] = factory()
        elif default is not _REQUIRED:
            state[name] = default
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", state)
    object.__setattr__(model, "__pydantic_fields_set__", given)
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model
