"""The EventLog contract: the single source of truth.

Implementations are async: a network log (MongoDB) awaits its driver, an embedded one (SQLite,
in-memory) does its work inline. The Memory runs them all on its own engine loop: calls from one
Memory never run in parallel, but an implementation that awaits I/O must expect its coroutines to
interleave at every await (the MongoDB log serialises its appends with an asyncio lock).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..events import Event, StreamKey


@dataclass(frozen=True, slots=True)
class StreamHead:
    """The latest event of one stream: its version and whether it deleted the memory."""

    version: int
    deleted: bool


class EventLog(abc.ABC):
    """Append-only, totally ordered log of events.

    Contract (checked by :mod:`omega_memory_plugin.testing.log_conformance`):

    * ``append`` is atomic for one call: every event is recorded, or none is.
    * It assigns ``position`` (global, strictly increasing) and ``version`` (per stream, from 1)
      and returns the recorded events in the order given.
    * An event whose ``event_id`` is already recorded is not recorded again; ``append`` returns
      the stored copy in its place.
    * ``expected_versions`` maps a stream to the version the caller believes is current (0 means
      "does not exist yet"); any mismatch raises ``ConcurrencyError`` and records nothing.
    * ``read`` yields in position order and never skips a recorded event.
    """

    #: A short name for messages and checkpoints, e.g. ``"sqlite:/data/log.db"``.
    name: str = "log"

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

    @abc.abstractmethod
    async def stream(self, key: StreamKey) -> list[Event]:
        """Every event of one stream, in version order."""

    @abc.abstractmethod
    async def heads(self, keys: Sequence[StreamKey]) -> dict[StreamKey, StreamHead]:
        """The head of each stream that exists (missing streams are left out)."""

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

    async def open(self) -> None:
        """Connect and prepare storage (create tables, indexes). Called once before any other
        method; a no-op for backends that are ready on construction."""

    @abc.abstractmethod
    async def close(self) -> None: ...
