"""Applies the log to a projection, in position order, and records how far it got.

The checkpoint is saved only after the projection has flushed what was applied (Qdrant Edge is
durable only at ``flush()``), so a crash makes the projector re-apply a few events (harmless:
apply is idempotent) and never skip one.

Where a projection resumes is decided here, once, from two records: the log's checkpoint and the
:class:`~omega_memory_plugin.index.base.IndexState` the index wrote at its last flush
(:func:`resume_point`). An index that lost its data, or was built with another point layout, is
never served as if it were current.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from tqdm.auto import tqdm

from .events import Event
from .gc_pause import collection_paused
from .index.base import IndexState, Projection
from .index.payload import LAYOUT
from .log.base import EventLog
from .plugins import Plugins

logger = logging.getLogger(__name__)

T = TypeVar("T")

LONG_CATCH_UP = 20_000  # events; below this an open catches up without a progress bar
READ_BATCH = 2000
# A rebuild reads in smaller batches, each read and decoded on the engine thread, which also
# answers searches meanwhile; and hands them to the worker in chunks, because the embedded engine
# holds the GIL for a whole call (about 150 µs a point): a chunk bounds how long a search waits.
OFFLOADED_READ_BATCH = 250
OFFLOADED_APPLY_CHUNK = 64


class IndexNeedsRebuild(Exception):
    """Raised by :meth:`Projector.start` when the index cannot be resumed; the message says why."""


def resume_point(checkpoint: int, state: IndexState | None, layout: int = LAYOUT) -> int:
    """Where a projection resumes, or :class:`IndexNeedsRebuild` if it must be built again.

    * no recorded state but a checkpoint: the index was lost (deleted, or never flushed by a
      version that records its state) and would serve nothing as if it were current;
    * another layout: its points are addressed differently from what this version writes;
    * otherwise it resumes from what it durably holds. Behind its checkpoint (a restored copy, or
      a slower process that shares it) it catches up from its own position, re-applying events
      (harmless: apply is idempotent).
    """
    if state is None:
        if checkpoint > 0:
            raise IndexNeedsRebuild(
                f"the index holds no record of its state, but the log's checkpoint says it held position {checkpoint}: "
                "it was lost or replaced"
            )
        return 0
    if state.layout != layout:
        raise IndexNeedsRebuild(f"the index was built with point layout {state.layout}; this version uses {layout}")
    if state.position < checkpoint:
        logger.warning(
            "the index holds position %d, behind its checkpoint %d: catching up from the log",
            state.position,
            checkpoint,
        )
    return state.position


class Projector:
    """Feeds one projection from the log.

    ``persist=False`` makes a projector that never writes checkpoints (a read-only view must not
    write to the log's storage). ``offload=True`` runs ``apply``/``flush`` of a blocking projection
    (see :attr:`Projection.blocking`) on a worker thread, so the engine keeps answering reads while
    a rebuild works.
    """

    def __init__(
        self,
        log: EventLog,
        projection: Projection,
        plugins: Plugins,
        checkpoint_every: int = 10_000,
        checkpoint_seconds: float = 5.0,
        *,
        persist: bool = True,
        offload: bool = False,
    ) -> None:
        self.log = log
        self.projection = projection
        self.plugins = plugins
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.persist = persist
        self.position = 0
        self.checkpointed = 0
        self.started = False
        self._checkpointed_at = time.monotonic()
        #: the last failure to apply, cleared by the next success; the log is unaffected by it
        self.error: Exception | None = None
        # Reads from several threads may each ask for a catch-up; with an async log their reads
        # interleave, so applying is serialised (a second caller then finds nothing left to do).
        self._lock = asyncio.Lock()
        self._worker = ThreadPoolExecutor(1, "omega-memory-rebuild") if offload and projection.blocking else None
        self._unflushed = 0
        #: told of every batch applied (the Memory learns collection changes from it)
        self.observe: Callable[[Sequence[Event]], None] | None = None

    async def start(self, progress: bool | None = None) -> None:
        """Resume from what the index holds and catch up with the log.

        Raises :class:`IndexNeedsRebuild` if the index cannot be resumed (see :func:`resume_point`).
        """
        checkpoint = await self.log.get_checkpoint(self.projection.name)
        state = await self._run(self.projection.state)
        self.position = resume_point(checkpoint, state, self.projection.layout)
        self.checkpointed = min(checkpoint, self.position)
        self.started = True
        await self.catch_up(progress=progress)

    async def catch_up(self, until: int | datetime | None = None, progress: bool | None = False) -> int:
        """Apply every event after ``position`` (up to ``until``); return how many were applied.

        ``progress=None`` draws a bar only for a long catch-up (a big gap after a crash or a
        new index), so that a normal open stays quiet.
        """
        async with self._lock:
            return await self._catch_up(until, progress)

    async def _catch_up(self, until: int | datetime | None, progress: bool | None) -> int:
        if isinstance(until, datetime):
            until = await self.log.position_at(until)
        total = None
        if progress is not False or self._worker is not None:  # a rebuild tells observers how far it is
            end = await self.log.last_position()
            if until is not None:
                end = min(end, until)  # a point past the log's end replays what there is
            total = max(0, end - self.position)
            if progress is not False:
                progress = progress or total >= LONG_CATCH_UP
        applied = 0
        batch = OFFLOADED_READ_BATCH if self._worker else READ_BATCH
        with tqdm(total=total, unit="ev", desc="replay", disable=not progress) as bar:
            batches = aiter(self.log.read(self.position, until=until, batch=batch))
            while True:
                with collection_paused():  # over the batch's read, decode and apply; resumed between
                    events = await anext(batches, None)
                    if events is None:
                        break
                    await self._apply(events)
                applied += len(events)
                bar.update(len(events))
                if total:
                    self.plugins.progress("replay", applied, total)
        return applied

    async def project(self, recorded: Sequence[Event]) -> None:
        """Bring the projection up to the events just appended by this process.

        When they directly follow what was applied, they are applied as they are (no read back);
        otherwise (another writer appended in between) the projector reads the gap from the log.
        """
        new = [e for e in recorded if e.position > self.position]
        if not new or not self.started:
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
        if self._worker is None:
            await self.projection.apply(events)
        else:
            for start in range(0, len(events), OFFLOADED_APPLY_CHUNK):
                chunk = events[start : start + OFFLOADED_APPLY_CHUNK]
                await self._run(lambda chunk=chunk: self.projection.apply(chunk))  # type: ignore[misc]
            self._unflushed += len(events)
            every = self.projection.rebuild_flush_every
            if every is not None and self._unflushed >= every:
                await self._run(self.projection.flush)
                self._unflushed = 0
        self.position = events[-1].position
        if self.observe is not None:
            self.observe(events)
        self.plugins.after_project(self.projection.name, events)
        if self.persist and (
            self.position - self.checkpointed >= self.checkpoint_every
            or time.monotonic() - self._checkpointed_at >= self.checkpoint_seconds
        ):
            await self.checkpoint()

    async def checkpoint(self) -> None:
        """Flush the projection, then record the position it durably holds."""
        if self.position == self.checkpointed or not self.persist:
            return
        await self._run(self.projection.flush)
        await self.log.set_checkpoint(self.projection.name, self.position)
        self.checkpointed = self.position
        self._checkpointed_at = time.monotonic()

    async def wait_for(self, position: int) -> None:
        """Read-your-writes: return once events up to ``position`` are applied."""
        if self.position < position:
            await self.catch_up(until=position)

    async def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one projection call: inline, or on the worker thread (inside a loop of its own, as
        a blocking projection holds no state bound to the engine's loop)."""
        if self._worker is None:
            return await call()
        future = asyncio.get_running_loop().run_in_executor(self._worker, lambda: asyncio.run(_awaited(call)))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Cancelled (Ctrl-C): let the call in flight finish before anyone drops the projection.
            await asyncio.wait([future])
            raise

    def stop_worker(self) -> None:
        """Hand the projection back to the engine thread (after a rebuild, or when it is dropped)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None


async def _awaited(call: Callable[[], Awaitable[T]]) -> T:
    return await call()
