"""The projector worker: one process that keeps a shared index current with the log, for
application processes running with ``projector="external"`` (:mod:`omega_memory_plugin.external`).

It is built on an ordinary inline :class:`~omega_memory_plugin.memory.Memory`, so it catches up
exactly as any inline process does before a read (following a generation another process
promoted, rebuilding an index that cannot be resumed, resuming after a crash from the index's own
state); the worker only adds the loop around it:

1. wait for an append (:meth:`EventLog.wait_for_append`: polling, or a MongoDB change stream);
2. catch up with the log;
3. save the checkpoint at once: external-mode processes wait on it for read-your-writes, so the
   Memory's usual cadence (``checkpoint_seconds``, 5 s) would make every write wait that long.
   Each checkpoint costs one flush (a Qdrant server: a state record, the points are already
   durable) and one small log write per catch-up, not per event: a burst is applied and
   checkpointed in one go.

It stops on SIGTERM / SIGINT after the step in progress, with a last checkpoint.

Example (what ``omega-memory project --follow --health 127.0.0.1:8080`` runs)::

    with Memory(log_url="mongodb://db/omega", index_url="http://qdrant:6333") as memory:
        worker = ProjectorWorker(memory)
        with stop_on_signals(worker):
            worker.run(health=("127.0.0.1", 8080))
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from .errors import ProjectorModeError
from .events import Event
from .external import check_shared
from .health_endpoint import PATH, serve_health
from .hookspecs import hookimpl
from .log.base import POLL_SECONDS
from .memory import METRICS_PLUGIN, Memory

logger = logging.getLogger(__name__)

#: The longest the worker waits for news before looking again anyway: a generation another
#: process promoted is noticed (and this worker's lease renewed) without any append to wake it.
IDLE_SECONDS = 1.0
#: Health says 503 once the oldest event not yet applied is older than this.
MAX_LAG_SECONDS = 30.0


@dataclass
class WorkerFigures:
    """What the worker itself did, for ``GET /health`` (the Memory's ``health()`` says the rest).

    ``position_at_start`` is where the index stood when the worker took over its Memory, which
    had already caught up while opening (before any hook of the worker could see it);
    ``events_applied`` counts what the worker applied after that."""

    position_at_start: int = 0
    up_since: datetime = field(default_factory=lambda: datetime.now(UTC))
    events_applied: int = 0
    catch_ups: int = 0
    last_catch_up: datetime | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "position_at_start": self.position_at_start,
            "up_since": self.up_since.isoformat(),
            "events_applied": self.events_applied,
            "catch_ups": self.catch_ups,
            "last_catch_up": None if self.last_catch_up is None else self.last_catch_up.isoformat(),
            "last_error": self.last_error,
        }


class _Counter:
    """Counts applied events through the public ``after_project`` hook, which sees every apply,
    whichever generation and projector object it goes to."""

    def __init__(self, figures: WorkerFigures) -> None:
        self.figures = figures

    @hookimpl
    def omega_memory_after_project(self, projection: str, events: Sequence[Event]) -> None:
        self.figures.events_applied += len(events)


class ProjectorWorker:
    """Applies the log to ``memory``'s index in a loop (:meth:`run`), or once (:meth:`catch_up`).

    ``memory`` must be an inline Memory (``projector="inline"``, the default) that may write its
    index. ``poll`` is how often a log without change streams is looked at; ``max_lag_seconds``
    is the health threshold.
    """

    def __init__(self, memory: Memory, *, poll: float = POLL_SECONDS, max_lag_seconds: float = MAX_LAG_SECONDS) -> None:
        if memory.read_only:
            raise ProjectorModeError(f"a projector worker writes the index, but {memory.read_only}")
        if memory.settings.projector != "inline":
            raise ProjectorModeError(
                'a projector worker is the process that applies the log: open its Memory with projector="inline" '
                "(the command line does; unset OMEGA_PROJECTOR for this process)"
            )
        self.memory = memory
        self.poll = poll
        self.max_lag_seconds = max_lag_seconds
        self.figures = WorkerFigures(position_at_start=memory.projector.position)
        self._counter = _Counter(self.figures)
        memory.plugins.manager.register(self._counter)
        self._stopping = threading.Event()  # set from any thread or a signal handler
        self._wake: asyncio.Event | None = None  # on the engine loop, while run() runs
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- one step --------------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply everything the log holds, save the checkpoint; return the position reached."""
        return self.memory._ready_engine().run(self._catch_up())

    async def _catch_up(self) -> int:
        # The Memory's read path follows a promoted generation and starts an index that was down;
        # then the catch-up, and the checkpoint, which external processes wait on.
        await self.memory._current_index()
        projector = self.memory.projector  # after _current_index: it may have moved to a new generation
        try:
            # To the log's end, however long the log takes: the read path gives up on a slow log
            # after read_wait_seconds (a search must answer), a worker must not.
            await projector.catch_up()
        except Exception as exc:
            projector.error = exc  # health says the index is behind, as a failed read would
            raise
        await projector.checkpoint()
        self.figures.catch_ups += 1
        self.figures.last_catch_up = datetime.now(UTC)
        self.figures.last_error = None
        return projector.position

    # -- the loop --------------------------------------------------------------------------------

    def run(self, health: tuple[str, int] | None = None, on_ready: Callable[[str | None], None] | None = None) -> None:
        """Follow the log until :meth:`stop`. With ``health=(host, port)``, serve ``GET /health``
        there; ``on_ready`` is called with its URL (or None) once the worker is serving."""
        check_shared(None, self.memory.projection)  # an embedded index serves no other process
        self.memory._ready_engine().run(self._run(health, on_ready))

    def stop(self) -> None:
        """Ask :meth:`run` to return after the step in progress. Safe from any thread and from a
        signal handler."""
        self._stopping.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed: run() has returned
                loop.call_soon_threadsafe(wake.set)

    async def _run(self, health: tuple[str, int] | None, on_ready: Callable[[str | None], None] | None) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        # A first catch-up before serving: the Memory's open caught up without saving a checkpoint,
        # and health must not say "no lag" while external processes still wait for one.
        caught_up = await self._attempt()
        metrics = None
        if self.memory.settings.metrics:
            metrics = importlib.import_module(METRICS_PLUGIN).exposition
        server = await serve_health(*health, self.report, metrics) if health else None
        try:
            url = None
            if server is not None:
                host, port = server.sockets[0].getsockname()[:2]
                url = f"http://{f'[{host}]' if ':' in host else host}:{port}{PATH}"
            logger.info("projector worker: %s -> %s", self.memory.log.name, self.memory._index_name)
            if on_ready is not None:
                on_ready(url)
            while not self._stopping.is_set():
                if caught_up:
                    await self._until_woken(
                        self.memory.log.wait_for_append(self.memory.projector.position, IDLE_SECONDS, self.poll)
                    )
                else:  # the index or the log is down: retry after a pause
                    await self._until_woken(asyncio.sleep(IDLE_SECONDS))
                if not self._stopping.is_set():
                    caught_up = await self._attempt()
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()
            self._wake = None
            await self._last_checkpoint()

    async def _attempt(self) -> bool:
        """One catch-up; a failure (the index or the log is down) is reported, not raised."""
        try:
            await self._catch_up()
            return True
        except Exception as exc:
            self.figures.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("projector worker: catching up failed, retrying in %.1f s: %s", IDLE_SECONDS, exc)
            return False

    async def _until_woken(self, waiting: Awaitable[object]) -> None:
        """Await ``waiting`` unless :meth:`stop` comes first (then it is cancelled)."""
        assert self._wake is not None
        task = asyncio.ensure_future(waiting)
        stop = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, stop):
                pending.cancel()
            results = await asyncio.gather(task, stop, return_exceptions=True)
        error = results[0]
        if isinstance(error, Exception) and not isinstance(error, asyncio.CancelledError):
            self.figures.last_error = f"{type(error).__name__}: {error}"
            logger.warning("projector worker: waiting for the log failed: %s", error)

    async def _last_checkpoint(self) -> None:
        try:
            await self.memory.projector.checkpoint()
        except Exception as exc:  # closing the Memory tries once more; the next start re-applies a little
            logger.warning("projector worker: could not save the checkpoint on stop: %s", exc)

    # -- health ----------------------------------------------------------------------------------

    async def report(self) -> tuple[int, dict[str, Any]]:
        """``GET /health``: the Memory's ``health()`` and the worker's figures, with 200 when the
        log and the index answer and the lag is bounded (nothing waiting, or the oldest event not
        yet applied is at most ``max_lag_seconds`` old), else 503."""
        health = await self.memory.ahealth()
        log, index = health["log"], health["index"]
        lag_seconds = index["lag_seconds"]
        bounded = index["lag_events"] == 0 or (lag_seconds is not None and lag_seconds <= self.max_lag_seconds)
        ok = bool(log["ok"] and index["ok"] and index["started"] and bounded)
        return (200 if ok else 503), {"ok": ok, **health, "worker": self.figures.as_dict()}

    def close(self) -> None:
        """Stop counting (the Memory stays open: its owner closes it)."""
        with contextlib.suppress(ValueError):  # already unregistered
            self.memory.plugins.manager.unregister(self._counter)


@contextlib.contextmanager
def stop_on_signals(
    worker: ProjectorWorker, signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
) -> Iterator[None]:
    """Make SIGTERM and SIGINT (Ctrl-C) stop ``worker`` gracefully while inside the block: the step in
    progress finishes and the checkpoint is saved, instead of an exception tearing through it.
    A no-op off the main thread (only it may set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("projector worker: %s received, stopping", signal.Signals(signum).name)
        worker.stop()

    previous = {s: signal.signal(s, handle) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
