"""External projector mode (``projector="external"``): the application process writes to the log
and reads the index, and a separate worker (``omega-memory project --follow``,
:mod:`omega_memory_plugin.worker`) is the only process that applies the log to the index.

What an external-mode process relies on is the worker's **checkpoint** for the generation it
reads (``log.get_checkpoint(projection.name)``): the projector saves it only after the index
holds every event up to it (:mod:`omega_memory_plugin.projector`), and the worker saves it right
after each catch-up. So "the checkpoint reached my last write" means "the index answers with my
write", which is read-your-writes without applying anything here.

Example::

    memory = Memory(log_url="mongodb://db/omega", index_url="http://qdrant:6333", projector="external")
    memory.upsert("Ada prefers green tea", id="tea")   # returns once the worker has applied it
    memory.get("tea")                                   # (or after projector_wait_seconds, warned)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .errors import ProjectorModeError
from .index.base import Projection
from .index.memory import InMemoryProjection
from .log.base import EventLog
from .projector import Projector
from .urls import scheme

logger = logging.getLogger(__name__)

# Index URL schemes whose index lives inside one process: no worker can write to what this process
# reads. (A Qdrant server, http(s)://, is what external mode is for.)
_ONE_PROCESS_SCHEMES = {
    "edge": "an embedded Qdrant Edge index (edge://, the default under OMEGA_PATH) is owned by one process",
    "memory": "an in-memory index (memory://) lives inside one process",
    "qdrant-local": "a qdrant-client local-mode index (qdrant-local://) lives inside one process",
}
# First and longest pause between two looks at the checkpoint: short first (the worker usually
# needs a few milliseconds), then backing off so that a slow worker is not hammered.
_FIRST_LOOK = 0.005
_LONGEST_LOOK = 0.1
# How often a long wait stops to look for a generation the worker may have moved to.
_FOLLOW_EVERY = 0.5


def check_shared(index_url: str | None, index: Projection | None) -> None:
    """Raise :class:`ProjectorModeError` unless the index can be shared with a worker process.

    Checked from the URL before the index is opened (an Edge index takes its directory lock when
    it opens), or from the object the caller passed.

    >>> check_shared("http://localhost:6333", None)
    >>> check_shared("edge:///tmp/m/index", None)
    Traceback (most recent call last):
    ...
    omega_memory_plugin.errors.ProjectorModeError: projector="external" needs an index that a projector worker ...
    """
    if index is not None:
        problem = None
        if index.blocking:
            problem = f"the index {type(index).__name__} is an embedded engine owned by one process"
        elif isinstance(index, InMemoryProjection):
            problem = "an in-memory index lives inside one process"
    else:
        problem = _ONE_PROCESS_SCHEMES.get(scheme(index_url or ""))
    if problem:
        raise ProjectorModeError(
            f'projector="external" needs an index that a projector worker in another process can write to, and '
            f"{problem}: use a Qdrant server URL (OMEGA_INDEX_URL=http://host:6333) with "
            f'`omega-memory project --follow`, or keep the default projector="inline"'
        )


async def observe(projector: Projector) -> None:
    """Start ``projector`` as an observer of the worker: it never applies and never saves a
    checkpoint; its position is the worker's checkpoint, which the index is known to hold."""
    projector.position = projector.checkpointed = await projector.log.get_checkpoint(projector.projection.name)
    projector.started = True


async def refresh(projector: Projector) -> None:
    """Move an observer's position to the worker's current checkpoint (without waiting)."""
    reached = await projector.log.get_checkpoint(projector.projection.name)
    projector.position = projector.checkpointed = max(projector.position, reached)


async def wait_for_checkpoint(log: EventLog, name: str, position: int, timeout: float) -> int:
    """Wait until the checkpoint ``name`` is at ``position`` or past it, at most ``timeout``
    seconds; return the checkpoint last read (below ``position`` on timeout).

    Checkpoints are polled: a checkpoint is a single small record in every log, and a read costs
    less than keeping a change stream open per application process.
    """
    deadline = time.monotonic() + timeout
    pause = _FIRST_LOOK
    while True:
        reached = await log.get_checkpoint(name)
        remaining = deadline - time.monotonic()
        if reached >= position or remaining <= 0:
            return reached
        await asyncio.sleep(min(pause, remaining))
        pause = min(pause * 2, _LONGEST_LOOK)


async def catch_up_with_worker(
    current: Callable[[], Projector],
    follow: Callable[[], Awaitable[None]],
    position: int,
    timeout: float,
    *,
    warn: bool = True,
) -> bool:
    """Read-your-writes in external mode: wait (bounded by ``timeout``) until the worker's
    checkpoint for the index this process reads reaches ``position``; move the projector's
    position to what was seen. Returns False, with a warning (``warn``), if it did not get there
    (the log is unaffected: the write is durable).

    ``current()`` is the process's projector (an observer, :func:`observe`) and ``follow()`` moves
    it to a generation another process promoted. It is called between short slices of the wait:
    once a rebuild elsewhere is promoted the worker moves on and stops advancing the old
    generation's checkpoint, so a process still waiting on it would wait in vain. (``follow()``
    looks at the server at most once per lease renewal, so calling it often costs nothing.)

    A position the projector already saw costs nothing: reads after a write that was already
    waited for do not touch the log.
    """
    deadline = time.monotonic() + timeout
    while True:
        await follow()
        projector = current()
        if position <= projector.position:
            return True
        name = projector.projection.name
        remaining = max(0.0, deadline - time.monotonic())
        try:
            reached = await wait_for_checkpoint(projector.log, name, position, min(remaining, _FOLLOW_EVERY))
        except Exception as exc:  # the log does not answer: the write is durable, reads go on as they can
            if warn:
                logger.warning("could not read the projector worker's checkpoint for %s: %s", name, exc)
            return False
        projector.position = projector.checkpointed = max(projector.position, reached)
        if reached >= position:
            return True
        if time.monotonic() >= deadline:
            break
    if warn:
        logger.warning(
            "the projector worker has not applied position %d to %s within %.1f s (its checkpoint is at %d): "
            "the write is safe in the log, but reads may not show it yet; is `omega-memory project --follow` "
            "running? (see health()['index']['lag_events'])",
            position,
            name,
            timeout,
            reached,
        )
    return False
