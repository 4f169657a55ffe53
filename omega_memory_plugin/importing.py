"""Importing events (an ``omega-memory export``, of this memory or another): checked like every
write, recorded as they were.

An export is the log itself: event ids, streams, data, vectors and times. Importing appends the
same events again:

* their ids make it idempotent: an event the memory already holds is not written again, so
  importing a file twice writes nothing the second time, and an interrupted import is finished by
  running it again;
* their times are kept (:meth:`~.log.versioning.CommitPlan.commit_time`), and consecutive events
  recorded at one time, which were one commit, are appended as one commit again. Imported into an
  empty memory, an export therefore reproduces it exactly: the same positions, versions and
  times, so ``replay --until`` answers alike.

Events from a file are untrusted input: each one passes the checks a write passes at the facade
(:mod:`.validation`, :mod:`.staging`) and the dimension check against its collection before
anything is appended. :meth:`Memory.import_events <omega_memory_plugin.Memory.import_events>`
is the entry point.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidInputError, InvalidVectorError, TimeOrderError
from .events import FORGOTTEN_STREAM, REEMBED_STREAM, SCHEMA_VERSION, Event, vector_array
from .log.base import as_utc
from .spaces import CollectionState, advance
from .staging import check_dimensions, check_model, stage_delete, stage_erase, stage_upsert, vector_sizes
from .validation import check_collection, check_vector_sizes

#: The most events appended in one commit when the events carry no time (so no commit to keep).
UNTIMED_COMMIT = 1000


@dataclass(slots=True)
class ImportReport:
    """What an import did: ``imported`` events recorded now; ``unchanged`` ones that wrote nothing
    (the memory already held them, has the collection alike, or a delete found nothing to delete)."""

    imported: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"imported {self.imported} events ({self.unchanged} already there)"


def commits(events: Iterable[Event]) -> Iterator[list[Event]]:
    """The events as the commits they were: consecutive events recorded at one time (a log records
    a commit at one time). Events without a time are grouped :data:`UNTIMED_COMMIT` at a time.

    Raises :class:`TimeOrderError` if a time goes back: a log never records that, so the file was
    not written by an export.
    """
    group: list[Event] = []
    last: datetime | None = None
    for event in events:
        at = None if event.recorded_at is None else as_utc(event.recorded_at)
        if group and (at != last or (at is None and len(group) >= UNTIMED_COMMIT)):
            yield group
            group = []
        if at is not None and last is not None and at < last:
            raise TimeOrderError(
                f"event {event.event_id} was recorded at {at.isoformat()}, before the event ahead of it "
                f"({last.isoformat()}); an export lists events in log order, and times never go back along it"
            )
        last = at if at is not None else last
        group.append(event)
    if group:
        yield group


def pending_event(
    event: Event, states: MutableMapping[str, CollectionState], *, max_text_bytes: int, keep_time: bool
) -> Event | None:
    """``event`` as it is appended again, after the checks of a write; ``None`` for a collection
    the memory already has alike. ``states`` (the collections so far, :mod:`..spaces`) learns
    what ``event`` changes in them.

    Example::

        states = {}
        for event in events:
            pending = pending_event(event, states, max_text_bytes=65536, keep_time=True)
    """
    if event.schema_version != SCHEMA_VERSION:
        raise InvalidInputError(
            f"event {event.event_id} has schema version {event.schema_version}; this version imports "
            f"{SCHEMA_VERSION} (export it again with this version, which upgrades old events as it reads them)"
        )
    collection = check_collection(event.collection)
    state = states.get(collection)
    if event.type == "subject.forgotten":  # names keys of the exporting memory: a record, nothing to check
        if event.namespace or event.memory_id != FORGOTTEN_STREAM:
            raise InvalidInputError(
                f"event {event.event_id}: a subject.forgotten event belongs to stream {FORGOTTEN_STREAM!r}"
            )
        return _pending(event, keep_time, states)
    if event.type == "collection.created":
        if event.namespace or event.memory_id:
            raise InvalidInputError(f"event {event.event_id}: a collection.created event has no namespace or memory id")
        check_vector_sizes(event.data.vectors)
        if state is not None:
            if state.spaces[0] != event.data:
                raise InvalidInputError(
                    f"collection {collection!r} exists here as {state.spaces[0]!r}; the imported events define it "
                    f"as {event.data!r}: import into another memory, or rename the collection in the file"
                )
            return None
    elif state is None:
        raise InvalidInputError(
            f"event {event.event_id} writes into collection {collection!r}, which neither this memory nor a "
            "collection.created event before it defines: import the whole export, from its first line"
        )
    elif event.type == "collection.model_added" or event.type == "collection.model_switched":
        if event.namespace or event.memory_id:
            raise InvalidInputError(f"event {event.event_id}: a {event.type} event has no namespace or memory id")
        space = event.data.space
        if event.type == "collection.model_added":
            check_vector_sizes(event.data.vectors)
            if space in state.spaces or space < 1:
                raise InvalidInputError(
                    f"event {event.event_id} adds embedding space {space}, which exists or is not > 0"
                )
        elif space not in state.spaces:
            raise InvalidInputError(f"event {event.event_id} switches to embedding space {space}, which nothing added")
    elif event.type == "memory.upserted" or event.type == "memory.reembedded":
        data = event.data
        schema = state.spaces.get(data.space)
        if schema is None:
            raise InvalidInputError(
                f"event {event.event_id} writes into embedding space {data.space}, which nothing added"
            )
        if any(len(raw) % 4 for raw in data.vectors.values()):
            raise InvalidVectorError(f"event {event.event_id}: vectors are float32 bytes, a multiple of 4 long")
        if event.type == "memory.reembedded":
            if event.namespace or event.memory_id != REEMBED_STREAM:
                raise InvalidInputError(
                    f"event {event.event_id}: a memory.reembedded event belongs to stream {REEMBED_STREAM!r}"
                )
            namespace, memory_id = event.data.namespace, event.data.memory_id
        else:
            namespace, memory_id = event.namespace, event.memory_id
        if data.forgotten:  # its content is gone for good: only the fact that it was written is imported
            stage_delete(memory_id, namespace, collection)  # the ids must still be valid
            return _pending(event, keep_time, states)
        write = stage_upsert(
            data.text,
            memory_id=memory_id,
            vectors={n: vector_array(v) for n, v in data.vectors.items()},
            metadata=data.metadata,
            namespace=namespace,
            collection=collection,
            expected_version=None,
            max_text_bytes=max_text_bytes,
            embedding_model=data.embedding_model,
        )
        check_dimensions(vector_sizes(write), schema, collection, write.memory_id)
        check_model(schema, data.embedding_model, collection, f"memory {write.memory_id!r}'s vectors")
        # The exporting memory's key ids mean nothing here: this log seals the content under its own.
        event = event.model_copy(update={"data": data.model_copy(update={"key": None})})
    elif event.type == "memory.deleted":
        stage_delete(event.memory_id, event.namespace, collection)
    else:
        if event.memory_id:
            raise InvalidInputError(f"event {event.event_id}: a namespace.erased event has no memory id")
        stage_erase(event.namespace, collection)
    return _pending(event, keep_time, states)


def _pending(event: Event, keep_time: bool, states: MutableMapping[str, CollectionState]) -> Event:
    pending = event.model_copy(
        update={"position": 0, "version": 0, "recorded_at": event.recorded_at if keep_time else None}
    )
    advance(states, pending)  # at position 0: folded whatever this memory's positions are
    return pending


__all__ = ["ImportReport", "commits", "pending_event"]
