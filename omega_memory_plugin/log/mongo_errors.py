"""Which MongoDB errors are worth waiting out, and what the user is told when one is not.

Two kinds, handled differently:

* **Transient** (the server is restarting, a failover, a dropped connection): retried with a
  jittered backoff from 50 ms doubling to 1 s, for ``OMEGA_MONGO_TIMEOUT_SECONDS``. Appends are
  idempotent by event id, so a retry never duplicates.
* **Permanent** (a host name that does not resolve, refused credentials, a malformed URL or
  option, a missing permission): waiting cannot fix them, so they raise at once with a short
  message that names the setting to change. A DNS failure reaches the driver's monitor at once but
  surfaces only as a server-selection timeout; it is recognised by its resolver message.

Every message stays short (under 200 characters for the permanent ones): the driver's own text
(a whole topology description, about 700 characters) is cut down to its first reason.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pymongo import IndexModel
from pymongo.errors import (
    AutoReconnect,
    ConfigurationError,
    ConnectionFailure,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from ..errors import EventLogError

T = TypeVar("T")

TRANSIENT = (AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError)
SETTING = "OMEGA_LOG_URL"

# What resolvers say when a name does not exist (glibc, macOS/BSD, Android, Windows). "Temporary
# failure in name resolution" (EAI_AGAIN) is left out on purpose: a DNS server that is down may
# come back, so that one is waited out like any unreachable server.
_NO_SUCH_HOST = re.compile(
    r"Name or service not known|nodename nor servname|No address associated with hostname|getaddrinfo failed"
)
_PERMANENT_GAI = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME), socket.EAI_FAIL}
_AUTH_FAILED, _UNAUTHORIZED = 18, 13


def first_reason(exc: BaseException, limit: int = 90) -> str:
    """The driver's message cut to its first reason: ``host:port: [Errno 111] Connection refused``."""
    text = getattr(exc, "details", None) or {}
    message = text.get("errmsg") if isinstance(text, dict) else None
    reason = str(message or exc).split(" (configured timeouts", 1)[0].split(", Timeout:", 1)[0]
    reason = reason.split("\n", 1)[0].strip()
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def permanent_error(exc: BaseException, what: str) -> EventLogError | None:
    """The error to raise at once for ``exc``, or None when it is worth retrying."""
    if isinstance(exc, ServerSelectionTimeoutError) and _NO_SUCH_HOST.search(str(exc)):
        return EventLogError(f"cannot resolve the MongoDB host ({first_reason(exc, 80)}): fix the host in {SETTING}")
    if isinstance(exc, ConfigurationError):
        return EventLogError(f"invalid MongoDB configuration ({first_reason(exc, 100)}): fix {SETTING}")
    if isinstance(exc, OperationFailure):
        if exc.code == _AUTH_FAILED:
            return EventLogError(
                f"MongoDB refused the credentials ({first_reason(exc, 60)}): fix the user and password in {SETTING}"
            )
        if exc.code == _UNAUTHORIZED:
            return EventLogError(
                f"{what} is not allowed for this MongoDB user ({first_reason(exc, 60)}): "
                f"grant it readWrite or change the user in {SETTING}"
            )
        return EventLogError(f"{what} failed on the MongoDB server: {first_reason(exc, 120)}")
    return None


def unreachable(exc: BaseException, what: str, timeout: float) -> EventLogError:
    """Raised when a transient error outlasted the timeout."""
    landed = (
        " (a write that failed so may have landed: check history() before writing again)" if what == "append" else ""
    )
    return EventLogError(
        f"{what} failed: the MongoDB server stayed unreachable for {timeout:g} s ({first_reason(exc, 70)}); "
        f"check the server and {SETTING}{landed}"
    )


class Backoff:
    """Jittered exponential waits (50 ms doubling to 1 s) until a deadline. The jitter keeps
    writers that failed together from retrying in lockstep."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.delay = 0.05

    async def wait(self, exc: BaseException, what: str) -> None:
        """Sleep before the next try, or raise :func:`unreachable` if the deadline would pass."""
        pause = self.delay * random.uniform(0.5, 1.0)
        if time.monotonic() + pause > self.deadline:
            raise unreachable(exc, what, self.timeout) from exc
        await asyncio.sleep(pause)
        self.delay = min(self.delay * 2, 1.0)


def translate(exc: PyMongoError, what: str) -> EventLogError | None:
    """The error to raise for a driver error, or None when it is transient (worth a retry)."""
    permanent = permanent_error(exc, what)
    if permanent is not None:
        return permanent
    if isinstance(exc, TRANSIENT):
        return None
    return EventLogError(f"{what} failed: {first_reason(exc, 120)}")


async def retrying(what: str, call: Callable[[], Awaitable[T]], timeout: float) -> T:
    """``call()``, retried on transient errors for ``timeout`` seconds; every driver error that
    escapes is an :class:`EventLogError` with a short message."""
    backoff = Backoff(timeout)
    while True:
        try:
            return await call()
        except PyMongoError as exc:
            error = translate(exc, what)
            if error is not None:
                raise error from exc
            await backoff.wait(exc, what)


async def check_hosts_resolve(hosts: Sequence[tuple[str, int]], wait: float = 5.0) -> None:
    """Fail at once when no seed host of the URL has a name the resolver knows.

    The driver would find out just as fast but report it only at its server-selection timeout.
    One resolvable host is enough (a replica set may list a host that is being replaced), and a
    resolver that is slow or temporarily failing is left to the driver's own retry."""
    if not hosts:
        return
    loop = asyncio.get_running_loop()
    failures: list[socket.gaierror] = []
    for host, port in hosts:
        try:
            await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), wait)
            return
        except socket.gaierror as exc:
            if exc.errno not in _PERMANENT_GAI:
                return
            failures.append(exc)
        except (TimeoutError, OSError):
            return
    names = ", ".join(host for host, _ in hosts)
    reason = failures[0].strerror if failures else "unknown host"
    names = names if len(names) <= 60 else names[:59] + "…"
    raise EventLogError(f"cannot resolve the MongoDB host {names} ({reason}): fix the host in {SETTING}")


_INDEX_RACE_CODES = {68, 85, 86}  # already exists / options conflict: another process won the race


async def ensure_indexes(collection: Any, models: Sequence[IndexModel]) -> None:
    """Create the indexes of ``models`` that ``collection`` lacks, tolerating a concurrent creator.

    One round trip when they exist. Missing ones are created one per command: FerretDB 1.24 drops
    the connection (a server-side panic) on a createIndexes of several indexes that already exist,
    which a concurrent opener can make happen."""
    existing = await collection.index_information()
    for model in models:
        if model.document["name"] in existing:
            continue
        try:
            await collection.create_indexes([model])
        except OperationFailure as exc:
            if exc.code not in _INDEX_RACE_CODES:
                raise
