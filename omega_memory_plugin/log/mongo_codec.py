"""How the MongoDB log stores a commit: one document per commit, keyed by a fixed-width position.

The layout (docs/mongo-log.md)::

    {_id: "00000000000000000042",   position of the first event, zero-padded to 20 digits
     n: 3,                          number of events: positions 42, 43, 44
     at: ISODate(...),              recorded_at of every event (millisecond precision)
     events: [{id, type, c, ns, m, v, sv, json, vec}, ...],
     keys: ["c\\x1fns\\x1fm", ...],    the streams the commit touches
     ns: ["c\\x1fns", ...]}            the (collection, namespace) scopes it touches

``_id`` is a string, not an integer, because FerretDB 1.24 (the tests' server) pushes a query
down to its SQLite primary key only for an exact match on a string or ObjectId ``_id``; with a
string, walking the chain is a sequence of indexed point lookups on both servers. Twenty digits
hold any int64 position, and zero-padding makes string order equal number order, so ``_id``
range queries still read commits in position order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from bson import Binary

from .. import json_text
from ..events import Event, StreamKey, decode_event
from .base import CONTENT_EVENTS, Envelope, as_utc, upsert_fields, without_content
from .versioning import Head

WIDTH = 20  # digits of a position _id: 2**63 - 1 has 19

#: What learning a commit needs: its size, time and every event's envelope and id, never the data.
ENVELOPE_FIELDS: dict[str, int] = {
    "n": 1,
    "at": 1,
    "events.id": 1,
    "events.type": 1,
    "events.c": 1,
    "events.ns": 1,
    "events.m": 1,
    "events.v": 1,
}
#: What ``envelopes()`` reads: everything but the data and the vectors.
WITHOUT_DATA: dict[str, int] = {"events.vec": 0, "events.data": 0, "events.json": 0, "events.sealed": 0}


def position_id(position: int) -> str:
    """The ``_id`` of the commit whose first event is at ``position``."""
    return f"{position:0{WIDTH}d}"


def start_of(doc: Mapping[str, Any]) -> int:
    """The position of a commit's first event (its ``_id`` read back)."""
    return int(doc["_id"])


def stream_key(stream: StreamKey) -> str:
    """A stream as one flat string: an indexed equality match on both servers (FerretDB 1.24 cannot
    ``$elemMatch`` on several fields)."""
    return "\x1f".join(stream)


def scope_key(collection: str, namespace: str) -> str:
    """A (collection, namespace) scope as one flat string, for the erase check's index."""
    return f"{collection}\x1f{namespace}"


def to_ms(when: datetime) -> datetime:
    """``when`` as BSON will store it (milliseconds), so a read equals what the append returned."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def now_ms() -> datetime:
    return to_ms(datetime.now(UTC))


def encode_event(event: Event) -> dict[str, Any]:
    vectors = None
    if event.type == "memory.upserted":
        data = upsert_fields(event.data)
        vectors = event.data.vectors
    elif event.type == "memory.reembedded":
        data = event.data.model_dump(mode="json", exclude={"vectors", "sealed"})
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
        "json": json_text.dumps(data),
    }
    if vectors is not None:
        doc["vec"] = {name: Binary(raw) for name, raw in vectors.items()}
        if event.data.sealed is not None:  # type: ignore[union-attr]
            doc["sealed"] = Binary(event.data.sealed)  # type: ignore[union-attr]
    return doc


def commit_document(stamped: Sequence[Event], at: datetime) -> dict[str, Any]:
    """The document of one commit; ``stamped`` carry their final positions and versions."""
    first = stamped[0].position
    return {
        "_id": position_id(first),
        "n": len(stamped),
        "at": at,
        "events": [encode_event(e) for e in stamped],
        **index_fields(e.stream for e in stamped),
    }


def index_fields(streams: Iterable[StreamKey]) -> dict[str, list[str]]:
    """``keys`` and ``ns`` of a commit, from the streams of its events."""
    pairs = list(streams)
    return {
        "keys": sorted({stream_key(p) for p in pairs}),
        "ns": sorted({scope_key(c, ns) for c, ns, _ in pairs}),
    }


def event_uuid(raw: Any) -> UUID:
    return raw.as_uuid() if isinstance(raw, Binary) else UUID(bytes=bytes(raw))


def decode_commit(doc: Mapping[str, Any], keep: Callable[[Mapping[str, Any]], bool] | None = None) -> list[Event]:
    """The events of a commit document; with ``keep``, only the stored items it accepts (so a
    query that wants one stream does not decode a thousand other events' data)."""
    recorded_at = as_utc(doc["at"])
    start = start_of(doc)
    events = []
    for offset, item in enumerate(doc["events"]):
        if keep is not None and not keep(item):
            continue
        # Commits written before the data was stored as JSON text hold it as a subdocument.
        data = json_text.loads(item["json"]) if "json" in item else dict(item["data"])
        if "vec" in item:
            data["vectors"] = {name: bytes(raw) for name, raw in item["vec"].items()}
        if "sealed" in item:
            data["sealed"] = bytes(item["sealed"])
        events.append(
            decode_event(
                type=item["type"],
                data=data,
                schema_version=item["sv"],
                event_id=event_uuid(item["id"]),
                collection=item["c"],
                namespace=item["ns"],
                memory_id=item["m"],
                version=item["v"],
                position=start + offset,
                recorded_at=recorded_at,
            )
        )
    return events


def commit_envelopes(doc: Mapping[str, Any]) -> list[Envelope]:
    start = start_of(doc)
    return [
        Envelope(item["c"], item["ns"], item["m"], item["type"], item["v"], start + offset)
        for offset, item in enumerate(doc["events"])
    ]


def commit_heads(doc: Mapping[str, Any]) -> list[tuple[StreamKey, Head, UUID]]:
    """(stream, head after the event, event id) for each event of a commit read with
    :data:`ENVELOPE_FIELDS`, in position order: what a log instance learns from it."""
    start = start_of(doc)
    return [
        ((item["c"], item["ns"], item["m"]), Head(item["v"], item["type"], start + offset), event_uuid(item["id"]))
        for offset, item in enumerate(doc["events"])
    ]


def redacted_fields(doc: Mapping[str, Any], offsets: Iterable[int]) -> dict[str, Any]:
    """The ``$set`` that drops the content of a commit's events at ``offsets`` (three fields per
    content event: its data without content, no vectors, an empty sealed body)."""
    fields: dict[str, Any] = {}
    for offset in offsets:
        if not 0 <= offset < len(doc["events"]):
            continue
        item = doc["events"][offset]
        if item["type"] not in CONTENT_EVENTS:
            continue
        data = json_text.loads(item["json"]) if "json" in item else dict(item["data"])
        data = without_content(data)
        data.pop("vectors")  # in "vec", not in the JSON
        fields[f"events.{offset}.json"] = json_text.dumps(data)
        fields[f"events.{offset}.vec"] = {}
        fields[f"events.{offset}.sealed"] = Binary(b"")
    return fields
