"""A test plugin: an exact in-memory index that can be switched off, to exercise failover."""

from __future__ import annotations

from collections.abc import Sequence

from omega_memory_plugin import Settings, hookimpl
from omega_memory_plugin.events import Event
from omega_memory_plugin.index.base import Projection, SearchQuery
from omega_memory_plugin.index.memory import InMemoryProjection
from omega_memory_plugin.records import MemoryRecord


class FlakyProjection(InMemoryProjection):
    broken = False

    def _check(self) -> None:
        if FlakyProjection.broken:
            raise ConnectionError("index server unreachable")

    async def apply(self, events: Sequence[Event]) -> None:
        self._check()
        await super().apply(events)

    async def search(self, query: SearchQuery) -> list[MemoryRecord]:
        self._check()
        return await super().search(query)


@hookimpl
def omega_memory_projection(url: str, settings: Settings) -> Projection | None:
    return FlakyProjection() if url.startswith("flaky://") else None
