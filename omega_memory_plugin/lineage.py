"""Why a memory is what it is: the events that produced its current state, read from the log.

:func:`explain` folds a memory's audit trail (its own events and the erases that ended it, from
:func:`~omega_memory_plugin.log.versioning.memory_history`) and, when the vectors served were made
by a re-embedding, the ``memory.reembedded`` event that made them. Every event carries its id,
position, time and, since the lineage work, the origin that wrote it (:mod:`.origin`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .events import Event, MemoryReembeddedEvent, MemoryUpsertedEvent


@dataclass(frozen=True)
class Explanation:
    """A memory's lineage.

    ``events`` produced the state served now: the upsert of the current version, then the
    re-embedding that made its vectors if the collection was re-embedded since (empty when the
    memory is not alive). ``history`` is every event that ever touched it, oldest first.
    ``visible_since`` is the log position from which ``memory.as_of(position)`` shows the current
    version (its upsert); ``first_visible`` the position from which the memory has been alive
    without interruption (its first upsert since its last delete or erase).
    """

    memory_id: str
    namespace: str
    collection: str
    alive: bool
    version: int | None
    events: list[Event]
    history: list[Event]
    visible_since: int | None
    first_visible: int | None
    origin: str | None
    embedding_model: str | None
    recorded_at: datetime | None
    #: when the current version leaves every read (None: never); an expired memory keeps its lineage
    expires_at: datetime | None = None

    def lines(self) -> list[str]:
        """The lineage as lines of text (what ``omega-memory search --explain`` prints)."""
        out = [
            f"{self.memory_id} (namespace {self.namespace}, collection {self.collection}): "
            + (f"version {self.version}, visible since position {self.visible_since}" if self.alive else "not alive")
            + (f", expires at {self.expires_at.isoformat()}" if self.expires_at is not None else "")
        ]
        for event in self.history:
            marker = "*" if any(e.event_id == event.event_id for e in self.events) else " "
            origin = getattr(event.data, "origin", None) or "unknown"
            forgotten = " (content forgotten)" if getattr(event.data, "forgotten", False) else ""
            out.append(
                f" {marker} #{event.position} {event.type} v{event.version} at {event.recorded_at:%Y-%m-%d %H:%M:%S} "
                f"by {origin} (event {event.event_id}){forgotten}"
            )
        for event in self.events:
            if isinstance(event, MemoryReembeddedEvent):
                out.append(
                    f" * #{event.position} memory.reembedded into space {event.data.space} with "
                    f"{event.data.embedding_model} by {event.data.origin or 'unknown'} (event {event.event_id})"
                )
        return out


def explain(
    memory_id: str,
    namespace: str,
    collection: str,
    history: Sequence[Event],
    reembedded: Sequence[MemoryReembeddedEvent],
    serving: int,
) -> Explanation:
    """The lineage of one memory from its audit trail and the re-embeddings of its collection
    (only those of this memory are looked at), with ``serving`` the space searched now."""
    alive = bool(history) and history[-1].type == "memory.upserted"
    current = history[-1] if alive else None
    life_start = None
    for event in history:
        if event.type == "memory.upserted":
            life_start = life_start if life_start is not None else event.position
        else:
            life_start = None
    events: list[Event] = []
    model = origin = None
    if isinstance(current, MemoryUpsertedEvent):
        events.append(current)
        model, origin = current.data.embedding_model, current.data.origin
        if current.data.space != serving:
            made = [
                e
                for e in reembedded
                if e.data.memory_id == memory_id
                and e.data.namespace == namespace
                and e.data.version == current.version
                and e.data.space == serving
            ]
            if made:
                events.append(made[-1])
                model = made[-1].data.embedding_model
    return Explanation(
        memory_id=memory_id,
        namespace=namespace,
        collection=collection,
        alive=alive,
        version=current.version if current is not None else None,
        events=events,
        history=list(history),
        visible_since=current.position if current is not None else None,
        first_visible=life_start if alive else None,
        origin=origin,
        embedding_model=model,
        recorded_at=current.recorded_at if current is not None else None,
        expires_at=current.data.expires_at if isinstance(current, MemoryUpsertedEvent) else None,
    )
