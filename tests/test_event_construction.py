"""``events.constructed`` and ``events.replaced`` build the same models as pydantic's
``model_construct`` / ``model_copy`` (they only skip its per-call overhead on the read path)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from omega_memory_plugin.events import (
    _DATA_CLASSES,
    EVENT_CLASSES,
    MemoryUpserted,
    MemoryUpsertedEvent,
    constructed,
    replaced,
)

VALUES = {
    "memory.upserted": {"text": "t", "vectors": {"dense": b"\0\0\0\0"}, "key": "k", "expires_at": datetime.now(UTC)},
    "memory.deleted": {"origin": "python"},
    "namespace.erased": {},
    "collection.created": {"vectors": {"dense": 4}, "dedup": True},
    "collection.model_added": {"space": 1, "vectors": {"dense": 3}},
    "collection.model_switched": {"space": 1, "from_model": "a"},
    "memory.reembedded": {
        "namespace": "n",
        "memory_id": "m",
        "version": 1,
        "of_position": 2,
        "space": 1,
        "text": "t",
        "vectors": {},
    },
    "subject.forgotten": {"keys": ["k1"]},
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_constructed_equals_model_construct(kind: str) -> None:
    cls = _DATA_CLASSES[kind]
    values = VALUES[kind]
    mine, theirs = constructed(cls, values), cls.model_construct(**values)
    assert mine == theirs and mine.model_fields_set == theirs.model_fields_set
    assert mine.model_dump() == theirs.model_dump() and repr(mine) == repr(theirs)
    envelope = {"collection": "c", "event_id": uuid4(), "position": 3, "version": 1, "data": mine, "type": kind}
    event_cls = EVENT_CLASSES[kind]
    assert constructed(event_cls, envelope) == event_cls.model_construct(**envelope)
    assert constructed(cls, {**values, "not_a_field": 1}) == theirs  # dropped, as model_construct drops it


def test_default_factories_give_each_model_its_own_value() -> None:
    one = constructed(MemoryUpserted, {"text": "a", "vectors": {}})
    two = constructed(MemoryUpserted, {"text": "b", "vectors": {}})
    assert one.metadata == {} and one.metadata is not two.metadata


def test_replaced_equals_model_copy() -> None:
    event = MemoryUpsertedEvent(collection="c", namespace="n", memory_id="m", data=MemoryUpserted(text="t", vectors={}))
    changes = {"text": "", "sealed": b"x", "key": "k"}
    assert replaced(event.data, changes) == event.data.model_copy(update=changes)
    assert replaced(event.data, changes).model_fields_set == event.data.model_copy(update=changes).model_fields_set
    assert replaced(event, {"position": 9}) == event.model_copy(update={"position": 9})
    assert event.data.text == "t"  # the original is untouched
