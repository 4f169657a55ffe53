"""``Memory.compact(grace=...)``: retention, content dropped from storage once nothing may read it.

Two kinds of content have no reader left, and compaction removes them from the log's storage
(:meth:`~omega_memory_plugin.log.base.EventLog.redact`):

* content sealed under keys that a ``subject.forgotten`` event destroyed: ciphertext no key opens;
* content of memories that expired: every version whose expiry passed, and its re-embeddings.
  A memory still alive whose current version expired gets a ``memory.deleted`` first (the sweep
  is an event, so replays agree with it), in one commit.

Both only once ``grace`` has passed (the forget, or the expiry, is older than ``now - grace``),
so that backups and late readers have their window. What stays is the log's structure: positions,
versions, event ids, times, key ids and expiries, so the chain, checkpoints, idempotency keys,
``verify`` and replays of everything else keep working. Replays and ``as_of`` views of a time
before an expiry no longer show an expired memory whose content was dropped: retention bounds
time travel, which is its purpose.

An index whose files keep deleted points (Qdrant's segments) is rebuilt afterwards, as after
``forget``, when anything was dropped.

Example::

    report = memory.compact(grace=timedelta(days=30))
    report.dropped  # events whose content left storage
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .events import MemoryReembedded, MemoryUpserted, StreamKey, SubjectForgotten
from .forgetting import end_memories, rewrite_index

if TYPE_CHECKING:
    from .log.base import EventLog
    from .memory import Memory


@dataclass(frozen=True, slots=True)
class CompactReport:
    """``expired``: memories the sweep deleted (their current version had expired); ``dropped``:
    events whose content left the log's storage; ``index_compacted``: the index was rebuilt."""

    expired: int
    dropped: int
    index_compacted: bool


@dataclass(slots=True)
class _Survey:
    """What one pass over the stored log finds (no key is needed for any of it)."""

    droppable: list[int]  # positions of content events nothing may read any more
    expired_alive: dict[StreamKey, int]  # memories whose last upsert expired: stream -> its version


async def survey(log: EventLog, cutoff: datetime) -> _Survey:
    destroyed: set[str] = set()
    content: list[tuple[int, str | None, datetime | None]] = []  # position, key id, expiry
    last: dict[StreamKey, tuple[int, datetime | None]] = {}
    async for events in log.read():
        for event in events:
            data = event.data
            if isinstance(data, SubjectForgotten) and event.recorded_at is not None and event.recorded_at <= cutoff:
                destroyed.update(data.keys)
            elif isinstance(data, (MemoryUpserted, MemoryReembedded)):
                if data.sealed != b"":  # b"": dropped already
                    content.append((event.position, data.key, data.expires_at))
                if isinstance(data, MemoryUpserted):
                    last[event.stream] = (event.version, data.expires_at)
    droppable = [
        position
        for position, key, expires in content
        if key in destroyed or (expires is not None and expires <= cutoff)
    ]
    expired = {
        stream: version for stream, (version, expires) in last.items() if expires is not None and expires <= cutoff
    }
    return _Survey(droppable, expired)


async def compact(memory: Memory, grace: timedelta, now: datetime) -> CompactReport:
    found = _Survey([], {})

    async def expired_alive() -> dict[StreamKey, int]:
        nonlocal found
        found = await survey(memory.log.inner, now - grace)
        return found.expired_alive

    swept = await end_memories(memory, expired_alive)
    dropped = await memory.log.redact(found.droppable) if found.droppable else 0
    return CompactReport(len(swept), dropped, await rewrite_index(memory) if dropped else False)
