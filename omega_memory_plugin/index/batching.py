"""Turn a run of events into as few index writes as possible, without changing their meaning.

Consecutive upserts to one collection become one bulk upsert (the last write of a memory wins),
consecutive deletes one bulk delete; anything else keeps its place in the order. Every index
writes through these plans, both when applying (:func:`plan_writes`) and when repairing
(:func:`plan_repairs`), so the two can never address points differently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..events import Distance, Event, MemoryDeletedEvent, MemoryUpsertedEvent
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


def plan_repairs(events: Sequence[Event]) -> Iterator[WriteOp]:
    """The writes of :meth:`Projection.repair`: memory upserts and deletes only, since a repair
    re-projects single memories and must never create a collection or erase a namespace."""
    for event in events:
        if event.type not in ("memory.upserted", "memory.deleted"):
            raise ValueError(
                f"repair() takes memory.upserted and memory.deleted events only, got {event.type} at position "
                f"{event.position}; apply() it instead"
            )
    return map(_as_repair, plan_writes(events))


def _as_repair(op: WriteOp) -> WriteOp:
    op.repair = True
    return op


def plan_writes(events: Sequence[Event]) -> Iterator[WriteOp]:
    current: WriteOp | None = None
    for event in events:
        if event.type == "memory.upserted" or event.type == "memory.deleted":
            kind: Literal["upsert", "delete"] = "upsert" if event.type == "memory.upserted" else "delete"
            if current is None or current.kind != kind or current.collection != event.collection:
                if current is not None:
                    yield current
                current = WriteOp(kind, event.collection)
            pid = point_id(event.collection, event.namespace, event.memory_id)
            if kind == "upsert":
                current.by_point.pop(pid, None)  # re-insert so the order follows the last write
                current.by_point[pid] = event  # type: ignore[assignment]
            else:
                current.point_ids.append(pid)
                current.deletes.append(event)  # type: ignore[arg-type]
            continue
        if current is not None:
            yield current
            current = None
        if event.type == "collection.created":
            yield WriteOp(
                "create", event.collection, vectors=event.data.vectors, distance=Distance(event.data.distance)
            )
        else:
            yield WriteOp("erase", event.collection, namespace=event.namespace, position=event.position)
    if current is not None:
        yield current
