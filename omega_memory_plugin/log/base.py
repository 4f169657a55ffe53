"""The EventLog contract: the single source of truth.

Implementations are async: a network log (MongoDB) awaits its driver, an embedded one (SQLite,
in-memory) does its work inline. The Memory runs them all on its own engine loop: calls from one
Memory never run in parallel, but an implementation that awaits I/O must expect its coroutines to
interleave at every await (the MongoDB log serialises its appends with an asyncio lock).
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ..errors import UnsupportedBackendError
from ..events import Event, MemoryUpserted, StreamKey
from .versioning import Envelope, StreamHead

__all__ = [
    "CONTENT_EVENTS",
    "POLL_SECONDS",
    "Envelope",
    "EventLog",
    "StreamHead",
    "as_utc",
    "upsert_fields",
    "without_content",
]

#: How often :meth:`EventLog.wait_for_append` looks at the log when nothing can tell it of an
#: append: often enough that a projector worker adds little to read-your-writes, rarely enough
#: that an idle worker costs the log a few cheap queries a second.
POLL_SECONDS = 0.1


def without_content(data: Mapping[str, Any]) -> dict[str, Any]:
    """A content event's stored data once :meth:`EventLog.redact` dropped its content."""
    return {**data, "text": "", "metadata": {}, "vectors": {}}


#: the event types whose data carries memory content
CONTENT_EVENTS = ("memory.upserted", "memory.reembedded")


def upsert_fields(data: MemoryUpserted) -> dict[str, Any]:
    """A ``memory.upserted`` event's data as logs store it, without the vectors and the sealed
    body (stored as binary) and without the subject (never stored). Built by hand rather than
    with ``model_dump``: this runs once per memory written."""
    fields: dict[str, Any] = {"text": data.text, "metadata": data.metadata, "embedding_model": data.embedding_model}
    if data.space:
        fields["space"] = data.space
    if data.origin is not None:
        fields["origin"] = data.origin
    if data.expires_at is not None:
        fields["expires_at"] = data.expires_at.isoformat()
    if data.key is not None:
        fields["key"] = data.key
    return fields


def as_utc(when: datetime) -> datetime:
    """``when`` in UTC. A naive datetime is taken to *be* UTC (as the CLI documents), on every log."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class EventLog(abc.ABC):
    """Append-only, totally ordered log of events.

    Contract (checked by :mod:`omega_memory_plugin.testing.log_conformance`):

    * ``append`` is atomic for one call: every event is recorded, or none is.
    * It assigns ``position`` (global, strictly increasing) and ``version`` (per stream, from 1;
      versions never restart, also after a delete or an erase).
    * What is recorded follows the stream-state rule of :mod:`.versioning`, decided inside the
      log's atomic scope with :func:`~.versioning.plan_commit`: an upsert is always recorded; a
      ``memory.deleted`` of a memory that is not alive (never written, deleted, or erased, by the
      log or by an earlier event of the same commit) and a ``namespace.erased`` of a namespace
      with no alive memory are no-ops and record nothing.
    * It returns the stored copy of every input event that is recorded, in input order; no-ops
      are left out (so a caller counts what a commit did from what it returns).
    * An event whose ``event_id`` is already recorded is not recorded again; ``append`` returns
      the stored copy in its place.
    * ``expected_versions`` maps a stream to the version the caller believes is current. For a
      memory that is its version if alive and 0 if not (``0`` = "must not be alive": never
      written, deleted or erased); for a collection or namespace stream, its last version (0 =
      does not exist). Any mismatch raises ``ConcurrencyError(expected, actual)`` with ``actual``
      the current version, and records nothing.
    * Every event of a commit gets the same ``recorded_at``, chosen inside the atomic scope with
      :meth:`~.versioning.CommitPlan.commit_time`: now, never before the last commit's time, or
      the time the new events carry (an import), which must not be before it (``TimeOrderError``).
    * ``read`` yields in position order and never skips a recorded event.
    * A ``datetime`` given to ``read(until=...)`` or ``position_at`` is converted by
      :func:`as_utc`: a naive one is UTC.
    """

    #: A short name for messages and checkpoints, e.g. ``"sqlite:/data/log.db"``.
    name: str = "log"
    #: Answered from this process's own storage (a local file, process memory): a read cannot
    #: hang on a network, so the Memory does not bound it with a timeout (28 µs a search).
    local: bool = False

    @abc.abstractmethod
    async def append(
        self,
        events: Sequence[Event],
        expected_versions: Mapping[StreamKey, int] | None = None,
    ) -> list[Event]: ...

    @abc.abstractmethod
    def read(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Event]]:
        """Yield batches of events with ``position > from_position``, in order.

        ``until`` stops after that position (inclusive) or after the last event recorded at or
        before that time.
        """

    async def envelopes(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Envelope]]:
        """Like :meth:`read`, but each event without its data: what ``verify`` folds with
        :class:`~.versioning.LiveState`. Backends that can skip decoding data override this."""
        async for events in self.read(from_position, until, batch):
            yield [Envelope.of(event) for event in events]

    @abc.abstractmethod
    async def stream(self, key: StreamKey) -> list[Event]:
        """Every event of one stream, in version order."""

    @abc.abstractmethod
    async def heads(self, keys: Sequence[StreamKey]) -> dict[StreamKey, StreamHead]:
        """The head of each stream that exists (missing streams are left out): its last version
        and whether it is alive by the rule of :mod:`.versioning` (implement with
        :func:`~.versioning.stream_heads`)."""

    @abc.abstractmethod
    async def collections(self) -> list[Event]:
        """Every ``collection.created`` event, in position order."""

    @abc.abstractmethod
    async def last_position(self) -> int:
        """The highest recorded position (0 for an empty log)."""

    @abc.abstractmethod
    async def position_at(self, when: datetime) -> int:
        """The highest position recorded at or before ``when`` (0 if none)."""

    @abc.abstractmethod
    async def get_checkpoint(self, name: str) -> int: ...

    @abc.abstractmethod
    async def set_checkpoint(self, name: str, position: int) -> None: ...

    async def wait_for_append(self, after: int, timeout: float, poll: float = POLL_SECONDS) -> int:
        """Wait until the log holds a position past ``after``, or ``timeout`` seconds; return the
        last position (still ``after`` or below if nothing came).

        This default polls :meth:`last_position` every ``poll`` seconds, which every log can do
        (also with writers in other processes). A log that can be told of appends overrides it
        (MongoDB with change streams: :mod:`.mongo_watch`). A projector worker waits here between
        catch-ups.

        Example::

            last = await log.wait_for_append(checkpoint, timeout=1.0)
            if last > checkpoint:
                ...  # read and apply (checkpoint, last]
        """
        deadline = time.monotonic() + timeout
        while True:
            last = await self.last_position()
            remaining = deadline - time.monotonic()
            if last > after or remaining <= 0:
                return last
            await asyncio.sleep(min(poll, remaining))

    async def redact(self, positions: Collection[int]) -> int:
        """Retention (``Memory.compact``): drop from storage, for good, the content (text, metadata,
        vectors, sealed body) of the ``memory.upserted`` and ``memory.reembedded`` events at
        ``positions``, keeping the rest of them (ids, versions, positions, times, key id, expiry);
        other events are left alone. Return how many events were changed. Reads then return them
        with their content empty and ``data.sealed == b""`` (forgotten). Storage that keeps
        deleted bytes (a WAL, freed pages) must overwrite them before this returns.

        The one operation that changes a recorded event: a log that cannot raises
        :class:`~omega_memory_plugin.errors.UnsupportedBackendError` (this default)."""
        raise UnsupportedBackendError(f"the log {self.name} cannot drop content from storage (retention)")

    async def open(self) -> None:
        """Connect and prepare storage (create tables, indexes). Called once before any other
        method; a no-op for backends that are ready on construction."""

    @abc.abstractmethod
    async def close(self) -> None: ...
