"""Writes to a shared Qdrant server that never replace a newer state of a memory with an older one.

Any number of processes apply the same log to one server, each at its own pace, so a process can
apply position 2 after another applied position 3. Every point therefore carries the log position
of the event it reflects (``position`` in its payload), and every write is conditional on it
(Qdrant's ``update_filter``: an existing point is replaced only if it matches):

* an upsert at position ``p`` replaces a point only if the point's position is below ``p``;
* a delete writes a **tombstone** (a point with no vectors, payload ``_deleted: true`` and the
  delete's position) under the same condition, so that a lagging process cannot bring the memory
  back: a plain delete would leave no point, and an absent point is inserted unconditionally;
* an erase turns every point of the namespace below its position into a tombstone at its position.

Reads leave tombstones out (:func:`live_only`). A point's state thus only moves forward, whatever
the order in which processes apply events, and every process converges to the log.

A batch is written with one condition for all its points, "below the batch's lowest position",
then its positions are read back: a point another process had moved to a position inside the
batch's range (older than this batch's event for it) was left alone by that condition, and is
written again with its own exact condition. Measured on the real server this costs under 20% of a
plain upsert (benchmarks/README.md), where one condition per point in one request (a ``should``
of 256 clauses) cost about 50%.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from ..events import MemoryDeletedEvent
from .payload import MEMORY_ID, NAMESPACE, POSITION, VERSION

#: Payload flag of a tombstone.
DELETED = "_deleted"


def tombstone(pid: str, event: MemoryDeletedEvent) -> models.PointStruct:
    payload = {
        NAMESPACE: event.namespace,
        MEMORY_ID: event.memory_id,
        VERSION: event.version,
        POSITION: event.position,
        DELETED: True,
    }
    return models.PointStruct(id=pid, vector={}, payload=payload)


def live_only(condition: models.Filter | None) -> models.Filter:
    """``condition`` without tombstones: every read on a shared server goes through this."""
    not_deleted = models.FieldCondition(key=DELETED, match=models.MatchValue(value=True))
    if condition is None:
        return models.Filter(must_not=not_deleted)
    return models.Filter(must=[condition], must_not=not_deleted)


def _older(position: int, *, inclusive: bool) -> models.FieldCondition:
    bound = models.Range(lte=position) if inclusive else models.Range(lt=position)
    return models.FieldCondition(key=POSITION, range=bound)


def _position(point: models.PointStruct) -> int:
    return int((point.payload or {})[POSITION])


async def conditional_upsert(
    client: AsyncQdrantClient, collection: str, points: Sequence[models.PointStruct], *, repair: bool = False
) -> None:
    """Write ``points`` (each with its event's ``position`` in the payload), each only over an
    older state of itself. ``repair=True`` also replaces a point at the same position (its content
    drifted), never a newer one."""
    if not points:
        return
    if len(points) == 1:
        condition = models.Filter(must=[_older(_position(points[0]), inclusive=repair)])
        await client.upsert(collection, list(points), wait=True, update_filter=condition)
        return
    lowest = min(_position(p) for p in points)
    await client.upsert(
        collection, list(points), wait=True, update_filter=models.Filter(must=[_older(lowest, inclusive=repair)])
    )
    stored = await client.retrieve(
        collection,
        [p.id for p in points],
        with_payload=models.PayloadSelectorInclude(include=[POSITION]),
        with_vectors=False,
    )
    held = {str(r.id): int((r.payload or {}).get(POSITION, -1)) for r in stored}
    # Left alone by the batch's condition although older than this batch's event: another process
    # wrote a position inside the batch's range. Each gets its own exact condition.
    behind = [p for p in points if held.get(str(p.id), -1) < _position(p) or (repair and _position(p) > lowest)]
    if not behind:
        return
    exact = models.Filter(
        should=[
            models.Filter(must=[models.HasIdCondition(has_id=[p.id]), _older(_position(p), inclusive=repair)])
            for p in behind
        ]
    )
    await client.upsert(collection, behind, wait=True, update_filter=exact)


async def erase(
    client: AsyncQdrantClient, collection: str, namespace: str, position: int, vector_names: Sequence[str]
) -> None:
    """Turn every point of ``namespace`` older than ``position`` into a tombstone at ``position``
    (payload first, so that readers, which skip tombstones, never see a half-erased point)."""
    in_namespace = models.FieldCondition(key=NAMESPACE, match=models.MatchValue(value=namespace))
    older = models.Filter(must=[in_namespace, _older(position, inclusive=False)])
    await client.overwrite_payload(
        collection,
        {NAMESPACE: namespace, POSITION: position, DELETED: True},
        points=models.FilterSelector(filter=older),
        wait=True,
    )
    if vector_names:
        erased = models.Filter(
            must=[
                in_namespace,
                models.FieldCondition(key=DELETED, match=models.MatchValue(value=True)),
                models.FieldCondition(key=POSITION, range=models.Range(gte=position, lte=position)),
            ]
        )
        await client.delete_vectors(
            collection, list(vector_names), points=models.FilterSelector(filter=erased), wait=True
        )


def is_live(payload: dict[str, Any] | None) -> bool:
    return bool(payload) and not (payload or {}).get(DELETED)
