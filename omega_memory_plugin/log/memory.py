"""An in-process EventLog that keeps events in a list: for tests and throwaway memories.

Selected by the URL ``memory://`` (every open gives a new, empty log).
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

from ..events import Event, StreamKey
from ..hookspecs import hookimpl
from ..keys import InMemoryKeyStore, KeyStore
from ..settings import Settings
from ..urls import scheme
from .base import CONTENT_EVENTS, EventLog, StreamHead, as_utc, without_content
from .versioning import Envelope, Head, LiveState, NamespaceKey, plan_commit, stream_heads


class InMemoryEventLog(EventLog):
    name = "memory"
    local = True

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._by_id: dict[UUID, Event] = {}
        self._streams: dict[StreamKey, list[Event]] = {}
        self._live = LiveState()  # alive memories per namespace, for the erase check
        self._checkpoints: dict[str, int] = {}

    async def append(
        self,
        events: Sequence[Event],
        expected_versions: Mapping[StreamKey, int] | None = None,
    ) -> list[Event]:
        recorded = {e.event_id: self._by_id[e.event_id] for e in events if e.event_id in self._by_id}
        plan = plan_commit(events, recorded, self, expected_versions)
        last = self._events[-1].recorded_at if self._events else None
        stored = plan.stamp(len(self._events) + 1, plan.commit_time(datetime.now(UTC), last))
        # Nothing above can fail half-way, so the commit is all or nothing.
        for event in stored:
            self._events.append(event)
            self._by_id[event.event_id] = event
            self._streams.setdefault(event.stream, []).append(event)
        self._live.apply(Envelope.of(event) for event in stored)
        return plan.resolve(stored)

    # StateReader, for plan_commit and stream_heads.
    def load_heads(self, keys: Collection[StreamKey]) -> dict[StreamKey, Head]:
        return {key: Head.of(self._streams[key][-1]) for key in keys if key in self._streams}

    def any_alive(self, namespace: NamespaceKey, since: int, excluding: Collection[str]) -> bool:
        return self._live.any_alive(namespace, excluding)  # the fold already ended what erases ended

    async def read(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Event]]:
        last = await self._until_position(until)
        position = from_position
        while position < last:
            chunk = self._events[position : min(position + batch, last)]
            if not chunk:
                return
            yield chunk
            position = chunk[-1].position

    async def redact(self, positions: Collection[int]) -> int:
        changed = 0
        for position in positions:
            if not 0 < position <= len(self._events):
                continue
            event = self._events[position - 1]
            if event.type not in CONTENT_EVENTS:
                continue
            data = event.data.model_copy(update={**without_content({}), "sealed": b""})
            dropped = event.model_copy(update={"data": data})
            self._events[position - 1] = self._by_id[event.event_id] = dropped
            stream = self._streams[event.stream]
            stream[stream.index(event)] = dropped
            changed += 1
        return changed

    async def _until_position(self, until: int | datetime | None) -> int:
        if until is None:
            return len(self._events)
        if isinstance(until, datetime):
            return await self.position_at(until)
        return min(until, len(self._events))

    async def stream(self, key: StreamKey) -> list[Event]:
        return list(self._streams.get(key, []))

    async def heads(self, keys: Sequence[StreamKey]) -> dict[StreamKey, StreamHead]:
        return stream_heads(keys, self)

    async def collections(self) -> list[Event]:
        return [e for e in self._events if e.type == "collection.created"]

    async def last_position(self) -> int:
        return len(self._events)

    async def position_at(self, when: datetime) -> int:
        # Every recorded event carries its time (the log stamped it), in position order.
        times: list[datetime] = [e.recorded_at for e in self._events]  # type: ignore[misc]
        return bisect.bisect_right(times, as_utc(when))

    async def get_checkpoint(self, name: str) -> int:
        return self._checkpoints.get(name, 0)

    async def set_checkpoint(self, name: str, position: int) -> None:
        self._checkpoints[name] = position

    async def close(self) -> None:
        pass


@hookimpl
def omega_memory_event_log(url: str, settings: Settings) -> EventLog | None:
    return InMemoryEventLog() if scheme(url) == "memory" else None


@hookimpl
def omega_memory_key_store(log: EventLog, settings: Settings) -> KeyStore | None:
    return InMemoryKeyStore() if isinstance(log, InMemoryEventLog) else None
