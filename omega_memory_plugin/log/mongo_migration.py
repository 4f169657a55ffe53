"""One-time copy of a log written with integer ``_id``s (``<prefix>commits``, before issue 10) into
the string-keyed chain (``<prefix>chain``).

The old collection is left untouched (a rollback to the previous release still finds it). The
copy is idempotent: processes that open the old log at the same time all copy, the unique ``_id``
index keeps one copy of each commit, and a duplicate is checked to hold the same events. Only a
process that has copied (or checked) every commit writes the ``migrated`` marker, so no process
appends to the new chain while part of the old one is missing from it. Writers of the previous
release must be stopped first: a commit they write to the old collection after the copy is not
seen (and one that disagrees with the new chain makes the copy fail with a message).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import BulkWriteError

from ..errors import EventLogError
from .mongo_codec import event_uuid, index_fields, position_id

log = logging.getLogger(__name__)

MARKER = "migrated"
BATCH = 500
_DUPLICATE = 11000


def converted(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An old commit in the new layout: a padded string ``_id`` and the ``ns`` scopes."""
    return {
        **doc,
        "_id": position_id(int(doc["_id"])),
        **index_fields((e["c"], e["ns"], e["m"]) for e in doc["events"]),
    }


async def migrate_if_needed(old: Any, chain: Any, meta: Any) -> int | None:
    """Copy ``old`` into ``chain`` unless that was done; the start of the last commit copied
    (for the tail document), or None if there was nothing to do."""
    if await meta.find_one({"_id": MARKER}) is not None:
        return None
    if await old.find_one({}, {"_id": 1}) is None:
        return None  # a new log, or one never written by the previous release
    log.warning(
        "the MongoDB log in %s uses the layout before issue 10 (integer _id); copying it once into %s. "
        "%s is left as it is; stop writers of older releases before this runs",
        old.full_name,
        chain.full_name,
        old.full_name,
    )
    copied, last, batch = 0, None, []
    async for doc in old.find({}).sort("_id", 1):
        batch.append(converted(doc))
        if len(batch) == BATCH:
            await _insert(chain, batch)
            copied, last, batch = copied + len(batch), batch[-1]["_id"], []
    if batch:
        await _insert(chain, batch)
        copied, last = copied + len(batch), batch[-1]["_id"]
    await meta.replace_one(
        {"_id": MARKER},
        {"_id": MARKER, "from": old.name, "commits": copied, "at": datetime.now(UTC)},
        upsert=True,
    )
    log.warning("copied %d commits of %s into %s", copied, old.full_name, chain.full_name)
    return int(last) if last is not None else None


async def _insert(chain: Any, batch: list[dict[str, Any]]) -> None:
    try:
        await chain.insert_many(batch, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != _DUPLICATE for error in errors):
            raise
        # Another process copied these first, or a commit of the new layout sits at the same
        # position: only the former is the same commit.
        for error in errors:
            mine = batch[error["index"]]
            theirs = await chain.find_one({"_id": mine["_id"]}, {"events.id": 1})
            if theirs is None or _ids(theirs) != _ids(mine):
                raise EventLogError(
                    f"the MongoDB log holds a different commit at position {int(mine['_id'])} in the old and the new "
                    "layout: a writer of an older release wrote after the upgrade; stop it and restore one of them"
                ) from exc


def _ids(doc: Mapping[str, Any]) -> list[Any]:
    return [event_uuid(item["id"]) for item in doc["events"]]
