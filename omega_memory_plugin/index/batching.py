"""Turn a run of events into as few index writes as possible, without changing their meaning.

Consecutive upserts to one collection become one bulk upsert (the last write of a memory wins),
consecutive deletes one bulk delete; anything else keeps its place in the order. Every index
writes through these plans, both when applying (:func:`plan_writes`) and when repairing
(:func:`plan_repairs`), so the two can never address points differently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ..events import (
    Distance,
    Event,
    MemoryDeleted,
    MemoryDeletedEvent,
    MemoryReembeddedEvent,
    MemoryUpserted,
    MemoryUpsertedEvent,
)
from ..spaces import space_name, spaces_among
from .payload import point_id


@dataclass(slots=True)
class WriteOp:
    kind: Literal["create", "upsert", "delete", "erase"]
    collection: str
    namespace: str = ""
    vectors: dict[str, int] = field(default_factory=dict)
    distance: Distance = Distance.COSINE
    by_point: dict[str, MemoryUpsertedEvent] = field(default_factory=dict)
    point_ids: list[str] = field(default_factory=list)
    #: the delete events behind ``point_ids`` (same order): a shared index keeps a tombstone of each
    deletes: list[MemoryDeletedEvent] = field(default_factory=list)
    #: an erase's log position: a shared index turns the namespace's older points into tombstones
    position: int = 0
    #: written by :meth:`Projection.repair`: a shared index may then replace a point holding the
    #: same position (its content drifted), never a newer one
    repair: bool = False

    @property
    def upserts(self) -> list[MemoryUpsertedEvent]:
        return list(self.by_point.values())


def plan_repairs(events: Sequence[Event], held: Callable[[str], Iterable[str]] = lambda c: (c,)) -> Iterator[WriteOp]:
    """The writes of :meth:`Projection.repair`: memory upserts and deletes only, since a repair
    re-projects single memories and must never create a collection or erase a namespace."""
    for event in events:
        if event.type not in ("memory.upserted", "memory.deleted"):
            raise ValueError(
                f"repair() takes memory.upserted and memory.deleted events only, got {event.type} at position "
                f"{event.position}; apply() it instead"
            )
    return map(_as_repair, plan_writes(events, held))


def _as_repair(op: WriteOp) -> WriteOp:
    op.repair = True
    return op


def plan_writes(events: Sequence[Event], held: Callable[[str], Iterable[str]] = lambda c: (c,)) -> Iterator[WriteOp]:
    """The writes that apply ``events``, each addressed to a physical collection of the index.

    ``held(collection)`` names the index's physical collections of a collection (its embedding
    spaces, :mod:`omega_memory_plugin.spaces`). A memory lives in every space that has its
    current version: an upsert writes it to the space its vectors belong to and removes it from
    the others (their vectors would be of an older version), a ``memory.reembedded`` writes it to
    its space, deletes and erases reach every space.
    """
    spaces: dict[str, list[str]] = {}
    pending: dict[str, WriteOp] = {}  # physical collection -> its open bulk op: independent of the others

    def of(collection: str) -> list[str]:
        if collection not in spaces:
            spaces[collection] = spaces_among(held(collection), collection) or [collection]
        return spaces[collection]

    def add(kind: Literal["upsert", "delete"], physical: str, event: Event) -> Iterator[WriteOp]:
        # Identity within the physical collection, as its reads address it (the same point id
        # as before spaces existed for space 0, whose physical collection is the collection).
        pid = point_id(physical, event.namespace, event.memory_id)
        op = pending.get(physical)
        if op is not None and op.kind != kind:
            yield pending.pop(physical)  # a point's upsert and delete keep their order
            op = None
        if op is None:
            op = pending[physical] = WriteOp(kind, physical)
        if kind == "upsert":
            op.by_point.pop(pid, None)  # re-insert so the order follows the last write
            op.by_point[pid] = event  # type: ignore[assignment]
        else:
            op.point_ids.append(pid)
            op.deletes.append(event)  # type: ignore[arg-type]

    for event in events:
        if event.type == "memory.upserted" or event.type == "memory.deleted":
            # An upsert whose content was forgotten (log/sealed.py) ends the memory everywhere: no
            # replay may show it again.
            live = event.type == "memory.upserted" and not event.data.forgotten
            target = space_name(event.collection, event.data.space) if live else None  # type: ignore[union-attr]
            physicals = of(event.collection)
            if target is not None and target not in physicals:
                physicals = [*physicals, target]  # a space the index lacks: its write fails, loudly
            for physical in physicals:
                if physical == target:
                    yield from add("upsert", physical, event)
                else:
                    ended = event if event.type == "memory.deleted" else _ended(event)
                    yield from add("delete", physical, ended)
            continue
        if event.type == "memory.reembedded":
            if not event.data.forgotten:  # else its memory's upsert is forgotten too, and ended it
                yield from add("upsert", space_name(event.collection, event.data.space), _as_upsert(event))
            continue
        yield from pending.values()
        pending.clear()
        if event.type == "collection.created":
            of(event.collection)
            yield WriteOp(
                "create", event.collection, vectors=event.data.vectors, distance=Distance(event.data.distance)
            )
        elif event.type == "collection.model_added":
            physical = space_name(event.collection, event.data.space)
            if physical not in of(event.collection):
                of(event.collection).append(physical)
            yield WriteOp("create", physical, vectors=event.data.vectors, distance=Distance(event.data.distance))
        elif event.type == "namespace.erased":
            for physical in of(event.collection):
                yield WriteOp("erase", physical, namespace=event.namespace, position=event.position)
        # collection.model_switched changes which space reads go to (the facade's), no point
    yield from pending.values()


def _ended(event: MemoryUpsertedEvent) -> MemoryDeletedEvent:
    """The removal of a memory's point from a space its new vectors do not belong to, at the
    version and position of the write that ended it there (a shared index keeps it as a tombstone)."""
    return _derived(MemoryDeletedEvent, event, MemoryDeleted(), event.namespace, event.memory_id, event.version)


def _as_upsert(event: MemoryReembeddedEvent) -> MemoryUpsertedEvent:
    """The point a re-embedding writes: the memory at the version it re-embedded, with the new
    vectors, produced (``position``) by the re-embedding event."""
    d = event.data
    data = MemoryUpserted.model_construct(
        text=d.text,
        vectors=d.vectors,
        metadata=d.metadata,
        embedding_model=d.embedding_model,
        space=d.space,
        expires_at=d.expires_at,
        key=d.key,
    )
    return _derived(MemoryUpsertedEvent, event, data, d.namespace, d.memory_id, d.version)


E = TypeVar("E", MemoryDeletedEvent, MemoryUpsertedEvent)


def _derived(kind: type[E], source: Event, data: Any, namespace: str, memory_id: str, version: int) -> E:
    """An event of ``kind`` that ``source`` implies for one memory, recorded where ``source`` is."""
    return kind.model_construct(
        collection=source.collection,
        namespace=namespace,
        memory_id=memory_id,
        version=version,
        position=source.position,
        recorded_at=source.recorded_at,
        event_id=source.event_id,
        schema_version=source.schema_version,
        data=data,
    )
