"""The embedded default EventLog: one SQLite file (stdlib ``sqlite3``), WAL mode.

Selected by ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``.

Durability: WAL with ``synchronous=FULL`` by default, so a commit that returned survives a
process kill *and* a power loss. ``NORMAL`` (settable) still survives a process kill (the WAL is
written before commit returns) but may lose the last commits on power loss; it is faster for bulk
ingestion on slow disks.

Positions are taken after the current maximum inside a ``BEGIN IMMEDIATE`` transaction: writers
(threads or processes) are serialised by SQLite's write lock, so positions become visible in order
and a reader can never miss one. A rolled-back commit leaves no gap.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from .. import json_text
from ..errors import EventLogError
from ..events import Event, StreamKey, decode_event
from ..hookspecs import hookimpl
from ..keys import KeyStore
from ..settings import Settings
from ..urls import scheme, url_path
from .base import Envelope, EventLog, StreamHead, as_utc, upsert_fields, without_content
from .sqlite_keys import SQLiteKeyStore
from .versioning import Head, NamespaceKey, plan_commit, stream_heads

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       BLOB    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    collection     TEXT    NOT NULL,
    namespace      TEXT    NOT NULL,
    memory_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,  -- microseconds since the epoch, UTC
    schema_version INTEGER NOT NULL,
    data           TEXT    NOT NULL,  -- JSON, vectors excluded
    vectors        BLOB,              -- float32 vectors, concatenated in data.vectors order
    UNIQUE (collection, namespace, memory_id, version)
);
CREATE INDEX IF NOT EXISTS events_recorded_at ON events (recorded_at);
CREATE INDEX IF NOT EXISTS events_collections ON events (type) WHERE type = 'collection.created';
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""
# The memories of one namespace whose last event is an upsert after position ?: the erase check.
# It reads one namespace through the unique (collection, namespace, memory_id, version) index,
# which also answers "no later event", and stops at the first alive memory, which a namespace
# being erased usually has. A namespace-and-position index would bound it to the events since the
# last erase, but costs every append about 10 µs (3% of ingest) for a rare call.
ALIVE_SINCE_SQL = (
    "SELECT e.memory_id FROM events AS e "
    "WHERE e.collection = ? AND e.namespace = ? AND e.position > ? AND e.type = 'memory.upserted' "
    "AND NOT EXISTS (SELECT 1 FROM events AS later WHERE later.collection = e.collection "
    "AND later.namespace = e.namespace AND later.memory_id = e.memory_id AND later.version > e.version)"
)
_COLUMNS = (
    "position, event_id, type, collection, namespace, memory_id, version, recorded_at, schema_version, data, vectors"
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# Integer arithmetic both ways (a float timestamp can be a microsecond off), so that a time read
# back and written again (an export imported) is stored exactly as it was.
def _micros(when: datetime) -> int:
    return (as_utc(when) - _EPOCH) // _MICROSECOND


def _time(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


def _encode(event: Event) -> tuple[Any, ...]:
    blob = None
    if event.type == "memory.upserted":
        vectors = event.data.vectors
        data = upsert_fields(event.data)
        data["vectors"] = {name: len(raw) // 4 for name, raw in vectors.items()}
        blob = b"".join(vectors.values())
    elif event.type == "memory.reembedded":
        vectors = event.data.vectors
        data = event.data.model_dump(mode="json", exclude={"vectors", "sealed"})
        data["vectors"] = {name: len(raw) // 4 for name, raw in vectors.items()}
        blob = b"".join(vectors.values())
    else:
        data = event.data.model_dump(mode="json")
    if blob is not None and event.data.sealed is not None:  # type: ignore[union-attr]
        # Sealed content (sealing.py) has no vectors of its own: the blob column holds the box.
        data["sealed"] = True
        blob = event.data.sealed  # type: ignore[union-attr]
    return (
        event.position,
        event.event_id.bytes,
        event.type,
        event.collection,
        event.namespace,
        event.memory_id,
        event.version,
        _micros(event.recorded_at or datetime.now(UTC)),
        event.schema_version,
        json_text.dumps(data),
        blob,
    )


def _decode(row: sqlite3.Row | tuple[Any, ...]) -> Event:
    position, event_id, type_, collection, namespace, memory_id, version, micros, schema, data, blob = row
    payload: dict[str, Any] = json_text.loads(data)
    if payload.get("sealed"):
        payload["sealed"] = bytes(blob)
    elif blob is not None:
        offset = 0
        vectors = {}
        for name, dim in payload["vectors"].items():
            vectors[name] = blob[offset : offset + dim * 4]
            offset += dim * 4
        payload["vectors"] = vectors
    return decode_event(
        type=type_,
        data=payload,
        schema_version=schema,
        event_id=UUID(bytes=event_id),
        collection=collection,
        namespace=namespace,
        memory_id=memory_id,
        version=version,
        position=position,
        recorded_at=_time(micros),
    )


class SQLiteEventLog(EventLog):
    """EventLog in a SQLite database file.

    Example::

        log = SQLiteEventLog("/tmp/memory/log.db")
    """

    def __init__(self, path: str | Path, synchronous: str = "FULL", busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.name = f"sqlite:{self.path}"
        self.local = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so we decide their span.
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise EventLogError(f"cannot open the SQLite log at {self.path}: {exc}") from exc
        self._head: int | None = None  # the last position, as of data version _head_version
        self._head_version = 0

    async def append(
        self,
        events: Sequence[Event],
        expected_versions: Mapping[StreamKey, int] | None = None,
    ) -> list[Event]:
        if not events:
            return []
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                recorded = self._recorded(events)
                plan = plan_commit(events, recorded, self, expected_versions)
                # The write lock is held, so positions after the current maximum are ours; they
                # are given explicitly so the whole commit is one executemany.
                row = db.execute("SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1").fetchone()
                last, last_at = (row[0], _time(row[1])) if row else (0, None)
                stored = plan.stamp(last + 1, plan.commit_time(datetime.now(UTC), last_at))
                db.executemany(f"INSERT INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", map(_encode, stored))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                self._head = None  # this connection's commits leave data_version as it was
        except sqlite3.Error as exc:
            raise EventLogError(f"append to {self.path} failed: {exc}") from exc
        return plan.resolve(stored)

    def _recorded(self, events: Sequence[Event]) -> dict[UUID, Event]:
        ids = [e.event_id.bytes for e in events]
        found: dict[UUID, Event] = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(f"SELECT {_COLUMNS} FROM events WHERE event_id IN ({marks})", chunk):
                event = _decode(row)
                found[event.event_id] = event
        return found

    # StateReader, for plan_commit (inside the BEGIN IMMEDIATE of append) and stream_heads.
    def load_heads(self, keys: Collection[StreamKey]) -> dict[StreamKey, Head]:
        heads = {}
        for key in keys:
            row = self._db.execute(
                "SELECT version, type, position FROM events WHERE collection=? AND namespace=? AND memory_id=? "
                "ORDER BY version DESC LIMIT 1",
                key,
            ).fetchone()
            if row is not None:
                heads[key] = Head(*row)
        return heads

    def any_alive(self, namespace: NamespaceKey, since: int, excluding: Collection[str]) -> bool:
        # Excluded ids are skipped here rather than bound (a commit may touch thousands).
        cursor = self._db.execute(ALIVE_SINCE_SQL, (*namespace, since))
        try:
            return any(memory_id not in excluding for (memory_id,) in cursor)
        finally:
            cursor.close()  # stopped early: release the statement before the commit's inserts

    async def read(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Event]]:
        async for rows in self._pages(_COLUMNS, from_position, until, batch):
            yield [_decode(row) for row in rows]

    async def envelopes(
        self,
        from_position: int = 0,
        until: int | datetime | None = None,
        batch: int = 1000,
    ) -> AsyncIterator[list[Envelope]]:
        # Only the envelope columns: no JSON parse, no vector blob read.
        columns = "position, collection, namespace, memory_id, type, version"
        async for rows in self._pages(columns, from_position, until, batch):
            yield [Envelope(c, ns, m, t, v, p) for p, c, ns, m, t, v in rows]

    async def _pages(
        self, columns: str, from_position: int, until: int | datetime | None, batch: int
    ) -> AsyncIterator[list[Any]]:
        """Rows after ``from_position`` up to ``until``, ``batch`` at a time; ``columns`` starts with position."""
        if isinstance(until, datetime):
            until = await self.position_at(until)
        last = until if until is not None else await self.last_position()
        position = from_position
        while position < last:
            rows = self._db.execute(
                f"SELECT {columns} FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
                (position, last, batch),
            ).fetchall()
            if not rows:
                return
            yield rows
            position = rows[-1][0]

    async def stream(self, key: StreamKey) -> list[Event]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE collection=? AND namespace=? AND memory_id=? ORDER BY version",
            key,
        ).fetchall()
        return [_decode(row) for row in rows]

    async def heads(self, keys: Sequence[StreamKey]) -> dict[StreamKey, StreamHead]:
        # One read transaction: a memory's head and its namespace's head from the same snapshot,
        # even while other processes write.
        self._db.execute("BEGIN")
        try:
            return stream_heads(keys, self)
        finally:
            self._db.execute("COMMIT")

    async def collections(self) -> list[Event]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE type = 'collection.created' ORDER BY position"
        ).fetchall()
        return [_decode(row) for row in rows]

    async def last_position(self) -> int:
        # Every read asks (Memory._log_head). SQLite's data_version changes when another connection
        # commits, and costs less than the MAX: in a search at 10,000 memories, 60 µs less.
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if self._head is None or version != self._head_version:
            self._head = int(self._db.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()[0])
            self._head_version = version
        return self._head

    async def position_at(self, when: datetime) -> int:
        row = self._db.execute(
            "SELECT COALESCE(MAX(position), 0) FROM events WHERE recorded_at <= ?", (_micros(when),)
        ).fetchone()
        return int(row[0])

    async def get_checkpoint(self, name: str) -> int:
        row = self._db.execute("SELECT position FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    async def set_checkpoint(self, name: str, position: int) -> None:
        self._db.execute(
            "INSERT INTO checkpoints (name, position) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET position = excluded.position",
            (name, position),
        )

    async def redact(self, positions: Collection[int]) -> int:
        wanted = sorted(positions)
        db = self._db
        changed = 0
        try:
            # Zero what the updates free, then move the zeroed pages into the file and empty the
            # WAL, which still holds the pages as they were.
            db.execute("PRAGMA secure_delete=ON")
            db.execute("BEGIN IMMEDIATE")
            try:
                for start in range(0, len(wanted), 500):
                    chunk = wanted[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = db.execute(
                        f"SELECT position, data FROM events WHERE position IN ({marks}) "
                        "AND type IN ('memory.upserted', 'memory.reembedded')",
                        chunk,
                    ).fetchall()
                    updates = [
                        (
                            json_text.dumps({**without_content(json_text.loads(data)), "sealed": True}),
                            position,
                        )
                        for position, data in rows
                    ]
                    db.executemany("UPDATE events SET data = ?, vectors = x'' WHERE position = ?", updates)
                    changed += len(updates)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                db.execute("PRAGMA secure_delete=OFF")  # appends need not pay for it
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise EventLogError(f"dropping content from {self.path} failed: {exc}") from exc
        return changed

    async def close(self) -> None:
        self._db.close()


@hookimpl
def omega_memory_event_log(url: str, settings: Settings) -> EventLog | None:
    if scheme(url) != "sqlite":
        return None
    return SQLiteEventLog(url_path(url), synchronous=settings.sqlite_synchronous)


@hookimpl
def omega_memory_key_store(log: EventLog, settings: Settings) -> KeyStore | None:
    return SQLiteKeyStore(log.path) if isinstance(log, SQLiteEventLog) else None
