"""Expiry, decided from the log: ``upsert(..., ttl=...)`` or ``expires_at=`` writes the time the
memory leaves every read into its event, and each read compares it with *now*.

There is no sweeper and no hidden state: the rule needs only the event and the time of the read,
so a rebuild answers as the live index did, and ``memory.as_of(t)`` answers as the memory did at
``t`` (its reads decide expiry at ``t``: a memory that expired after ``t`` shows there). The
memory's history keeps the event that carries the expiry, so ``history()`` and ``explain()`` say
why it is gone. Search, scan and count filter in the index (:class:`~.filters.Unexpired`, added
to every query here); get drops expired records.

Example::

    memory.upsert("the door code is 4711", id="code", ttl=timedelta(hours=1))
    memory.get("code")  # [] an hour later; memory.as_of(ten_minutes_ago).get("code") still finds it
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .errors import InvalidInputError
from .filters import And, Node, Unexpired
from .records import MemoryRecord


def expiry(ttl: float | timedelta | None, expires_at: datetime | None, now: datetime) -> datetime | None:
    """When a memory written at ``now`` with these arguments expires (None: never)."""
    if ttl is not None and expires_at is not None:
        raise InvalidInputError("give ttl= or expires_at=, not both")
    if ttl is not None:
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds < 1e11:
            raise InvalidInputError(f"ttl is a positive number of seconds (or a timedelta), got {ttl!r}")
        return now + timedelta(seconds=seconds)
    if expires_at is not None:
        if not isinstance(expires_at, datetime):
            raise InvalidInputError(f"expires_at is a datetime, got {expires_at!r}")
        return expires_at.replace(tzinfo=UTC) if expires_at.tzinfo is None else expires_at.astimezone(UTC)
    return None


def unexpired(node: Node | None, now: float) -> Node:
    """The user's filter, and "not expired at ``now``"."""
    live = Unexpired(now)
    return live if node is None else And((node, live))


def without_expiry(node: Node | None) -> Node | None:
    """``node`` without the condition :func:`unexpired` added: for an index that knows it holds
    no memory with an expiry, so has nothing to leave out."""
    if isinstance(node, Unexpired):
        return None
    if isinstance(node, And) and len(node.items) == 2 and isinstance(node.items[1], Unexpired):
        return node.items[0]
    return node


def expired(record: MemoryRecord, now: float) -> bool:
    return record.expires_at is not None and record.expires_at.timestamp() <= now
