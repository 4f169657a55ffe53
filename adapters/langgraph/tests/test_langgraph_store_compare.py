"""Property: ``OmegaStore`` answers as LangGraph's ``InMemoryStore`` (the reference) for any
sequence of puts, deletes, gets, searches (semantic and not, with every filter operator, prefixes
and pagination) and namespace listings; and a rebuild of the index from the log answers the same.

Where InMemoryStore is no reference the test says so and compares what both promise: the order of
a search without a query (InMemoryStore's is its dict's insertion order, OmegaStore's the most
recently updated first, as LangGraph's SQL stores), and which unscored items fill a semantic page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.embeddings import DeterministicFakeEmbedding
from langgraph.store.base import BaseStore, Item, SearchItem
from langgraph.store.memory import InMemoryStore
from langgraph_omega_memory import OmegaStore

from omega_memory_plugin import Memory

NAMESPACES = [("a",), ("a", "b"), ("a", "b", "c"), ("a/b",), ("a", "c"), ("b",), ("b", "a")]
PREFIXES = [(), ("a",), ("a", "b"), ("a/b",), ("b",), ("c",)]
KEYS = ["k1", "k2", "k3", "raw1", "raw2"]  # "raw" keys are never embedded (index=False)
WORDS = ["tea", "coffee", "rain", "chess", "jazz"]
FILTERS: list[dict[str, Any]] = [
    {"kind": "x"},
    {"kind": {"$eq": "y"}},
    {"kind": {"$ne": "x"}},
    {"n": 2},
    {"n": {"$gt": 2}},
    {"n": {"$gte": 2, "$lt": 4}},
    {"n": {"$lte": 1}},
    {"n": {"$ne": 3}},
    {"tags": ["t1", "t2"]},
    {"tags": {"$ne": ["t1"]}},
    {"meta": {"color": "red"}},
    {"meta": {"color": "red", "size": 1}},
    {"missing": None},
    {"kind": "x", "n": {"$gte": 1}},
]
VALUES = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["x", "y", "z"]),
        "n": st.integers(0, 5),
        "tags": st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=2),
        "meta": st.fixed_dictionaries({"color": st.sampled_from(["red", "blue"]), "size": st.integers(1, 2)}),
    }
)
PUT = st.tuples(st.just("put"), st.sampled_from(NAMESPACES), st.sampled_from(KEYS), VALUES)
DELETE = st.tuples(st.just("delete"), st.sampled_from(NAMESPACES), st.sampled_from(KEYS))
GET = st.tuples(st.just("get"), st.sampled_from(NAMESPACES), st.sampled_from(KEYS))
SEARCH = st.tuples(
    st.just("search"),
    st.sampled_from(PREFIXES),
    st.one_of(st.none(), st.sampled_from(WORDS)),
    st.one_of(st.none(), st.sampled_from(FILTERS)),
    st.integers(1, 6),
    st.integers(0, 3),
)
LIST = st.tuples(
    st.just("list"),
    st.one_of(st.none(), st.sampled_from([("a",), ("a", "*"), ("b",), ("*", "b")])),
    st.one_of(st.none(), st.sampled_from([("b",), ("c",), ("*",), ("b", "*")])),
    st.one_of(st.none(), st.integers(1, 3)),
    st.integers(1, 10),
    st.integers(0, 2),
)
OPS = st.lists(st.one_of(PUT, PUT, DELETE, GET, SEARCH, SEARCH, LIST), min_size=5, max_size=30)


def index_config() -> Any:
    return {"dims": 16, "embed": DeterministicFakeEmbedding(size=16), "fields": ["text"]}


def run(store: BaseStore, op: tuple[Any, ...], counter: list[int]) -> Any:
    kind = op[0]
    if kind == "put":
        _, ns, key, value = op
        counter[0] += 1  # every text differs, so no two items tie on score
        text = f"{value['kind']} {WORDS[value['n'] % len(WORDS)]} {counter[0]}"
        store.put(ns, key, {**value, "text": text}, index=False if key.startswith("raw") else None)
        return None
    if kind == "delete":
        store.delete(op[1], op[2])
        return None
    if kind == "get":
        return item(store.get(op[1], op[2]))
    if kind == "search":
        _, prefix, query, spec, limit, offset = op
        if query is None:  # no reference order: compare every match, as a set
            return sorted(map(item, store.search(prefix, filter=spec, limit=1000)))
        hits = store.search(prefix, query=query, filter=spec, limit=limit, offset=offset)
        scored = [scored_item(h) for h in hits if h.score is not None]
        unscored = sorted(item(h) for h in hits if h.score is None)
        every = {item(h) for h in store.search(prefix, query=query, filter=spec, limit=1000) if h.score is None}
        return scored, len(unscored), set(unscored) <= every
    _, prefix, suffix, depth, limit, offset = op
    if isinstance(store, InMemoryStore):
        # InMemoryStore lists a namespace whose items were all deleted (or that a get only looked
        # at): its dict keeps the key. No reference there: the SQL stores list namespaces with items.
        for namespace in [ns for ns, items in store._data.items() if not items]:
            del store._data[namespace]
    return store.list_namespaces(prefix=prefix, suffix=suffix, max_depth=depth, limit=limit, offset=offset)


def item(found: Item | None) -> Any:
    if found is None:
        return None
    return (tuple(found.namespace), found.key, repr(sorted(found.value.items())))


def scored_item(hit: SearchItem) -> Any:
    assert hit.score is not None
    return (*item(hit), round(hit.score, 4))


def check(open_memory: Callable[[], Memory], examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops=OPS)
    def same_answers(ops: list[tuple[Any, ...]]) -> None:
        reference = InMemoryStore(index=index_config())
        with open_memory() as memory:
            store = OmegaStore(memory, index=index_config())
            mine, theirs = [0], [0]
            answers = []
            for op in ops:
                expected, got = run(reference, op, theirs), run(store, op, mine)
                assert got == expected, op
                answers.append(got)
            memory.rebuild(progress=False)
            reads = [op for op in ops if op[0] != "put" and op[0] != "delete"]
            final = [run(store, op, mine) for op in reads]
            assert final == [run(reference, op, theirs) for op in reads]

    same_answers()


EXAMPLES = {"embedded": 60, "mongo-log": 20}  # the server backend is slower per example


def test_omega_store_answers_as_the_in_memory_store(
    open_memory: Callable[[], Memory], request: pytest.FixtureRequest
) -> None:
    check(open_memory, EXAMPLES[request.node.callspec.params["open_memory"]])
