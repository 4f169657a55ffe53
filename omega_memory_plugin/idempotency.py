"""Idempotent writes for callers: the same idempotency key and the same content write once.

A caller that retries after a lost reply (a timeout, a crashed worker, an HTTP client's retry)
passes the key it used the first time: ``upsert(..., idempotency_key="req-42")``, also for
``delete``, ``erase_namespace`` and a whole ``transaction(idempotency_key=...)``.

The key lives in the log, as the ids of the events it wrote: the i-th write of a keyed commit has
the event id ``uuid5((collection, namespace, key, i))`` (:func:`event_id`), so tenants never share
a key, and the log's own idempotency by event id (every log, every process) does the rest. Before
a keyed commit is built, the streams it writes to are read (:func:`replayed`): if its events are
there, the commit already happened and its stored events are the answer (nothing is written, no
expected version is checked again); if they are there with other content, the key was used for
another write and :class:`~omega_memory_plugin.errors.IdempotencyKeyError` says so. Two processes
retrying the same key at the same moment both reach the log with the same event ids: the log
records them once and returns the stored copies to the second, which are compared the same way.

An upsert without an id, keyed, gets an id derived from the key too, so its retry names the same
memory. The key identifies each write by its place in the commit: a retry whose writes differ, or
that adds a write the keyed commit did not make, is refused; a retry of only the first writes of
the commit is answered with theirs. The retry of a write whose content was forgotten since
(``Memory.forget``) is answered too, and writes nothing: it must not bring the content back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence

from .errors import IdempotencyKeyError
from .events import Event, MemoryUpsertedEvent, StreamKey
from .staging import StagedWrite
from .validation import check_id

_NAMESPACE = uuid.UUID("8f0c8f3e-6f53-4e57-9d1e-0b7c7c1f5a21")  # of omega-memory-plugin's idempotency ids


def check_key(key: object) -> str | None:
    """An idempotency key as given (any non-empty string), or None for none."""
    return None if key is None else check_id(key, "idempotency_key")


def event_id(write: StagedWrite, key: str, index: int) -> uuid.UUID:
    """The id of the event the ``index``-th write of a commit keyed ``key`` records."""
    return uuid.uuid5(_NAMESPACE, json.dumps([write.collection, write.namespace, key, index], ensure_ascii=False))


def memory_id(collection: str, namespace: str, key: str, index: int) -> str:
    """The id a keyed upsert without one gets (the same on every retry)."""
    return uuid.uuid5(_NAMESPACE, json.dumps([collection, namespace, key, index, "id"], ensure_ascii=False)).hex


def stream_of(write: StagedWrite) -> StreamKey:
    return (write.collection, write.namespace, "" if write.kind == "erase" else write.memory_id)


def same_write(event: Event, write: StagedWrite) -> bool:
    """Whether a recorded event is what ``write`` would record (its content, not its version)."""
    kind = {"upsert": "memory.upserted", "delete": "memory.deleted", "erase": "namespace.erased"}[write.kind]
    if (event.type, *event.stream) != (kind, *stream_of(write)):
        return False
    if isinstance(event, MemoryUpsertedEvent):
        data = event.data
        if data.forgotten:  # cannot be compared any more; its retry must not bring it back: done
            return True
        if (data.text, data.metadata) != (write.text, write.metadata):
            return False
        # Vectors the caller gave must match; vectors the Memory made from the text may come from
        # another model by now (a re-embedding switched it since the first try): the text decides.
        return write.embedded or data.vectors == {n: v.astype("<f4").tobytes() for n, v in write.vectors.items()}
    return True


async def replayed(
    writes: Sequence[StagedWrite], key: str, stream: Callable[[StreamKey], Awaitable[list[Event]]]
) -> list[Event] | None:
    """The events a commit keyed ``key`` recorded earlier, or None if it never happened.

    ``stream`` reads one stream of the log. Raises :class:`IdempotencyKeyError` when the key was
    used for other writes."""
    found: list[Event] = []
    missing = 0
    read: dict[StreamKey, dict[uuid.UUID, Event]] = {}
    for index, write in enumerate(writes):
        key_of = stream_of(write)
        if key_of not in read:
            read[key_of] = {e.event_id: e for e in await stream(key_of)}
        event = read[key_of].get(event_id(write, key, index))
        if event is None:
            missing += write.kind == "upsert"  # a delete or an erase that found nothing recorded nothing
            continue
        if not same_write(event, write):
            raise conflict(key, event)
        found.append(event)
    if not found:
        return None
    if missing:
        raise IdempotencyKeyError(
            f"idempotency key {key!r} was used for a commit that did not write these memories; "
            "use a new key for a new write"
        )
    return found


def check_recorded(recorded: Sequence[Event], events: Sequence[Event], key: str) -> None:
    """After a keyed append: the log returned stored copies for ids it already held (another
    process used the key at the same moment); they must be the same writes."""
    mine = {e.event_id: e for e in events}
    for event in recorded:
        wanted = mine.get(event.event_id)
        if wanted is not None and not same_event(event, wanted):
            raise conflict(key, event)


def same_event(stored: Event, wanted: Event) -> bool:
    """The same write, whoever made it (origins may differ)."""
    if (stored.type, stored.stream) != (wanted.type, wanted.stream):
        return False
    if isinstance(stored, MemoryUpsertedEvent) and isinstance(wanted, MemoryUpsertedEvent):
        if stored.data.forgotten:
            return True
        return (stored.data.text, stored.data.metadata, stored.data.vectors) == (
            wanted.data.text,
            wanted.data.metadata,
            wanted.data.vectors,
        )
    return True


def conflict(key: str, event: Event) -> IdempotencyKeyError:
    return IdempotencyKeyError(
        f"idempotency key {key!r} was already used, at log position {event.position}, for a different "
        f"{event.type} of {event.memory_id or event.namespace!r}; use a new key for a new write, or the "
        "same content to retry"
    )
