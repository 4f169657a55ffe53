"""``Memory.forget(subject)``: crypto-shredding, erasure that reaches the log.

Memory content is sealed in the log under its subject's data key (:mod:`.log.sealed`). Forgetting
a subject, in this order, each step safe to repeat if the process dies half-way:

1. one commit: a ``memory.deleted`` for each memory whose current version is sealed under the
   subject's keys (found by reading the stored log, which needs no key), and a
   ``subject.forgotten`` event that names the keys' random ids and nothing else;
2. the keys are destroyed in the key store (and, for the SQLite store, overwritten on disk);
3. an index whose storage keeps deleted points (Qdrant's segments) is rebuilt from the log, so
   no index file holds the text any more.

From step 2 on, every earlier event of the subject opens as *forgotten*: replays, rebuilds,
``as_of`` at any position and ``history()`` see that a memory was written and when, never what.
The log's structure (positions, versions, event ids, times, expiries) is untouched, so the chain,
checkpoints and idempotency keys keep working.

Example::

    memory.upsert("Ana's phone is 555-0100", namespace="ana")
    report = memory.forget("ana")  # the namespace is the default subject
    report.memories, report.keys   # (1, 1)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConcurrencyError
from .events import (
    Event,
    MemoryDeleted,
    MemoryDeletedEvent,
    MemoryUpserted,
    StreamKey,
    SubjectForgotten,
    SubjectForgottenEvent,
)
from .origin import current_origin

if TYPE_CHECKING:
    from .log.base import EventLog
    from .memory import Memory

_ATTEMPTS = 5  # a memory of the subject written between the scan and the commit: scan again


@dataclass(frozen=True, slots=True)
class ForgetReport:
    """What ``forget`` did: memories deleted, keys destroyed, and whether the key bytes were also
    overwritten in the key store's files (``keys_scrubbed``) and the index's files rewritten
    without the memories (``index_compacted``; False when this process does not apply the index,
    or ``compact_index=False`` was asked for: run ``rebuild()`` later)."""

    memories: int
    keys: int
    keys_scrubbed: bool
    index_compacted: bool
    #: of ``memories``, those of the subject's namespace stored in clear (``encryption=False``, or
    #: written before encryption existed): deleted from every read, but their text stays in the log
    in_clear: int = 0


async def subject_memories(log: EventLog, keys: Collection[str], namespace: str) -> dict[StreamKey, tuple[int, bool]]:
    """Memory streams whose last upsert belongs to the subject: sealed under one of ``keys``, or
    stored in clear in the subject's namespace; with that upsert's version and whether it is in
    clear. Reads the stored log (no key is needed to see which key sealed an event)."""
    last: dict[StreamKey, tuple[int, str | None]] = {}
    async for events in log.read():
        for event in events:
            if isinstance(event.data, MemoryUpserted):
                last[event.stream] = (event.version, event.data.key)
    return {
        stream: (version, key is None)
        for stream, (version, key) in last.items()
        if key in keys or (key is None and stream[1] == namespace)
    }


def forgotten_event(memory: Memory, keys: list[str]) -> SubjectForgottenEvent:
    return SubjectForgottenEvent(
        collection=memory.collection, data=SubjectForgotten(keys=keys, origin=current_origin())
    )


async def end_memories(
    memory: Memory, find: Callable[[], Awaitable[dict[StreamKey, int]]], also: Sequence[Event] = ()
) -> list[Event]:
    """Delete, in one commit with ``also``, the memories ``find()`` names that are still alive at
    the version it names; a memory written in between makes it look again. Returns what was recorded."""
    for attempt in range(_ATTEMPTS):
        wanted = await find()
        heads = await memory.log.heads(list(wanted)) if wanted else {}
        alive = {
            stream: version
            for stream, version in wanted.items()
            if heads.get(stream) and heads[stream].current_version == version
        }
        origin = current_origin()
        events: list[Event] = [
            MemoryDeletedEvent(collection=c, namespace=ns, memory_id=m, data=MemoryDeleted(origin=origin))
            for c, ns, m in alive
        ]
        if not events and not also:
            return []
        try:
            return await memory._append([*events, *also], alive)
        except ConcurrencyError:
            if attempt == _ATTEMPTS - 1:
                raise
    return []


async def forget(memory: Memory, subject: str, *, compact_index: bool, look: bool = True) -> ForgetReport:
    """``Memory.forget``. ``look=False`` skips step 1's search for the subject's memories, for a
    caller that has just ended them itself (a chat history's ``clear()`` erased its namespace)."""
    log, store = memory.log, memory.log.keys
    keys = await store.key_ids(subject) if store is not None else []
    found: dict[StreamKey, tuple[int, bool]] = {}

    async def theirs() -> dict[StreamKey, int]:
        nonlocal found
        found = await subject_memories(log.inner, set(keys), subject) if look else {}
        return {stream: version for stream, (version, _) in found.items()}

    recorded = await end_memories(memory, theirs, [forgotten_event(memory, keys)] if keys else [])
    if store is not None and keys:
        await store.destroy(subject)
    ended = [e.stream for e in recorded if e.type == "memory.deleted"]
    compacted = await rewrite_index(memory) if compact_index and (ended or keys) else False
    return ForgetReport(
        memories=len(ended),
        keys=len(keys),
        keys_scrubbed=store.scrubbed if store is not None else True,
        index_compacted=compacted,
        in_clear=sum(found[stream][1] for stream in ended if stream in found),
    )


async def rewrite_index(memory: Memory) -> bool:
    """Rebuild an index whose files keep deleted points, so that none holds what was just
    deleted; False if it keeps none, or if this process does not apply the index (external
    projector mode: ``omega-memory replay`` does it there)."""
    if not memory.projection.keeps_deleted or memory._external:
        return False
    async with memory._rebuild_lock:
        await memory._replay_into_fresh(progress=None, offload=True)
    return True
