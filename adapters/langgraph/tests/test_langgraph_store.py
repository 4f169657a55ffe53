"""OmegaStore beyond the comparison with InMemoryStore: TTL decided from the log (live, after a
rebuild, and in a point-in-time view), namespaces that a naive encoding would confuse, bad input
that writes nothing, the async API, and each put and delete as an event in the log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langgraph.store.base import PutOp
from langgraph_omega_memory import OmegaStore

from omega_memory_plugin import Memory
from omega_memory_plugin.errors import FilterError, InvalidInputError, InvalidVectorError

TTL = 0.03  # minutes: 1.8 s, long enough for a loaded machine to read an item before it expires


def index(dims: int = 16) -> Any:
    return {"dims": dims, "embed": DeterministicFakeEmbedding(size=16), "fields": ["text"]}


@pytest.fixture
def memory(open_memory: Callable[[], Memory]) -> Iterator[Memory]:
    with open_memory() as memory:
        yield memory


@pytest.fixture
def store(memory: Memory) -> OmegaStore:
    return OmegaStore(memory, index=index(), ttl={"refresh_on_read": False})


def position(memory: Memory) -> int:
    return int(memory.health()["log"]["position"])


def keys(found: list[Any]) -> list[str]:
    return sorted(item.key for item in found)


def test_an_item_expires_from_get_search_and_listing_and_a_sweep_deletes_it_in_the_log(
    store: OmegaStore, memory: Memory
) -> None:
    store.put(("u",), "short", {"text": "short lived"}, ttl=TTL)
    store.put(("u",), "long", {"text": "stays"})
    assert store.get(("u",), "short") is not None
    # The expiry is omega's own (in the item's event), not a field the store checks
    upserts = [e for e in memory.events() if e.type == "memory.upserted" and e.collection == "langgraph_store"]
    assert [e.data.expires_at is not None for e in upserts] == [True, False]  # type: ignore[union-attr]
    assert keys(store.search(("u",), query="short")) == ["long", "short"]
    expires = datetime.now(UTC).timestamp() + TTL * 60
    time.sleep(TTL * 60 + 0.2)
    assert store.get(("u",), "short") is None
    assert keys(store.search(("u",), query="short")) == ["long"]
    assert keys(store.search(("u",))) == ["long"]
    before = position(memory)
    assert store.sweep_ttl() == 1
    # one commit, deleting the item and its vector
    assert [e.type for e in memory.events(after=before)] == ["memory.deleted", "memory.deleted"]
    assert store.sweep_ttl() == 0
    assert datetime.now(UTC).timestamp() > expires


def test_expiry_replays_the_same_after_a_rebuild_and_in_the_past(store: OmegaStore, memory: Memory) -> None:
    store.put(("u",), "short", {"text": "short lived"}, ttl=TTL)
    while_alive = datetime.now(UTC)
    time.sleep(TTL * 60 + 0.2)
    memory.rebuild(progress=False)
    assert store.get(("u",), "short") is None
    with store.as_of(while_alive) as past:
        assert past.get(("u",), "short") is not None
        assert keys(past.search(("u",), query="short")) == ["short"]
    with store.as_of(datetime.now(UTC)) as now:
        assert now.get(("u",), "short") is None


def test_reading_refreshes_the_ttl_when_asked(memory: Memory) -> None:
    store = OmegaStore(memory, index=index(), ttl={"default_ttl": TTL, "refresh_on_read": True})
    store.put(("u",), "k", {"text": "refreshed by reads"})
    for _ in range(3):  # twice the TTL in all, alive thanks to each read
        time.sleep(TTL * 60 * 0.66)
        assert store.get(("u",), "k") is not None
    time.sleep(TTL * 60 * 0.5)
    assert store.get(("u",), "k", refresh_ttl=False) is not None
    time.sleep(TTL * 60 * 0.6)
    assert store.get(("u",), "k", refresh_ttl=False) is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("a", "b"), ("a/b",)),
        (("a", "b c"), ("a b", "c")),
        (('a"', "b"), ("a", '"b')),
        (("a", "b\\"), ("a", "b\\\\")),
        (("ü",), ("u",)),
        (("a", "b", "c"), ("a", "bc")),
    ],
)
def test_two_namespaces_are_never_confused(store: OmegaStore, one: tuple[str, ...], other: tuple[str, ...]) -> None:
    store.put(one, "k", {"text": "one"})
    store.put(other, "k", {"text": "other"})
    assert store.get(one, "k").value == {"text": "one"}  # type: ignore[union-attr]
    assert store.get(other, "k").value == {"text": "other"}  # type: ignore[union-attr]
    assert [i.value["text"] for i in store.search(one)] == ["one"]
    assert [i.value["text"] for i in store.search(other)] == ["other"]
    assert sorted(store.list_namespaces()) == sorted([one, other])
    store.delete(one, "k")
    assert store.get(other, "k") is not None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"when": datetime.now(UTC)}, InvalidInputError),
        ({"n": float("nan")}, InvalidInputError),
        ({1: "int key"}, InvalidInputError),
        ({"text": "\ud800"}, InvalidInputError),
    ],
)
def test_a_value_that_is_not_json_is_refused_and_nothing_of_its_batch_is_written(
    store: OmegaStore, memory: Memory, value: dict[Any, Any], error: type[Exception]
) -> None:
    store.put(("u",), "first", {"text": "kept"})
    before = position(memory)
    with pytest.raises(error):
        store.batch([PutOp(("u",), "ok", {"text": "fine"}), PutOp(("u",), "bad", value)])
    assert position(memory) == before
    assert store.get(("u",), "ok") is None
    assert store.get(("u",), "first") is not None


def test_embeddings_of_the_wrong_size_are_refused_and_nothing_is_written(memory: Memory) -> None:
    store = OmegaStore(memory, index=index(dims=8))  # the embedding function makes 16
    before = position(memory)
    with pytest.raises(InvalidVectorError, match="expects 8"):
        store.put(("u",), "k", {"text": "hello"})
    assert position(memory) == before


def test_a_filter_operator_langgraph_does_not_define_is_refused(store: OmegaStore) -> None:
    store.put(("u",), "k", {"text": "x", "n": 1})
    with pytest.raises(FilterError, match=r"\$in"):
        store.search(("u",), filter={"n": {"$in": [1, 2]}})


def test_each_put_and_delete_is_one_commit_in_the_log(store: OmegaStore, memory: Memory) -> None:
    before = position(memory)
    store.put(("u",), "k", {"text": "first"})
    store.put(("u",), "k", {"text": "second"})
    store.delete(("u",), "k")
    types = [(e.type, e.collection) for e in memory.events(after=before)]
    assert types == [
        ("collection.created", "langgraph_store"),
        ("memory.upserted", "langgraph_store"),
        ("collection.created", "langgraph_store_vectors"),
        ("memory.upserted", "langgraph_store_vectors"),
        ("memory.upserted", "langgraph_store"),
        ("memory.upserted", "langgraph_store_vectors"),
        ("memory.deleted", "langgraph_store"),
        ("memory.deleted", "langgraph_store_vectors"),
    ]


def test_a_put_with_its_own_fields_replaces_the_vectors_of_the_last(store: OmegaStore) -> None:
    store.put(("u",), "k", {"text": "about tea", "note": "about chess"}, index=["note"])
    assert store.search(("u",), query="about chess")[0].score == pytest.approx(1.0, abs=1e-5)
    store.put(("u",), "k", {"text": "about tea", "note": "about chess"})  # the store's fields: text
    hit = store.search(("u",), query="about chess")[0]
    assert hit.score is not None and hit.score < 0.99  # the note's vector is gone
    assert store.search(("u",), query="about tea")[0].score == pytest.approx(1.0, abs=1e-5)


async def test_the_async_api_answers_as_the_sync_one(store: OmegaStore) -> None:
    await store.aput(("u", "ada"), "tea", {"text": "likes green tea", "n": 2})
    await store.aput(("u", "bob"), "coffee", {"text": "drinks coffee", "n": 5})
    assert (await store.aget(("u", "ada"), "tea")).value["n"] == 2  # type: ignore[union-attr]
    hits = await store.asearch(("u",), query="likes green tea", filter={"n": {"$lt": 3}})
    assert [h.key for h in hits] == ["tea"]
    assert await store.alist_namespaces(prefix=("u",)) == [("u", "ada"), ("u", "bob")]
    await store.adelete(("u", "ada"), "tea")
    assert await store.aget(("u", "ada"), "tea") is None
    assert store.search(("u",), query="coffee")[0].key == "coffee"


def test_a_store_opened_from_a_path_keeps_its_items(tmp_path: Path) -> None:
    with OmegaStore(path=tmp_path / "store", index=index()) as store:
        store.put(("u",), "k", {"text": "remembered", "nested": {"a.b": [1, {"$x": None}]}})
        created = store.get(("u",), "k").created_at  # type: ignore[union-attr]
    with OmegaStore(path=tmp_path / "store", index=index()) as store:
        item = store.get(("u",), "k")
        assert item is not None and item.value == {"text": "remembered", "nested": {"a.b": [1, {"$x": None}]}}
        assert item.created_at == created
        store.put(("u",), "k", {"text": "updated"})
        again = store.get(("u",), "k")
        assert again is not None and again.created_at == created and again.updated_at > created
        assert store.search((), filter={"nested": {"a.b": [1, {"$x": None}]}}) == []  # replaced
        store.put(("u",), "j", {"nested": {"a.b": [1, {"$x": None}]}})
        assert [i.key for i in store.search((), filter={"nested": {"a.b": [1, {"$x": None}]}})] == ["j"]


def test_a_put_over_an_expired_item_starts_a_new_one_and_leaves_no_old_vector(store: OmegaStore) -> None:
    store.put(("u",), "k", {"text": "about chess", "note": "about jazz"}, index=["text", "note"], ttl=TTL)
    first = store.get(("u",), "k")
    assert first is not None
    time.sleep(TTL * 60 + 0.2)
    store.put(("u",), "k", {"text": "about tea"})  # embeds "text" only
    item = store.get(("u",), "k")
    assert item is not None and item.created_at > first.created_at
    hit = store.search(("u",), query="about jazz")[0]
    assert hit.score is not None and hit.score < 0.99  # the expired item's "note" vector is gone
    store.put(("u",), "gone", {"text": "x"}, ttl=TTL)
    time.sleep(TTL * 60 + 0.2)
    store.delete(("u",), "gone")  # deleting an expired item deletes its records
    assert store.sweep_ttl() == 0


def test_every_event_records_the_adapter_as_its_origin(store: OmegaStore, memory: Memory) -> None:
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph_omega_memory import OmegaSaver

    store.put(("u",), "k", {"text": "x"})
    store.delete(("u",), "k")
    OmegaSaver(memory).put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {})
    writes = [e for e in memory.events() if e.type != "collection.created"]
    assert writes and {e.data.origin for e in writes} == {"langgraph-omega-memory"}  # type: ignore[union-attr]
