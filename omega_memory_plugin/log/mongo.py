"""The production EventLog: MongoDB through PyMongo's async API (``pymongo.AsyncMongoClient``).

Selected by ``mongodb://`` / ``mongodb+srv://`` URLs (database from the URL path, default
``omega``), or built from a client or database the application already has (PyMongo async or
Motor). The design and its guarantees are in docs/mongo-log.md; in short:

* **A chain of commit documents.** A commit is one document whose ``_id`` is the position of its
  first event (a zero-padded string, :mod:`.mongo_codec`) and which holds ``n`` events; the next
  commit must take ``_id + n``. A writer inserts at the chain end; the unique ``_id`` index lets
  exactly one writer win a position. Only that insert and plain reads are used (no counter, no
  transaction), which FerretDB and MongoDB both support. A commit at ``P`` can only be written by
  a writer that read the commit ending at ``P - 1``, so positions have no gaps and a reader never
  finds a new event below one it has seen.
* **Nothing that grows with history at open.** An instance starts from the latest commit copied
  in the ring (:mod:`.mongo_ring`, copies of the latest commits in a small collection) and checks
  the chain end with one exact ``_id`` lookup. It keeps a bounded cache of stream heads and event
  ids (:mod:`.mongo_state`); what the cache does not cover it looks up through indexes, as of the
  chain end it inserts at, so versions, ``expected_versions`` and idempotency stay exact.
* **Fair appends.** Every append first learns what others committed (a lookup in the ring), and
  a writer that lost a position learns only the commits that beat it, then retries; winners and
  losers pay the same. ``read()`` of what others just appended (every ``Memory`` projects it)
  takes recent commits from the ring instead of a range read of the chain.
* **Errors** are translated at this boundary (:mod:`.mongo_errors`): transient ones are retried
  for ``timeout`` seconds, permanent ones (DNS, credentials, bad URL) raise at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from bson import Binary, encode
from pymongo import AsyncMongoClient, IndexModel
from pymongo.errors import ConfigurationError, DuplicateKeyError, PyMongoError
from pymongo.uri_parser import parse_uri

from ..errors import ConcurrencyError, EventLogError, InvalidInputError
from ..events import Event, StreamKey
from ..settings import Settings
from ..urls import scheme
from .base import POLL_SECONDS, Envelope, EventLog, StreamHead, as_utc
from .mongo_codec import (
    ENVELOPE_FIELDS,
    WITHOUT_DATA,
    commit_document,
    commit_envelopes,
    commit_heads,
    decode_commit,
    encode_event,
    now_ms,
    position_id,
    redacted_fields,
    scope_key,
    start_of,
    stream_key,
    to_ms,
)
from .mongo_errors import SETTING, Backoff, check_hosts_resolve, ensure_indexes, first_reason, retrying, translate
from .mongo_migration import migrate_if_needed
from .mongo_ring import SLOTS, copy_in, copy_of, is_marker, is_whole, overtaken, ring_update, slot_id
from .mongo_state import ChainCache, StateView
from .mongo_watch import wait_for_append_watching
from .versioning import (
    ERASED,
    UPSERTED,
    NamespaceKey,
    erased_at,
    is_memory,
    namespace_stream,
    plan_commit,
    stream_heads,
)

__all__ = ["MAX_COMMIT_BYTES", "MongoEventLog", "database_name", "mongo_event_log"]

T = TypeVar("T")
logger = logging.getLogger(__name__)


class _Positioned(Protocol):
    @property
    def position(self) -> int: ...


P = TypeVar("P", bound=_Positioned)
Reach = Literal["ring", "acknowledged", "chain end"]  # how far _advance learns (see there)

MAX_COMMIT_BYTES = 15 * 1024 * 1024  # MongoDB refuses documents over 16 MB; keep headroom
RECENT_COMMITS = 256  # whole commits an instance keeps to serve reads of what it just learned
CATCH_UP_COMMITS = RECENT_COMMITS  # behind by up to this many, learn them with one read; further, skip
LOOKUPS_BEFORE_BULK = 8  # commits a read looks up slot by slot; a longer one reads the whole ring at once
CHAIN_LOOKUPS_BEFORE_RANGE = 4  # commits learned by exact lookups (the ring lagging) before one range read
LEARNED_STARTS = 256  # starts of the latest commits learned, to find where a read's first commit begins
LOSER_RING_READS = 5  # times a loser looks for the winner's commit in the ring before reading the chain
LOSER_FIRST_PAUSE = 0.006  # seconds before its first look until it has timed its own copies; doubled each time

# Kept for benchmarks/mongo.py, which encodes raw documents the way the log does.
_encode_event = encode_event

#: The chain's secondary indexes, all built for MongoDB's planner (FerretDB 1.24 scans instead):
#: a stream's latest commits (cold heads, ``stream()``), a scope's latest commits (the erase
#: check), time (``position_at``), event ids (idempotency) and event types (``collections()``).
CHAIN_INDEXES = [
    IndexModel([("keys", 1), ("_id", -1)], name="stream_latest"),
    IndexModel([("ns", 1), ("_id", -1)], name="scope_latest"),
    IndexModel([("at", 1), ("_id", 1)], name="recorded_at"),
    IndexModel([("events.id", 1)], name="event_ids"),
    IndexModel([("events.type", 1)], name="event_types"),
]


class MongoEventLog(EventLog):
    """EventLog in one MongoDB database: ``<prefix>chain`` (the commits), ``<prefix>recent`` (the
    ring: copies of the latest commits), ``<prefix>meta`` (the migration marker) and
    ``<prefix>checkpoints``.

    Example::

        log = MongoEventLog(AsyncMongoClient("mongodb://localhost:27017")["omega"])
        await log.open()

    ``database`` may be a PyMongo ``AsyncDatabase`` or a Motor ``AsyncIOMotorDatabase``. Its
    client runs on the Memory's engine loop, so it must be dedicated to this log (async clients are
    bound to one event loop); ``close_client=True`` closes it with the log.
    Transient network errors are retried (appends are idempotent by event id, so a retry can
    never duplicate) until ``timeout`` seconds have passed; then :class:`EventLogError` is raised.
    ``cache_size`` bounds the stream heads and the event ids kept in memory (each); the rest is
    looked up when needed. ``hosts`` are the URL's seed hosts, checked to resolve at open.

    ``commits`` is the collection of the layout before issue 10 (integer ``_id``): copied once
    into ``chain`` at open (:mod:`.mongo_migration`) and otherwise never read.
    """

    def __init__(
        self,
        database: Any,
        *,
        prefix: str = "omega_",
        timeout: float = 30.0,
        close_client: bool = False,
        cache_size: int = 100_000,
        hosts: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.db = database
        self.prefix = prefix
        self.chain = database[f"{prefix}chain"]
        self.commits = database[f"{prefix}commits"]
        self.meta = database[f"{prefix}meta"]
        self.recent = database[f"{prefix}recent"]
        self.checkpoints = database[f"{prefix}checkpoints"]
        self.timeout = timeout
        self.name = f"mongo:{database.name}/{prefix}"
        self._close_client = close_client
        self._hosts = tuple(hosts)
        self._next = 1  # the chain end: the position the next commit must take, as far as known
        self._last_at: datetime | None = None  # `at` of the commit ending at _next - 1
        self.cache = ChainCache(cache_size)
        self._view: StateView | None = None  # the state the running call plans with
        # How long this instance's own inserts took to reach the ring (moving average): a loser
        # waits about that long for the winner's copy, rather than polling the ring in between.
        self._copy_seconds = LOSER_FIRST_PAUSE
        # The latest whole commits learned (its own, and those copied in the ring), by start:
        # read() serves a range they cover without a query (the Memory's projector reads what
        # other writers appended between two of its own appends).
        self._recent: OrderedDict[int, Mapping[str, Any]] = OrderedDict()
        self._starts: OrderedDict[int, int] = OrderedDict()  # start -> n of the latest commits learned
        # One state change at a time per instance: coroutines of one Memory interleave at every
        # await, and the cache must stay exact as of _next (a lookup and the walk that moves _next
        # must not interleave).
        self._lock = asyncio.Lock()

    async def _retrying(self, what: str, call: Callable[[], Any]) -> Any:
        return await retrying(what, call, self.timeout)

    async def _commit_at(self, start: int, fields: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The commit starting at ``start`` (one exact lookup, retried), or None."""
        doc: dict[str, Any] | None = await self._retrying(
            "reading the log", lambda: self.chain.find_one({"_id": position_id(start)}, fields)
        )
        return doc

    # -- opening: constant time, whatever the log's length ---------------------------------------

    async def open(self) -> None:
        await check_hosts_resolve(self._hosts)
        await self._retrying("creating indexes", lambda: ensure_indexes(self.chain, CHAIN_INDEXES))
        await self._retrying("migrating the log", lambda: migrate_if_needed(self.commits, self.chain, self.meta))
        async with self._lock:
            last = await self._latest_copied()
            if last is None:  # no ring yet (a new log, or one migrated from the old layout)
                last = await self._retrying(
                    "reading the log", lambda: self.chain.find_one({}, ENVELOPE_FIELDS, sort=[("_id", -1)])
                )
            if last is not None:
                self._skip_to(start_of(last))
                await self._learn_entry(last)
            await self._advance("chain end")

    async def _ring(self) -> list[Mapping[str, Any]]:
        """Every commit copied in the ring (at most :data:`~.mongo_ring.SLOTS` small documents)."""
        slots = await self._retrying("reading the log", lambda: self.recent.find({}).to_list(None))
        return [copy for slot in slots if (copy := copy_in(slot)) is not None]

    async def _latest_copied(self) -> Mapping[str, Any] | None:
        copies = await self._ring()
        return max(copies, key=start_of) if copies else None

    async def _slot(self, start: int) -> Mapping[str, Any] | None:
        slot: Mapping[str, Any] | None = await self._retrying(
            "reading the log", lambda: self.recent.find_one({"_id": slot_id(start)})
        )
        return slot

    async def _copy_to_ring(self, doc: Mapping[str, Any], size: int) -> None:
        """Copy a commit this instance inserted to its ring slot, before the append returns: that
        is what lets readers learn every acknowledged commit from the ring (``_advance``). The
        commit has succeeded, so a failure here (after the usual retries) is logged, never raised;
        readers find the commit on the chain once a later one is copied."""

        async def copy() -> None:
            # two writers' first upserts of a slot can race (E11000): then update again
            for _ in range(2):
                try:
                    await self.recent.update_one({"_id": slot_id(start_of(doc))}, ring_update(doc, size), upsert=True)
                    return
                except DuplicateKeyError:
                    continue

        try:
            await self._retrying("copying a commit to the ring", copy)
        except EventLogError as exc:
            logger.warning("commit %s not copied to the ring: %s", doc["_id"], exc)

    # -- the chain end ------------------------------------------------------------------------------

    async def _advance(self, reach: Reach) -> None:
        """Learn the commits from ``_next`` on, as far as ``reach`` asks:

        * ``"ring"``: what the ring holds. The chain end may be further (the ring lags its
          commits by a moment): an append's insert then fails on ``_id`` and it learns more.
        * ``"acknowledged"``: at least every commit whose append has returned, because each append
          copies its commit to the ring before it returns. The chain is read only where the ring
          has a hole (a later commit is copied, the next one is not yet): reads stay off the
          chain, which on FerretDB is a scan of the whole log.
        * ``"chain end"``: exactly the chain end (a writer that lost a position, and ``open``).

        An instance further behind than the ring reaches (an idle process) skips to the latest
        commit copied there."""
        hits = 0  # commits in a row the ring did not have and the chain did
        while True:
            await self._learn_from_ring()
            if reach == "ring" or (reach == "acknowledged" and not await self._ring_holds_from(self._next)):
                return
            position = self._next
            doc = await self._commit_at(position, ENVELOPE_FIELDS)
            if doc is None:
                return
            self._learn(doc)
            hits += 1
            if hits >= CHAIN_LOOKUPS_BEFORE_RANGE:
                # The ring misses more than a moment's lag (a writer died before copying): the
                # rest in one range read, never a lookup per commit (each is a scan on FerretDB;
                # thousands of them once stalled a writer for minutes).
                await self._learn_chain_from_next()
                hits = 0

    async def _ring_holds_from(self, start: int) -> bool:
        """Whether the ring holds a copy of a commit at or after ``start`` (then the chain has a
        commit at ``start``: it has no gaps)."""
        found = await self._retrying(
            "reading the log", lambda: self.recent.find_one({"commit._id": {"$gte": position_id(start)}}, {"_id": 1})
        )
        return found is not None

    async def _learn_from_ring(self) -> None:
        """Learn from the ring while it holds the next commit; when it has already overwritten it
        (this instance is more than :data:`~.mongo_ring.SLOTS` commits behind), read the gap from
        the chain once or skip ahead."""
        while True:
            slot = await self._slot(self._next)
            copy = copy_of(slot, self._next)
            if copy is not None:
                await self._learn_entry(copy)
            elif (
                overtaken(slot, self._next)
                and (latest := await self._latest_copied())
                and start_of(latest) > self._next
            ):
                # A writer that was slow for a moment learns what it missed with one read and
                # keeps its cache (which, dropped, would make its next appends look up every
                # stream below the floor); an idle process skips.
                if start_of(latest) - self._next <= CATCH_UP_COMMITS:
                    before = self._next
                    await self._learn_chain_from_next()
                    if self._next == before:
                        return  # nothing to learn after all (the ring holds a stale copy): the walk decides
                else:
                    self._skip_to(start_of(latest))
            else:
                return

    async def _learn_chain_from_next(self) -> None:
        """Learn the commits from ``_next`` on with one ``_id`` range read of the chain (whole
        commits: the projector that follows reads the same ones from ``_recent``)."""

        async def learn() -> None:
            cursor = self.chain.find({"_id": {"$gte": position_id(self._next)}}).sort("_id", 1)
            try:
                async for doc in cursor:
                    if start_of(doc) != self._next:
                        return  # never learn past a gap (a commit inserted behind the cursor)
                    self._learn(doc)
            finally:
                await _close(cursor)

        await self._retrying("reading the log", learn)

    def _skip_to(self, start: int) -> None:
        """Go on from the commit at ``start`` (a real commit) without reading the ones before it:
        the cache, which would miss what was skipped, starts again there."""
        self.cache.drop(start)
        self._next = start

    async def _learn_entry(self, entry: Mapping[str, Any]) -> None:
        if is_marker(entry):  # a big commit: read it from the chain
            start = start_of(entry)
            doc = await self._commit_at(start, ENVELOPE_FIELDS)
            if doc is None:
                raise EventLogError(f"the commit at position {start} is missing from the MongoDB log")
            entry = doc
        self._learn(entry)

    def _learn(self, doc: Mapping[str, Any]) -> None:
        start = start_of(doc)
        if start != self._next:
            return  # not the next link (already learned, or read before a jump)
        self.cache.learn(start, commit_heads(doc), self._view)
        self._next = start + doc["n"]
        self._last_at = as_utc(doc["at"])
        self._starts[start] = doc["n"]
        while len(self._starts) > LEARNED_STARTS:
            self._starts.popitem(last=False)
        if is_whole(doc):
            self._recent[start] = doc
            while len(self._recent) > RECENT_COMMITS:
                self._recent.popitem(last=False)

    # -- what a call needs to know, looked up as of the chain end --------------------------------

    async def _state_for(self, keys: Collection[StreamKey], ids: Collection[UUID]) -> StateView:
        """The heads of ``keys`` and the commits holding ``ids`` as of ``_next``: from the cache,
        and for the rest from the commits below the cache's floor (nothing to read while the floor
        is 1), in one query through the ``keys`` and ``events.id`` indexes."""
        view = StateView(epoch=self.cache.epoch)
        cold_keys = self.cache.heads.split(keys, view.heads)
        cold_ids = self.cache.ids.split(ids, view.ids)
        view.heads.update(dict.fromkeys(cold_keys))
        view.ids.update(dict.fromkeys(cold_ids))
        clauses: list[dict[str, Any]] = []
        if cold_keys and self.cache.heads.floor > 1:
            below = {"$lt": position_id(self.cache.heads.floor)}
            clauses.append({"_id": below, "keys": {"$in": [stream_key(k) for k in cold_keys]}})
        if cold_ids and self.cache.ids.floor > 1:
            # Subtype 4 is how ids are written; subtype 0 is how some early commits held them.
            below = {"$lt": position_id(self.cache.ids.floor)}
            wanted = [b for i in cold_ids for b in (Binary.from_uuid(i), Binary(i.bytes, 0))]
            clauses.append({"_id": below, "events.id": {"$in": wanted}})
        if clauses:
            await self._look_up(view, clauses[0] if len(clauses) == 1 else {"$or": clauses}, cold_keys, cold_ids)
        return view

    async def _look_up(
        self, view: StateView, query: Mapping[str, Any], keys: Collection[StreamKey], ids: Collection[UUID]
    ) -> None:
        # Only below the floor, so below the chain end: those commits all exist and never change,
        # and the cache covers every commit from the floor on, so the answer is exact as of _next.
        docs = await self._retrying("reading the log", lambda: self._find(query, ENVELOPE_FIELDS))
        wanted_keys, wanted_ids = set(keys), set(ids)
        for doc in docs:  # in _id order: the last event seen of a stream is its head
            start = start_of(doc)
            for key, head, event_id in commit_heads(doc):
                if key in wanted_keys:
                    view.heads[key] = head
                if event_id in wanted_ids:
                    view.ids[event_id] = start

    async def _alive_members(self, scope: NamespaceKey, since: int, excluding: Collection[str]) -> list[str]:
        """The erase check: alive memories of ``scope`` (last event an upsert after ``since``, the
        scope's last erase), up to the first one not in ``excluding``.

        The cache knows every memory touched from its floor on; the others' last events are below
        the floor, read backwards through the ``(ns, _id)`` index, stopping at the first alive
        memory outside ``excluding`` (a namespace being erased usually has one) or at ``since``."""
        known = self.cache.alive_members(scope, since)
        found = [member for member, alive in known.items() if alive]
        floor = self.cache.heads.floor
        if any(member not in excluding for member in found) or floor <= 1:
            return found
        query = {"ns": scope_key(*scope), "_id": {"$lt": position_id(floor)}}
        fields = {"n": 1, "events.c": 1, "events.ns": 1, "events.m": 1, "events.type": 1}

        async def scan() -> list[str]:
            seen = set(known)  # the cache's heads are current: older events of theirs do not count
            more: list[str] = []
            cursor = self.chain.find(query, fields).sort("_id", -1).batch_size(16)
            try:
                async for doc in cursor:
                    start = start_of(doc)
                    for offset in reversed(range(len(doc["events"]))):
                        if start + offset <= since:
                            return more
                        item = doc["events"][offset]
                        member = item["m"]
                        if (item["c"], item["ns"]) != scope or not member or member in seen:
                            continue
                        seen.add(member)  # the first event met, walking back, is the last one
                        if item["type"] == UPSERTED:
                            more.append(member)
                            if member not in excluding:
                                return more
                return more
            finally:
                await _close(cursor)

        below: list[str] = await self._retrying("reading the log", scan)
        return found + below

    async def _check_erases(self, view: StateView, events: Sequence[Event], touched: Collection[StreamKey]) -> None:
        """Fill ``view.alive`` for every namespace the call erases (by plan_commit's arguments)."""
        view.alive.clear()
        for scope in {(e.collection, e.namespace) for e in events if e.type == ERASED}:
            since = erased_at(view.heads.get((*scope, "")))
            excluding = {k[2] for k in touched if is_memory(k) and (k[0], k[1]) == scope}
            view.alive[scope] = await self._alive_members(scope, since, excluding)

    async def _recorded_events(self, view: StateView) -> dict[UUID, Event]:
        """The stored copies of the call's events that are already in the log."""
        recorded = view.recorded()
        found: dict[UUID, Event] = {}
        for start in sorted(set(recorded.values())):
            doc = await self._commit_at(start)
            if doc is None:
                raise EventLogError(f"the commit at position {start} disappeared from the MongoDB log")
            found.update((e.event_id, e) for e in decode_commit(doc) if e.event_id in recorded)
        return found

    # -- append -------------------------------------------------------------------------------------

    async def append(
        self,
        events: Sequence[Event],
        expected_versions: Mapping[StreamKey, int] | None = None,
    ) -> list[Event]:
        if not events:
            return []
        async with self._lock:
            try:
                return await self._append(events, expected_versions)
            finally:
                self._view = None

    async def _append(self, events: Sequence[Event], expected_versions: Mapping[StreamKey, int] | None) -> list[Event]:
        touched = {e.stream for e in events} | set(expected_versions or {})
        keys = touched | {namespace_stream(k) for k in touched if is_memory(k)}
        ids = {e.event_id for e in events}
        # Every call first learns what others committed (a lookup in the ring), so that
        # winners and losers pay the same before each insert: nobody keeps winning.
        await self._advance("ring")
        verified = False  # whether _next was checked to be the chain end since the last learning
        while True:
            if self._view is None or self._view.epoch != self.cache.epoch:
                self._view = await self._state_for(keys, ids)
            view = self._view
            await self._check_erases(view, events, touched)
            try:
                plan = plan_commit(events, await self._recorded_events(view), view, expected_versions)
            except ConcurrencyError:
                if verified:
                    raise
                verified = await self._verify_end()  # the conflict may only be a lagging ring's
                continue
            if not plan.new:
                if not verified:
                    # No insert will prove this plan current, and a no-op delete or erase planned
                    # on a lagging view would drop a write another process made before this call.
                    verified = await self._verify_end()
                    continue
                self.cache.keep(view)
                return plan.resolve([])
            # `at` never goes back along the chain (commit_time): position_at can then find the last
            # commit at or before a time through the `at` index. BSON keeps milliseconds.
            at = to_ms(plan.commit_time(now_ms(), self._last_at))
            start = self._next
            stamped = plan.stamp(start, at)
            doc = commit_document(stamped, at)
            size = len(encode(doc))
            if size > MAX_COMMIT_BYTES:
                raise InvalidInputError(
                    f"this commit is {size / 1e6:.1f} MB; the MongoDB log stores a commit in one document "
                    f"(limit {MAX_COMMIT_BYTES / 1e6:.0f} MB): commit in smaller transactions"
                )
            inserting = time.monotonic()
            if await self._insert(doc):
                self._learn(doc)
                self.cache.keep(view)
                await self._copy_to_ring(doc, size)
                self._copy_seconds += (time.monotonic() - inserting - self._copy_seconds) / 8
                return plan.resolve(stamped)
            # Another writer took this position: learn the commits that beat this one (they update
            # the view) and plan again on the new chain end at once.
            verified = False
            before = self._next
            # The winner copies its commit to the ring just after its insert: give it that moment
            # (jittered, so that losers do not retry in lockstep), then learn the commits that won
            # from the ring, or from the chain if the ring has not caught up.
            pause = self._copy_seconds
            for _ in range(LOSER_RING_READS):
                await asyncio.sleep(random.uniform(pause / 2, pause))
                await self._advance("ring")
                if self._next != before:
                    break
                pause *= 2  # a loaded server copies late: wait longer rather than read the chain
            else:
                await self._advance("chain end")

    async def _verify_end(self) -> bool:
        # What this call must not overlook was acknowledged before it began: so it is in the ring.
        await self._advance("acknowledged")
        return True

    async def _insert(self, doc: dict[str, Any]) -> bool:
        """Insert a commit; False if its position was taken. A retried insert that had in fact
        succeeded also reports False, and the walk that follows finds our own events by id."""

        async def insert() -> bool:
            try:
                await self.chain.insert_one(doc)
                return True
            except DuplicateKeyError:
                return False

        result: bool = await self._retrying("append", insert)
        return result

    # Reads of the state: learned up to the chain end first, so that they are current.
    async def heads(self, keys: Sequence[StreamKey]) -> dict[StreamKey, StreamHead]:
        wanted = {*keys, *(namespace_stream(k) for k in keys if is_memory(k))}
        async with self._lock:
            await self._advance("acknowledged")
            view = await self._state_for(wanted, ())
            self.cache.keep(view)
        return stream_heads(keys, view)

    async def last_position(self) -> int:
        async with self._lock:
            await self._advance("acknowledged")
            return self._next - 1

    async def wait_for_append(self, after: int, timeout: float, poll: float = POLL_SECONDS) -> int:
        # A change stream on the chain where the server has them (:mod:`.mongo_watch`), else polling.
        return await wait_for_append_watching(self, self.chain, after, timeout, poll)

    # -- reads ----------------------------------------------------------------------------------------

    async def _find(
        self, query: Mapping[str, Any], projection: Mapping[str, int] | None = None, order: int = 1
    ) -> list[Mapping[str, Any]]:
        docs: list[Mapping[str, Any]] = await self.chain.find(query, projection).sort("_id", order).to_list(None)
        return docs

    def read(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Event]]:
        return self._scan(from_position, until, batch, None, decode_commit)

    def envelopes(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Envelope]]:
        return self._scan(from_position, until, batch, WITHOUT_DATA, commit_envelopes)  # data stays on the server

    async def _scan(
        self,
        from_position: int,
        until: int | datetime | None,
        batch: int,
        projection: Mapping[str, int] | None,
        decode: Callable[[Mapping[str, Any]], list[P]],
    ) -> AsyncIterator[list[P]]:
        """One ``_id`` range query from the commit holding ``from_position + 1``, streamed in
        chunks of ``batch``; after a transient error it resumes where it stopped."""
        if isinstance(until, datetime):
            until = await self.position_at(until)
        position = from_position
        backoff: Backoff | None = None
        while until is None or position < until:
            try:
                async for chunk in self._chunks(position, until, batch, projection, decode):
                    yield chunk
                    position = chunk[-1].position
                    backoff = None
                return
            except PyMongoError as exc:
                error = translate(exc, "reading the log")
                if error is not None:
                    raise error from exc
                backoff = backoff or Backoff(self.timeout)
                await backoff.wait(exc, "reading the log")

    async def _chunks(
        self,
        position: int,
        until: int | None,
        batch: int,
        projection: Mapping[str, int] | None,
        decode: Callable[[Mapping[str, Any]], list[P]],
    ) -> AsyncIterator[list[P]]:
        local = await self._local_range(position, until)
        cursor: Any = None
        if local is None:
            start = await self._commit_start(position + 1)
            if start is None:
                return
            bounds = {"$gte": position_id(start), **({} if until is None else {"$lte": position_id(until)})}
            cursor = self.chain.find({"_id": bounds}, projection).sort("_id", 1)
        source: AsyncIterator[Mapping[str, Any]] = _aiter(local) if local is not None else cursor
        chunk: list[P] = []
        try:
            async for doc in source:
                for item in decode(doc):
                    if item.position <= position:
                        continue  # the first commit may begin before the requested position
                    # Only the contiguous run: the chain has no gaps, and a reader must never
                    # step over one (a cursor may see a commit whose predecessor it passed early).
                    if item.position != position + 1 or (until is not None and item.position > until):
                        if chunk:
                            yield chunk
                        return
                    chunk.append(item)
                    position = item.position
                    if len(chunk) == batch:
                        yield chunk
                        chunk = []
            if chunk:
                yield chunk
        finally:
            if cursor is not None:
                await _close(cursor)

    async def _local_range(self, position: int, until: int | None) -> list[Mapping[str, Any]] | None:
        """The whole commits holding ``position + 1`` to ``until`` without reading the chain: this
        instance's own recent commits, or their copies in the ring, when they are all there. A
        short range looks its slots up one by one; a longer one reads the ring once."""
        if until is None or until >= self._next:
            return None
        wanted = self._start_holding(position + 1)
        docs: list[Mapping[str, Any]] = []
        while wanted <= until and (doc := self._recent.get(wanted)) is not None:
            docs.append(doc)
            wanted += doc["n"]
        if wanted > until:
            return docs
        if until - wanted > SLOTS:
            return None
        try:
            ring = {start_of(c): c for c in await self._ring()} if until - wanted >= LOOKUPS_BEFORE_BULK else None
            while wanted <= until:
                doc = self._recent.get(wanted)
                if doc is None:
                    doc = ring.get(wanted) if ring is not None else copy_of(await self._slot(wanted), wanted)
                if doc is None or not is_whole(doc):
                    return None  # not in the ring (a big commit, a lost update), or overwritten since
                docs.append(doc)
                wanted += doc["n"]
            return docs
        except (PyMongoError, EventLogError):
            return None  # the chain read that follows retries and reports

    def _start_holding(self, position: int) -> int:
        """The start of the commit holding ``position``: itself, unless a commit this instance
        learned begins before it and covers it (a read that begins inside a commit)."""
        for start in reversed(self._starts):
            if start <= position:
                return start if start + self._starts[start] > position else position
        return position

    async def _commit_start(self, position: int) -> int | None:
        """Start of the commit holding ``position``, None if none does (yet)."""

        async def find() -> int | None:
            if await self.chain.find_one({"_id": position_id(position)}, {"_id": 1}) is not None:
                return position  # the usual case, a commit boundary: one exact lookup
            before = await self.chain.find_one(
                {"_id": {"$lt": position_id(position)}}, {"_id": 1, "n": 1}, sort=[("_id", -1)]
            )
            if before is not None and start_of(before) + before["n"] > position:
                return start_of(before)
            return None

        result: int | None = await self._retrying("reading the log", find)
        return result

    async def redact(self, positions: Collection[int]) -> int:
        by_commit: dict[int, list[int]] = {}
        for position in sorted(positions):
            start = self._start_holding(position)
            if start == position:  # not a commit this instance knows the bounds of: ask the chain
                start = await self._commit_start(position) or position
            by_commit.setdefault(start, []).append(position - start)
        changed = 0
        for start, offsets in by_commit.items():
            doc = await self._commit_at(start)
            if doc is None:
                continue
            fields = redacted_fields(doc, offsets)
            if not fields:
                continue
            await self._drop_content(doc["_id"], slot_id(start), fields)
            changed += len(fields) // 3
        self._recent.clear()  # whole commits this instance kept to serve reads
        return changed

    async def _drop_content(self, commit_id: str, slot: str, fields: dict[str, Any]) -> None:
        # The chain is the truth; the ring copy (if the slot still holds this commit) follows, so
        # that no reader is served the content from it.
        await self._retrying("dropping content", lambda: self.chain.update_one({"_id": commit_id}, {"$set": fields}))
        in_ring = {f"commit.{name}": value for name, value in fields.items()}
        await self._retrying(
            "dropping content",
            lambda: self.recent.update_one({"_id": slot, "commit._id": commit_id}, {"$set": in_ring}),
        )

    async def stream(self, key: StreamKey) -> list[Event]:
        docs = await self._retrying("reading the log", lambda: self._find({"keys": stream_key(key)}))

        def mine(item: Mapping[str, Any]) -> bool:
            return (item["c"], item["ns"], item["m"]) == key

        return [e for doc in docs for e in decode_commit(doc, mine)]

    async def collections(self) -> list[Event]:
        # Only the commits this instance has learnt, as heads() and read() see them: a commit on
        # the chain that its writer never copied to the ring (it died in between) is not readable
        # yet, and a collection seen without its stream head would be half a state.
        async with self._lock:
            await self._advance("acknowledged")
            known = self._next
        query = {"events.type": "collection.created", "_id": {"$lt": position_id(known)}}
        docs = await self._retrying("reading the log", lambda: self._find(query))
        return [e for doc in docs for e in decode_commit(doc, lambda item: item["type"] == "collection.created")]

    async def position_at(self, when: datetime) -> int:
        # `at` never decreases along the chain (see _append), so the last commit by time is the
        # last by position among those at or before `when`.
        query = {"at": {"$lte": as_utc(when)}}
        doc = await self._retrying(
            "reading the log",
            lambda: self.chain.find_one(query, {"_id": 1, "n": 1}, sort=[("at", -1), ("_id", -1)]),
        )
        return start_of(doc) + int(doc["n"]) - 1 if doc else 0

    async def get_checkpoint(self, name: str) -> int:
        doc = await self._retrying("reading a checkpoint", lambda: self.checkpoints.find_one({"_id": name}))
        return int(doc["position"]) if doc else 0

    async def set_checkpoint(self, name: str, position: int) -> None:
        await self._retrying(
            "saving a checkpoint",
            lambda: self.checkpoints.replace_one({"_id": name}, {"_id": name, "position": position}, upsert=True),
        )

    async def close(self) -> None:
        if self._close_client:
            await _maybe_await(self.db.client.close())  # a coroutine for PyMongo async, a plain call for Motor


async def _aiter(docs: list[Mapping[str, Any]]) -> AsyncIterator[Mapping[str, Any]]:
    for doc in docs:
        yield doc


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result


async def _close(cursor: Any) -> None:
    await _maybe_await(cursor.close())


def database_name(url: str, default: str = "omega") -> str:
    path = urlsplit(url).path.strip("/")
    return path or default


def mongo_event_log(url: str, settings: Settings) -> MongoEventLog:
    """The log of a ``mongodb://`` or ``mongodb+srv://`` URL, with its own client (closed with
    the log). Registered for those URLs by :mod:`.mongo_plugin`."""
    kind = scheme(url)
    # Server selection gives up quickly; the log's own retry loop decides how long to keep trying.
    wait_ms = int(min(5.0, settings.mongo_timeout_seconds) * 1000)
    try:
        # A reply that never comes must not hang a writer forever (PyMongo's socket timeout is
        # unlimited by default): time it out and let the retry loop resend; appends are idempotent.
        # Not sooner than the retry window, though: a server that is slow under load (a scan on
        # FerretDB) would get the same query again while still working on the abandoned one.
        reply_ms = int(settings.mongo_timeout_seconds * 1000)
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=wait_ms, connectTimeoutMS=wait_ms, socketTimeoutMS=reply_ms
        )
        # mongodb+srv names a DNS record, not a host: the driver resolves it (and reports failures).
        hosts = parse_uri(url)["nodelist"] if kind == "mongodb" else []
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise EventLogError(f"invalid MongoDB URL ({first_reason(exc, 100)}): fix {SETTING}") from exc
    return MongoEventLog(
        client[database_name(url)],
        close_client=True,
        timeout=settings.mongo_timeout_seconds,
        cache_size=settings.mongo_cache_size,
        hosts=hosts,
    )
