"""How a LangGraph store item is kept in omega: one *item record*, and one *vector record* per
embedded text.

* The item record (collection ``items``) holds the value exactly, as JSON in the memory's text,
  and in its metadata what reads need: the namespace (labels, and every prefix for prefix
  searches), the key, the filterable copy of the value (:mod:`.json_fields`), the times and the
  TTL in minutes (to refresh it). The expiry itself is the event's (omega's own, so every read
  leaves an expired item out). Its vector is a constant: items are found by key and filter,
  never by it.
* A vector record (collection ``vectors``) holds one embedded text (a field of the value, one per
  list element, as LangGraph embeds them) with the filterable copy too, so that a semantic search
  filters in the index; hits are grouped by item, keeping each item's best score.

Ids are hashes of the tuple (namespace, key): two different tuples never share a record, whatever
their labels hold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.store.base import Item, SearchItem

from omega_memory_plugin.errors import InvalidInputError
from omega_memory_plugin.records import MemoryRecord
from omega_memory_plugin.validation import check_string

from .json_fields import filter_copy

ITEM_VECTOR = [1.0]  # the item records' constant vector (their collection has dimension 1)
VALUE = "v"  # metadata key of the filterable copy of the value


def item_id(namespace: tuple[str, ...], key: str) -> str:
    return hashlib.sha256(json.dumps([list(namespace), key], ensure_ascii=False).encode()).hexdigest()[:32]


def prefix_key(labels: Sequence[str]) -> str:
    """The metadata string a namespace prefix is matched by: JSON, so ``("a", "b")`` and
    ``("a/b",)`` differ."""
    return json.dumps(list(labels), ensure_ascii=False, separators=(",", ":"))


def value_text(value: Mapping[str, Any]) -> str:
    """The value as the JSON that keeps it exactly (the item record's text)."""
    try:
        text = json.dumps(dict(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"a store value must be JSON (dicts with str keys, lists, str, numbers, bool, None): {exc}"
        ) from None
    return check_string(text, "a store value")  # before anything is embedded: no lone surrogate


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(when: datetime) -> int:
    """A time as integer microseconds since the epoch: exact both ways, ordered, filterable."""
    return (when - EPOCH) // timedelta(microseconds=1)


def moment(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def item_metadata(
    namespace: tuple[str, ...],
    key: str,
    value: Mapping[str, Any],
    *,
    created: datetime,
    updated: datetime,
    ttl: float | None,
    vector_ids: Sequence[str],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "ns": list(namespace),
        "prefixes": [prefix_key(namespace[:n]) for n in range(1, len(namespace) + 1)],
        "key": key,
        VALUE: filter_copy(value),
        "created": micros(created),
        "updated": micros(updated),
        "vectors": list(vector_ids),
    }
    if ttl is not None:
        metadata["ttl"] = ttl  # minutes, to refresh its expiry on reads (the expiry is the event's own)
    return metadata


def vector_metadata(item: Mapping[str, Any], item_key: str, path: str) -> dict[str, Any]:
    """A vector record's metadata: what a search filters on, and the item it belongs to."""
    return {"item": item_key, "path": path, "prefixes": item["prefixes"], VALUE: item[VALUE]}


def expiry(metadata: Mapping[str, Any], since: datetime) -> datetime | None:
    """When an item with this metadata, written or refreshed at ``since``, expires (None: never)."""
    ttl = metadata.get("ttl")
    return None if ttl is None else since + timedelta(minutes=ttl)


def to_item(record: MemoryRecord) -> Item:
    meta = record.metadata
    return Item(
        value=json.loads(record.text),
        key=meta["key"],
        namespace=tuple(meta["ns"]),
        created_at=moment(meta["created"]),
        updated_at=moment(meta["updated"]),
    )


def to_search_item(record: MemoryRecord, score: float | None) -> SearchItem:
    item = to_item(record)
    return SearchItem(
        namespace=item.namespace,
        key=item.key,
        value=item.value,
        created_at=item.created_at,
        updated_at=item.updated_at,
        score=score,
    )


def created_of(old: MemoryRecord | None, now: datetime) -> datetime:
    """When an item was created: kept across its updates, reset once it was deleted or expired."""
    if old is None or (old.expires_at is not None and old.expires_at <= now):
        return now
    return moment(old.metadata["created"])


def now() -> datetime:
    return datetime.now(UTC)
