"""Waiting for appends to a MongoDB log with a change stream, where the server has them.

A projector worker spends most of its life waiting for the next append
(:meth:`~omega_memory_plugin.log.base.EventLog.wait_for_append`). Polling ``last_position`` works
everywhere but costs a query every ``poll`` seconds and adds up to ``poll`` to every
read-your-writes wait; a change stream on the log's commit collection wakes the worker the moment
a commit is inserted. Change streams need a replica set (or a sharded cluster): a standalone
``mongod`` and FerretDB answer ``watch()`` with an error, and then the worker polls.

The stream only says *that* something was inserted; the position is still read with
``last_position()``, which walks the commit chain without gaps, so a waiter never learns of a
position before everything below it is readable (the "no reader skips an event" rule stays in
one place, the log).

Wiring, in :class:`~omega_memory_plugin.log.mongo.MongoEventLog`::

    async def wait_for_append(self, after: int, timeout: float, poll: float = POLL_SECONDS) -> int:
        return await wait_for_append_watching(self, self.chain, after, timeout, poll)
"""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.errors import OperationFailure, PyMongoError

from .base import POLL_SECONDS, EventLog

logger = logging.getLogger(__name__)

__all__ = ["wait_for_append_watching", "wait_with_change_stream", "watches"]

# Commits are inserted, never updated in a way a waiter cares about.
_INSERTS = [{"$match": {"operationType": "insert"}}]
# The server holds each getMore this long at most, so a timeout is honoured to within it without
# cancelling a request in flight (which would leave the cursor in an unknown state).
_AWAIT_MS_MAX = 1000

# Logs whose server said no to a change stream: they poll from then on, instead of asking again
# (and logging again) on every wait. Weak, so a closed log is forgotten.
_NO_CHANGE_STREAMS: weakref.WeakSet[EventLog] = weakref.WeakSet()


async def _maybe_await(value: Any) -> Any:
    # PyMongo's async watch() is a coroutine; Motor's returns the stream at once.
    return await value if inspect.isawaitable(value) else value


async def wait_with_change_stream(collection: Any, ready: Callable[[], Awaitable[bool]], timeout: float) -> bool | None:
    """Wait until ``ready()`` is true, re-checking it whenever a document is inserted into
    ``collection``; give up after ``timeout`` seconds.

    Returns True once ready, False on timeout, and None if the server has no change streams
    (FerretDB, a standalone ``mongod``): the caller then polls. Other driver errors propagate.

    The stream is opened *before* the first ``ready()`` check: an insert that lands between the
    two is then either seen by the check or delivered by the stream, never lost.

    Example::

        async def past() -> bool:
            return await log.last_position() > after

        if await wait_with_change_stream(log.chain, past, 5.0) is None:
            ...  # poll instead
    """
    await_ms = max(1, min(_AWAIT_MS_MAX, int(timeout * 1000)))
    try:
        stream = await _maybe_await(collection.watch(_INSERTS, max_await_time_ms=await_ms))
    except OperationFailure as exc:
        logger.debug("no change stream on %s: %s", getattr(collection, "full_name", collection), exc)
        return None
    answered = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            if await ready():
                return True
            if time.monotonic() >= deadline:
                return False
            try:
                await stream.try_next()  # an insert, or None after await_ms: either way, look again
            except OperationFailure:
                if answered:
                    raise
                return None  # Motor opens the stream lazily: the refusal comes with the first read
            answered = True
    finally:
        await _maybe_await(stream.close())


async def wait_for_append_watching(
    log: EventLog, collection: Any, after: int, timeout: float, poll: float = POLL_SECONDS
) -> int:
    """:meth:`EventLog.wait_for_append` for a log whose commits are inserted into ``collection``:
    with a change stream where the server has them, else by polling (the base implementation).

    A server that refuses change streams is remembered per log (one refusal, one info line); a
    stream that fails on the way (a network error, a failover) falls back to polling for that
    one wait and tries the stream again next time.
    """

    async def past() -> bool:
        return await log.last_position() > after

    if log not in _NO_CHANGE_STREAMS:
        try:
            answer = await wait_with_change_stream(collection, past, timeout)
        except PyMongoError as exc:
            logger.debug("change stream on %s failed, polling this once: %s", log.name, exc)
        else:
            if answer is not None:
                return await log.last_position()
            _NO_CHANGE_STREAMS.add(log)
            logger.info(
                "the MongoDB server of %s has no change streams (FerretDB, or a mongod that is not a replica set "
                "member): waiting for appends by polling every %.2f s",
                log.name,
                poll,
            )
    return await EventLog.wait_for_append(log, after, timeout, poll)


def watches(log: EventLog) -> bool:
    """False once ``log``'s server refused a change stream (it polls from then on); for tests
    and health reports."""
    return log not in _NO_CHANGE_STREAMS
