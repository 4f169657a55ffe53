"""The ring: copies of the latest commits in a small collection, so that learning what other
writers just committed costs a lookup among :data:`SLOTS` documents, whatever the log's length.

``<prefix>recent`` holds one document per slot, ``{_id: "s<start % SLOTS>", commit: {...}}``: the
writer of a commit copies it there right after its insert (one small update). Consecutive commits
never share a slot, and a commit's copy is overwritten only by one starting at least
:data:`SLOTS` positions later. A commit larger than :data:`WHOLE_BYTES` is copied as a ``big``
marker (start, size, time) and whoever needs it reads it from the chain.

It is a **hint**, never the truth: the copy follows the insert without a transaction, so it may
lag or be missing (the writer died in between), and a writer that copies very late can even put
an older commit back over the newer one :data:`SLOTS` positions later (a condition on the update
would prevent that, but costs a scan of the ring per commit on FerretDB). Readers cope: a copy
they need and do not find sends them to the chain. What it holds is always
true, though: each copy is a real commit, written by the writer that inserted it. So an instance
learns commits from it exactly as from the chain, and when the copy it needs is missing it reads
the chain; an insert guarded by the unique ``_id`` still decides every position.

Why it exists: every append first learns what others committed (that is what makes appends fair,
docs/mongo-log.md), and so does every projector that follows the log. On MongoDB those reads of
the chain are index lookups and the ring only saves a little. On FerretDB 1.24 (the tests' server)
every read of the chain is a pass over the whole collection, even an exact ``_id`` match, so
without the ring the cost of an append would grow with the log. The price on MongoDB is one small
extra write per commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .mongo_codec import start_of

SLOTS = 128
WHOLE_BYTES = 64 * 1024  # commits up to this size are copied whole (e.g. ten 1,536-d memories)


def slot_id(start: int) -> str:
    """``_id`` of the ring document for the commit starting at ``start``."""
    return f"s{start % SLOTS}"


def ring_update(doc: Mapping[str, Any], size: int) -> dict[str, Any]:
    """The update a writer applies to the slot of commit ``doc`` (``size`` BSON bytes) after its
    insert: the whole commit, or for a large one a marker to read it from the chain."""
    if size <= WHOLE_BYTES:
        copy: Mapping[str, Any] = doc
    else:
        copy = {"_id": doc["_id"], "n": doc["n"], "at": doc["at"], "big": True}
    return {"$set": {"commit": dict(copy)}}


def copy_in(slot: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The commit copied in a ring document (whole, or a ``big`` marker), if any."""
    return None if slot is None else slot.get("commit")


def copy_of(slot: Mapping[str, Any] | None, start: int) -> Mapping[str, Any] | None:
    """The copy of the commit starting at ``start`` in its slot document, if the slot holds it."""
    copy = copy_in(slot)
    return copy if copy is not None and start_of(copy) == start else None


def overtaken(slot: Mapping[str, Any] | None, start: int) -> bool:
    """Whether the slot of ``start`` already holds a later commit: the copy of the commit at
    ``start`` (if one was written) has been overwritten, so it is at least :data:`SLOTS` positions
    behind the chain end."""
    copy = copy_in(slot)
    return copy is not None and start_of(copy) > start


def is_marker(copy: Mapping[str, Any]) -> bool:
    """Whether a copy is a large commit's marker (read the commit from the chain)."""
    return "events" not in copy


def is_whole(doc: Mapping[str, Any]) -> bool:
    """Whether a copy (or a commit read from the chain) holds its events' data, not only what
    learning needs."""
    events = doc.get("events") or [{}]
    return "sv" in events[0]
