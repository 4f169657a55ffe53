"""Applies the log to a projection, in position order, and records how far it got.

The checkpoint is saved only after the projection has flushed what was applied (Qdrant Edge is
durable only at ``flush()``), so a crash makes the projector re-apply a few events (harmless:
apply is idempotent) and never skip one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime

from tqdm.auto import tqdm

from .events import Event
from .index.base import Projection
from .log.base import EventLog
from .plugins import Plugins

logger = logging.getLogger(__name__)

LONG_CATCH_UP = 20_000  # events; below this an open catches up without a progress bar


class Projector:
    def __init__(
        self,
        log: EventLog,
        projection: Projection,
        plugins: Plugins,
        checkpoint_every: int = 10_000,
        checkpoint_seconds: float = 5.0,
    ) -> None:
        self.log = log
        self.projection = projection
        self.plugins = plugins
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.position = 0
        self.checkpointed = 0
        self._checkpointed_at = time.monotonic()
        #: the last failure to apply, cleared by the next success; the log is unaffected by it
        self.error: Exception | None = None
        # Reads from several threads may each ask for a catch-up; with an async log their reads
        # interleave, so applying is serialised (a second caller then finds nothing left to do).
        self._lock = asyncio.Lock()

    async def start(self, progress: bool | None = None) -> None:
        """Resume from the saved checkpoint and catch up with the log."""
        self.checkpointed = self.position = await self.log.get_checkpoint(self.projection.name)
        await self.catch_up(progress=progress)

    async def catch_up(self, until: int | datetime | None = None, progress: bool | None = False) -> int:
        """Apply every event after ``position`` (up to ``until``); return how many were applied.

        ``progress=None`` draws a bar only for a long catch-up (a big gap after a crash or a
        new index), so that a normal open stays quiet.
        """
        async with self._lock:
            return await self._catch_up(until, progress)

    async def _catch_up(self, until: int | datetime | None, progress: bool | None) -> int:
        total = None
        if progress is not False:
            end = await self.log.last_position() if until is None else until
            if isinstance(end, datetime):
                end = await self.log.position_at(end)
            total = max(0, end - self.position)
            progress = progress or total >= LONG_CATCH_UP
        applied = 0
        with tqdm(total=total, unit="ev", desc="replay", disable=not progress) as bar:
            async for batch in self.log.read(self.position, until=until, batch=2000):
                await self._apply(batch)
                applied += len(batch)
                bar.update(len(batch))
        return applied

    async def project(self, recorded: Sequence[Event]) -> None:
        """Bring the projection up to the events just appended by this process.

        When they directly follow what was applied, they are applied as they are (no read back);
        otherwise (another writer appended in between) the projector reads the gap from the log.
        """
        new = [e for e in recorded if e.position > self.position]
        if not new:
            return
        try:
            async with self._lock:
                new = [e for e in new if e.position > self.position]  # re-check under the lock
                if new and all(e.position == self.position + i + 1 for i, e in enumerate(new)):
                    await self._apply(new)
                elif new:
                    await self._catch_up(max(e.position for e in new), False)
            self.error = None
        except Exception as exc:  # the write is safe in the log; the index catches up later
            self.error = exc
            logger.warning("index %s is behind the log: %s", self.projection.name, exc)

    async def _apply(self, events: Sequence[Event]) -> None:
        await self.projection.apply(events)
        self.position = events[-1].position
        self.plugins.after_project(self.projection.name, events)
        if (
            self.position - self.checkpointed >= self.checkpoint_every
            or time.monotonic() - self._checkpointed_at >= self.checkpoint_seconds
        ):
            await self.checkpoint()

    async def checkpoint(self) -> None:
        """Flush the projection, then record the position it durably holds."""
        if self.position == self.checkpointed:
            return
        await self.projection.flush()
        await self.log.set_checkpoint(self.projection.name, self.position)
        self.checkpointed = self.position
        self._checkpointed_at = time.monotonic()

    async def wait_for(self, position: int) -> None:
        """Read-your-writes: return once events up to ``position`` are applied."""
        if self.position < position:
            await self.catch_up(until=position)
