"""Property: an export imported into an empty memory reproduces it exactly, on every log.

Hypothesis writes a history of commits (upserts with awkward text, ids and metadata, deletes,
namespace erases) into a memory, exports it as JSON Lines (what ``omega-memory export`` writes),
imports the lines into an empty memory of the same kind, and checks that the two logs hold the same
events (ids, positions, versions, times, data, vectors), that the two indexes answer alike, and
that importing the same lines again writes nothing.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Opener
from omega_memory_plugin import Memory
from omega_memory_plugin.events import EVENT_ADAPTER

CHARS = st.characters(blacklist_categories=("Cs",))  # every code point but lone surrogates
TEXT = st.text(CHARS, min_size=1, max_size=20).filter(lambda t: t.strip() != "")
IDS = st.sampled_from(["a", "b", "c/d", "e\x1fx", "ü"])
NAMESPACES = st.sampled_from(["ada", "bob", "c:\x00|d"])
KEYS = st.text(st.sampled_from(string.ascii_letters + "é_"), min_size=1, max_size=5)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(CHARS, max_size=8),
)
METADATA = st.dictionaries(
    KEYS, st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=2), max_leaves=4), max_size=3
)
VECTOR = st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=4, max_size=4)
WRITE = st.one_of(
    st.tuples(st.just("upsert"), NAMESPACES, IDS, TEXT, METADATA, VECTOR),
    st.tuples(st.just("delete"), NAMESPACES, IDS),
    st.tuples(st.just("erase"), NAMESPACES),
)
HISTORY = st.lists(st.lists(WRITE, min_size=1, max_size=3), min_size=1, max_size=6)  # commits of writes


def write(memory: Memory, history: list[list[tuple[Any, ...]]]) -> None:
    memory.create_collection("exact", 4, distance="dot")  # dot: vectors stay as given
    for commit in history:
        with memory.transaction() as tx:
            for op, namespace, *rest in commit:
                scope = {"namespace": namespace, "collection": "exact"}
                if op == "upsert":
                    memory_id, text, metadata, vector = rest
                    tx.upsert(text, id=memory_id, metadata=metadata, vectors=vector, **scope)
                elif op == "delete":
                    tx.delete(rest[0], **scope)
                else:
                    tx.erase_namespace(namespace, collection="exact")


def contents(memory: Memory) -> dict[str, list[tuple[Any, ...]]]:
    """What the index answers, namespace by namespace (vectors and all)."""
    answers = {}
    for namespace in ["ada", "bob", "c:\x00|d"]:
        scope = {"namespace": namespace, "collection": "exact"}
        ids = [r.id for r in memory.scan(limit=None, **scope)]
        answers[namespace] = [
            (r.id, r.version, r.text, repr(r.metadata), r.vectors) for r in memory.get(ids, with_vectors=True, **scope)
        ]
    return answers


def lines_of(memory: Memory) -> Iterator[str]:
    return (event.model_dump_json() for event in memory.events())  # what `omega-memory export` writes


def test_an_export_imported_into_an_empty_memory_reproduces_it(opener: Opener, request: pytest.FixtureRequest) -> None:
    examples = 6 if "mongo" in request.node.callspec.params["opener"] else 25

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(history=HISTORY)
    def check(history: list[list[tuple[Any, ...]]]) -> None:
        with Memory(**opener()) as source, Memory(**opener()) as copy:
            write(source, history)
            exported = list(lines_of(source))
            report = copy.import_events(EVENT_ADAPTER.validate_json(line) for line in exported)
            assert (report.imported, report.unchanged) == (len(exported), 0)
            assert list(lines_of(copy)) == exported  # the same events: ids, positions, versions, times, data
            assert contents(copy) == contents(source)
            assert copy.verify().ok
            again = copy.import_events(EVENT_ADAPTER.validate_json(line) for line in exported)
            assert (again.imported, again.unchanged) == (0, len(exported))
            assert list(lines_of(copy)) == exported  # importing twice wrote nothing

    check()
