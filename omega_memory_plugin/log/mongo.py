"""The production EventLog: MongoDB through PyMongo's async API (``pymongo.AsyncMongoClient``).

Selected by ``mongodb://`` / ``mongodb+srv://`` URLs (database from the URL path, default
``omega``), or built from a client or database the application already has (PyMongo async or
Motor).

How positions are assigned (docs/mongo-log.md): a commit is **one document** whose ``_id`` is
the position of its first event and which holds ``n`` events, so a commit is atomic on any
MongoDB-wire server without transactions. The next commit must take ``_id = _id + n`` of the
previous one. A writer inserts at the chain end it knows, optimistically; the unique ``_id``
index lets exactly one writer win a position, and a loser (E11000) learns the commits it missed in
one query and plans again. Positions therefore form a chain with no gap and no overlap, and a
commit can only exist once every commit before it exists, so a reader can never see position N and
later find a new event below N. Only an insert guarded by a unique index and ``_id`` queries are
used, which FerretDB and MongoDB both support; no counter document (FerretDB's ``findAndModify``
with ``$inc`` is not atomic) and no transaction.

Stream versions and event ids are checked against the chain itself: a successful insert at
``_id = P`` proves every commit before ``P`` was known when the commit was planned, so versions
and idempotency are exact under any number of concurrent writers.

Driver errors are translated at this boundary (:mod:`.mongo_errors`): transient ones are retried
for ``timeout`` seconds, permanent ones (a host that does not resolve, refused credentials, a bad
URL) raise at once with a short message naming the setting to fix.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from bson import Binary, encode
from pymongo import AsyncMongoClient
from pymongo.errors import ConfigurationError, DuplicateKeyError, OperationFailure
from pymongo.uri_parser import parse_uri

from ..errors import ConcurrencyError, EventLogError, InvalidInputError
from ..events import Event, StreamKey, decode_event
from ..hookspecs import hookimpl
from ..settings import Settings
from ..urls import scheme
from .base import POLL_SECONDS, Envelope, EventLog, StreamHead, as_utc
from .mongo_errors import SETTING, check_hosts_resolve, first_reason, retrying
from .mongo_watch import wait_for_append_watching
from .versioning import Head, LiveState, NamespaceKey, plan_commit, stream_heads

T = TypeVar("T")


class _Positioned(Protocol):
    @property
    def position(self) -> int: ...


P = TypeVar("P", bound=_Positioned)

MAX_COMMIT_BYTES = 15 * 1024 * 1024  # MongoDB refuses documents over 16 MB; keep headroom
_INDEX_RACE_CODES = {68, 85, 86}  # already exists / options conflict: another process won the race


def _key(stream: StreamKey) -> str:
    return "\x1f".join(stream)


def _now_ms() -> datetime:
    # BSON dates carry milliseconds: stamp with what will be stored, so a read equals the append.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _encode_event(event: Event) -> dict[str, Any]:
    vectors = None
    if event.type == "memory.upserted":
        data: dict[str, Any] = {
            "text": event.data.text,
            "metadata": event.data.metadata,
            "embedding_model": event.data.embedding_model,
        }
        vectors = event.data.vectors
    else:
        data = event.data.model_dump(mode="json")
    doc: dict[str, Any] = {
        "id": Binary.from_uuid(event.event_id),
        "type": event.type,
        "c": event.collection,
        "ns": event.namespace,
        "m": event.memory_id,
        "v": event.version,
        "sv": event.schema_version,
        # The data travels as JSON text, not as a BSON subdocument: every JSON value the facade
        # accepts must come back exactly, and Mongo-wire servers refuse some (FerretDB 1.24 refuses
        # nested arrays, e.g. {"grid": [[1, 2]]}). No query ever looks inside it.
        "json": json.dumps(data, separators=(",", ":"), ensure_ascii=False),
    }
    if vectors is not None:
        doc["vec"] = {name: Binary(raw) for name, raw in vectors.items()}
    return doc


def _decode_commit(doc: Mapping[str, Any]) -> list[Event]:
    recorded_at = as_utc(doc["at"])
    events = []
    for offset, item in enumerate(doc["events"]):
        # Commits written before the data was stored as JSON text hold it as a subdocument.
        data = json.loads(item["json"]) if "json" in item else dict(item["data"])
        if "vec" in item:
            data["vectors"] = {name: bytes(raw) for name, raw in item["vec"].items()}
        events.append(
            decode_event(
                type=item["type"],
                data=data,
                schema_version=item["sv"],
                event_id=item["id"].as_uuid() if isinstance(item["id"], Binary) else UUID(bytes=item["id"]),
                collection=item["c"],
                namespace=item["ns"],
                memory_id=item["m"],
                version=item["v"],
                position=doc["_id"] + offset,
                recorded_at=recorded_at,
            )
        )
    return events


def _commit_envelopes(doc: Mapping[str, Any]) -> list[Envelope]:
    return [
        Envelope(item["c"], item["ns"], item["m"], item["type"], item["v"], doc["_id"] + offset)
        for offset, item in enumerate(doc["events"])
    ]


class MongoEventLog(EventLog):
    """EventLog in one MongoDB database: ``<prefix>commits`` and ``<prefix>checkpoints``.

    Example::

        log = MongoEventLog(AsyncMongoClient("mongodb://localhost:27017")["omega"])
        await log.open()

    ``database`` may be a PyMongo ``AsyncDatabase`` or a Motor ``AsyncIOMotorDatabase``. Its
    client runs on the Memory's engine loop, so it must be dedicated to this log (async clients are
    bound to one event loop); ``close_client=True`` closes it with the log.
    Transient network errors are retried (appends are idempotent by event id, so a retry can
    never duplicate) until ``timeout`` seconds have passed; then :class:`EventLogError` is raised.
    ``hosts`` are the URL's seed hosts, checked to resolve at open (a wrong name fails at once).
    """

    def __init__(
        self,
        database: Any,
        *,
        prefix: str = "omega_",
        timeout: float = 30.0,
        close_client: bool = False,
        hosts: Sequence[tuple[str, int]] = (),
    ) -> None:
        self.db = database
        self.commits = database[f"{prefix}commits"]
        self.checkpoints = database[f"{prefix}checkpoints"]
        self.timeout = timeout
        self.name = f"mongo:{database.name}/{prefix}"
        self._close_client = close_client
        self._hosts = tuple(hosts)
        self._next = 1  # the position the next commit must take, as far as this process knows
        # Stream state of the chain learned so far, for plan_commit: heads of every stream and
        # the alive memories per namespace (for the erase check), both from the same events.
        self._heads: dict[StreamKey, Head] = {}
        self._live = LiveState()
        self._seen: dict[UUID, int] = {}  # event id -> position, for idempotent appends
        self._collections: list[Event] = []
        self._positions: list[tuple[int, datetime]] = []  # (commit _id, recorded_at), for position_at
        self._starts: list[int] = []  # commit _ids, in order, to find the commit holding a position
        # One append at a time per instance: coroutines of one Memory interleave at every await,
        # and racing each other for the same position would only cost round trips.
        self._append_lock = asyncio.Lock()

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        return await retrying(what, call, self.timeout)

    async def open(self) -> None:
        await check_hosts_resolve(self._hosts)

        async def create_indexes() -> None:
            for keys in (["at"], ["keys"]):
                try:
                    await self.commits.create_index(keys)
                except OperationFailure as exc:
                    if exc.code not in _INDEX_RACE_CODES:
                        raise

        await self._retrying("creating indexes", create_indexes)
        await self._catch_up()

    async def _catch_up(self) -> None:
        """Learn every commit after the last one seen (heads, ids, chain end) in one query.

        Vectors are left on the server: learning needs only the envelopes."""

        fetch = functools.partial(self._find_commits, {"_id": {"$gte": self._next}}, {"events.vec": 0})
        for doc in await self._retrying("reading the log", fetch):
            if doc["_id"] < self._next:
                continue  # learned by another coroutine's catch-up while this one awaited
            if doc["_id"] != self._next:
                break  # never learn past a gap (the chain has none; this keeps it so if one appeared)
            self._learn(doc)

    def _learn(self, doc: Mapping[str, Any]) -> None:
        if doc["_id"] != self._next:
            return  # already learned (by a catch-up that ran while this coroutine waited)
        events = _decode_commit(doc)
        for event in events:
            self._heads[event.stream] = Head.of(event)
            self._seen[event.event_id] = event.position
            if event.type == "collection.created":
                self._collections.append(event)
        self._live.apply(Envelope.of(event) for event in events)
        self._positions.append((doc["_id"], as_utc(doc["at"])))
        self._starts.append(doc["_id"])
        self._next = doc["_id"] + doc["n"]

    async def append(
        self,
        events: Sequence[Event],
        expected_versions: Mapping[StreamKey, int] | None = None,
    ) -> list[Event]:
        if not events:
            return []
        async with self._append_lock:
            return await self._append(events, expected_versions)

    async def _append(self, events: Sequence[Event], expected_versions: Mapping[StreamKey, int] | None) -> list[Event]:
        # Optimistic: plan with what this process knows and insert at the chain end it knows. If
        # another writer got there first the insert fails on _id, and only then is the log read.
        # A successful insert at P proves every commit before P was known when planning.
        fresh = False
        while True:
            known = [e.event_id for e in events if e.event_id in self._seen]
            recorded = {e.event_id: e for e in await self._events_at({self._seen[i] for i in known})}
            try:
                plan = plan_commit(events, recorded, self, expected_versions)
            except ConcurrencyError:
                if fresh:
                    raise
                await self._catch_up()  # the conflict may only be this process's stale view
                fresh = True
                continue
            if not plan.new:
                if not fresh:
                    # No insert will prove this plan current, and a no-op delete or erase planned
                    # on a stale view would drop a write another process made before this call.
                    await self._catch_up()
                    fresh = True
                    continue
                return plan.resolve([])
            now = _now_ms()
            position = self._next
            stamped = plan.stamp(position, now)
            doc = {
                "_id": position,
                "n": len(plan.new),
                "at": now,
                "events": [_encode_event(e) for e in stamped],
                # One flat string per event's stream: an indexed equality match on both servers
                # (FerretDB 1.24 cannot $elemMatch on several fields).
                "keys": sorted({_key(e.stream) for e in plan.new}),
            }
            size = len(encode(doc))
            if size > MAX_COMMIT_BYTES:
                raise InvalidInputError(
                    f"this commit is {size / 1e6:.1f} MB; the MongoDB log stores a commit in one document "
                    f"(limit {MAX_COMMIT_BYTES / 1e6:.0f} MB): commit in smaller transactions"
                )
            if await self._insert(doc):
                self._learn(doc)
                return plan.resolve(stamped)
            await self._catch_up()  # another writer took this position: learn what it wrote, plan again
            fresh = True  # retry at once: any wait here only lets the winners take the next position too

    async def _find_commits(
        self, query: Mapping[str, Any], projection: Mapping[str, int] | None = None
    ) -> list[Mapping[str, Any]]:
        docs: list[Mapping[str, Any]] = await self.commits.find(query, projection).sort("_id", 1).to_list(None)
        return docs

    # StateReader, for plan_commit and stream_heads: what this process has learned of the chain.
    def load_heads(self, keys: Collection[StreamKey]) -> dict[StreamKey, Head]:
        return {key: self._heads[key] for key in keys if key in self._heads}

    def any_alive(self, namespace: NamespaceKey, since: int, excluding: Collection[str]) -> bool:
        return self._live.any_alive(namespace, excluding)  # the fold already ended what erases ended

    async def _insert(self, doc: dict[str, Any]) -> bool:
        """Insert a commit; False if its position was taken. A retried insert that had in fact
        succeeded also reports False, and the next catch-up finds our own events by id."""

        async def insert() -> bool:
            try:
                await self.commits.insert_one(doc)
                return True
            except DuplicateKeyError:
                return False

        return await self._retrying("append", insert)

    async def _events_at(self, positions: set[int]) -> list[Event]:
        if not positions:
            return []
        found = []
        starts = sorted({self._starts[self._commit_of(p)] for p in positions})
        for start in starts:
            (doc,) = await self._retrying("reading the log", functools.partial(self._find_commits, {"_id": start}))
            found += [e for e in _decode_commit(doc) if e.position in positions]
        return found

    def _commit_of(self, position: int) -> int:
        """Index in ``_starts`` of the commit holding ``position`` (which must be known)."""
        return bisect.bisect_right(self._starts, position) - 1

    def read(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Event]]:
        return self._scan(from_position, until, batch, None, _decode_commit)

    def envelopes(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Envelope]]:
        # Data and vectors stay on the server.
        return self._scan(from_position, until, batch, {"events.vec": 0, "events.data": 0, "events.json": 0}, _commit_envelopes)

    async def _scan(
        self,
        from_position: int,
        until: int | datetime | None,
        batch: int,
        projection: Mapping[str, int] | None,
        decode: Callable[[Mapping[str, Any]], list[P]],
    ) -> AsyncIterator[list[P]]:
        if isinstance(until, datetime):
            until = await self.position_at(until)
        position = from_position
        while until is None or position < until:
            if position + 1 >= self._next:
                await self._catch_up()
                if position + 1 >= self._next:
                    return
            # Fetch exactly the commits that hold the next `batch` events.
            first = self._commit_of(position + 1)
            last = self._commit_of(min(position + batch, self._next - 1, until or self._next))
            query = {"_id": {"$gte": self._starts[first], "$lte": self._starts[last]}}
            docs = await self._retrying("reading the log", functools.partial(self._find_commits, query, projection))
            chunk: list[P] = []
            for doc in docs:
                for item in decode(doc):
                    # Only the contiguous run after `position`: the chain has no gaps, and a reader
                    # must never step over one if it ever met one.
                    if (
                        len(chunk) < batch
                        and item.position == position + len(chunk) + 1
                        and (until is None or item.position <= until)
                    ):
                        chunk.append(item)
            if not chunk:
                return
            yield chunk
            position = chunk[-1].position

    async def stream(self, key: StreamKey) -> list[Event]:
        await self._catch_up()
        query = {"keys": _key(key)}
        docs = await self._retrying("reading the log", functools.partial(self._find_commits, query))
        return [e for doc in docs for e in _decode_commit(doc) if e.stream == key]

    async def heads(self, keys: Sequence[StreamKey]) -> dict[StreamKey, StreamHead]:
        await self._catch_up()
        return stream_heads(keys, self)

    async def collections(self) -> list[Event]:
        await self._catch_up()
        return list(self._collections)

    async def last_position(self) -> int:
        await self._catch_up()
        return self._next - 1

    async def wait_for_append(self, after: int, timeout: float, poll: float = POLL_SECONDS) -> int:
        """Woken by a change stream on the commits where the server has them (a replica set),
        polling otherwise (FerretDB, a standalone mongod): see :mod:`.mongo_watch`."""
        return await wait_for_append_watching(self, self.commits, after, timeout, poll)

    async def position_at(self, when: datetime) -> int:
        await self._catch_up()
        when = as_utc(when)
        ends = [start - 1 for start, _ in self._positions[1:]] + [self._next - 1]
        last = 0
        for (_, at), end in zip(self._positions, ends, strict=True):
            if at > when:
                break
            last = end
        return last

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
            closing = self.db.client.close()  # a coroutine for PyMongo async, a plain call for Motor
            if inspect.isawaitable(closing):
                await closing


def database_name(url: str, default: str = "omega") -> str:
    path = urlsplit(url).path.strip("/")
    return path or default


@hookimpl
def omega_memory_event_log(url: str, settings: Settings) -> EventLog | None:
    kind = scheme(url)
    if kind not in ("mongodb", "mongodb+srv"):
        return None
    # Server selection gives up quickly; the log's own retry loop decides how long to keep trying.
    wait_ms = int(min(5.0, settings.mongo_timeout_seconds) * 1000)
    try:
        # A reply that never comes must not hang a writer forever (PyMongo's socket timeout is
        # unlimited by default): time it out and let the retry loop resend; appends are idempotent.
        client: AsyncMongoClient[Any] = AsyncMongoClient(
            url, tz_aware=True, serverSelectionTimeoutMS=wait_ms, connectTimeoutMS=wait_ms, socketTimeoutMS=wait_ms
        )
        # mongodb+srv names a DNS record, not a host: the driver resolves it (and reports failures).
        hosts = parse_uri(url)["nodelist"] if kind == "mongodb" else []
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise EventLogError(f"invalid MongoDB URL ({first_reason(exc, 100)}): fix {SETTING}") from exc
    return MongoEventLog(
        client[database_name(url)], close_client=True, timeout=settings.mongo_timeout_seconds, hosts=hosts
    )
