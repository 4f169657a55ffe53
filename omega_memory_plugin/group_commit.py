"""Group commit: the commits that wait while one is being written are gathered into one.

A commit costs a durable write (one fsync of the SQLite WAL, one document insert in MongoDB), a
key lookup to seal it and one index apply, whatever it holds. Writers that call concurrently
(threads, coroutines, provider ``store()`` calls) therefore queue behind each other one commit at
a time. Here every writer joins a queue, and one task commits what the queue holds, after one
turn of the engine's loop so that the calls ready by then join: a lone writer's commit holds only
its writes, and writers that arrive while a commit is written are committed together in the next
one (by :class:`Memory`'s group step). Each keeps its own answer: :meth:`CommitGroups.submit` returns that writer's events or raises that
writer's error, and returns only once its events are durable and applied.

This module only gathers and hands out; what may share a commit, and what happens when a shared
commit is refused, is decided in ``Memory._commit_group``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from .events import Event
from .gc_pause import collection_paused
from .staging import StagedWrite

#: The most writes one shared commit gathers: a bound on the latency of the writers in it and on
#: the commit's size (MongoDB stores a commit in one document; a commit over its limit is refused
#: and its members then commit one by one). 500 concurrent writers formed groups of up to 476.
MAX_GROUP_WRITES = 2000


@dataclass(slots=True)
class Waiting:
    """One writer's commit, waiting for a group: its writes and where its answer goes."""

    writes: Sequence[StagedWrite]
    answer: asyncio.Future[list[Event]]

    def settle(self, events: list[Event] | None = None, error: BaseException | None = None) -> None:
        if self.answer.done():  # its writer gave up (cancelled): the commit went on without it
            return
        if isinstance(error, asyncio.CancelledError):
            self.answer.cancel()
        elif error is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(events or [])


class CommitGroups:
    """Gathers the commits of one engine loop; ``together`` commits a group (often of one) and
    settles every member (engine thread only)."""

    def __init__(
        self,
        together: Callable[[list[Waiting]], Awaitable[None]],
    ) -> None:
        self._together = together
        self._queue: deque[Waiting] = deque()
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None  # held: the loop keeps only a weak reference
        self.groups = 0  # shared commits made, for tests and benchmarks
        self.largest = 0  # the most writers one of them held

    async def submit(self, writes: Sequence[StagedWrite]) -> list[Event]:
        waiting = Waiting(writes, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if not self._busy:
            # Committed by a task of its own, not by this writer: cancelling one writer must not
            # cancel the commit it shares with others.
            self._busy = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await waiting.answer

    async def _drain(self) -> None:
        try:
            while True:
                # One turn of the loop first: writers whose calls are ready now join this group.
                await asyncio.sleep(0)
                group = self._take()
                if not group:
                    return
                if len(group) > 1:
                    self.groups += 1
                    self.largest = max(self.largest, len(group))
                try:
                    with collection_paused():
                        await self._together(group)
                except BaseException as exc:  # a bug, or the engine stopping: nobody may wait forever
                    for waiting in group:
                        waiting.settle(error=exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._busy = False

    def _take(self) -> list[Waiting]:
        group: list[Waiting] = []
        size = 0
        while self._queue and (not group or size + len(self._queue[0].writes) <= MAX_GROUP_WRITES):
            waiting = self._queue.popleft()
            if waiting.answer.done():  # cancelled while it waited: its writes are not made
                continue
            group.append(waiting)
            size += len(waiting.writes)
        return group
