"""Property: every write the facade accepts applies on every log and every index, and comes back
bit for bit (get, scan, search, a point-in-time view, and a rebuilt index all agree with what was
written).

Hypothesis generates the awkward values the issue names: any Unicode but lone surrogates, control
characters, NUL, floats down to subnormals and up to 1e308 (and -0.0), 64-bit integers at both
ends, nested dicts and lists, ids and namespaces holding the separators a naive encoding would
confuse. Each backend keeps one Memory for the whole property; every example writes into a
namespace of its own.
"""

from __future__ import annotations

import itertools
import math
import string
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omega_memory_plugin import Memory, MemoryRecord, Settings

CHARS = st.characters(blacklist_categories=("Cs",))  # every code point but lone surrogates
TEXT = st.text(CHARS, min_size=1, max_size=40).filter(lambda t: t.strip() != "")
IDS = st.text(st.one_of(CHARS, st.sampled_from("\x1f\x00/:|.")), min_size=1, max_size=16)
KEYS = st.text(st.one_of(st.sampled_from(string.ascii_letters), CHARS), min_size=1, max_size=8).filter(
    lambda k: "." not in k and not any(c in k for c in '\x00"\\') and not k.startswith("$")
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**63 - 1, -(2**63), 2**53 + 1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([5e-324, -0.0, 1e308, 937.9228155259179, 0.1]),
    st.text(CHARS, max_size=20),
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8
)
METADATA = st.dictionaries(KEYS, VALUES, max_size=5)
VECTORS = st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=4, max_size=4).filter(
    lambda v: any(abs(x) > 1e-3 for x in v)
)
WRITE = st.tuples(IDS, TEXT, METADATA, VECTORS)

BACKEND_URLS = {
    "sqlite+edge": lambda tmp, mongo, qdrant: {"path": tmp / "m"},
    "memory+memory": lambda tmp, mongo, qdrant: {"log_url": "memory://", "index_url": "memory://"},
    "mongo+qdrant-server": lambda tmp, mongo, qdrant: {"log_url": mongo, "index_url": qdrant},
    "sqlite+qdrant-local": lambda tmp, mongo, qdrant: {
        "log_url": f"sqlite:///{tmp}/log.db",
        "index_url": "qdrant-local://:memory:",
    },
}
EXAMPLES = {"mongo+qdrant-server": 40, "sqlite+qdrant-local": 40}


def exact(value: Any) -> Any:
    """A form in which equal means bit for bit: types kept, floats by their hex (so -0.0 != 0.0)."""
    if isinstance(value, bool) or value is None:
        return (type(value).__name__, value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value.hex() if math.isfinite(value) else repr(value))
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list):
        return ("list", [exact(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((k, exact(v)) for k, v in value.items()))
    raise TypeError(f"not a metadata value: {value!r}")


def snapshot(records: list[MemoryRecord]) -> dict[str, tuple[Any, ...]]:
    return {r.id: (r.text, exact(r.metadata), r.version) for r in records}


@pytest.fixture(params=list(BACKEND_URLS))
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    mongo = qdrant = ""
    if "mongo" in request.param:
        mongo = request.getfixturevalue("mongo_url")
    if "qdrant-server" in request.param:
        qdrant = request.getfixturevalue("qdrant_server")
    options = BACKEND_URLS[request.param](tmp_path, mongo, qdrant)
    # A prefix of its own on a shared server, so that no other test's collections are seen.
    with Memory(**options, settings=Settings(qdrant_prefix=f"rt{uuid.uuid4().hex[:8]}_")) as m:
        m.create_collection("exact", 4, distance="dot")  # dot: vectors are stored as given, not normalised
        yield m


@pytest.fixture
def examples(memory: Memory, request: pytest.FixtureRequest) -> int:
    return EXAMPLES.get(request.node.callspec.params["memory"], 80)


def test_every_accepted_write_round_trips_everywhere(memory: Memory, examples: int) -> None:
    counter = itertools.count()
    written: dict[str, dict[str, tuple[Any, ...]]] = {}  # namespace -> id -> (text, metadata, version)
    vectors: dict[tuple[str, str], np.ndarray] = {}

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(namespace=IDS, writes=st.lists(WRITE, min_size=1, max_size=4))
    def check(namespace: str, writes: list[tuple[str, str, dict[str, Any], list[float]]]) -> None:
        namespace = f"{next(counter)}\x1f{namespace}"
        expected: dict[str, tuple[Any, ...]] = {}
        with memory.transaction() as tx:
            for memory_id, text, metadata, vector in writes:
                tx.upsert(
                    text, id=memory_id, metadata=metadata, vectors=vector, namespace=namespace, collection="exact"
                )
                version = expected[memory_id][2] + 1 if memory_id in expected else 1
                expected[memory_id] = (text, exact(metadata), version)
                vectors[(namespace, memory_id)] = np.asarray(vector, np.float32)
        written[namespace] = expected
        scope = {"namespace": namespace, "collection": "exact"}
        got = memory.get(list(expected), with_vectors=True, **scope)
        assert snapshot(got) == expected
        for record in got:
            assert record.vectors is not None
            np.testing.assert_array_equal(
                np.asarray(record.vectors["dense"], np.float32), vectors[(namespace, record.id)]
            )
        assert snapshot(memory.scan(limit=None, **scope)) == expected
        for memory_id in expected:
            hits = memory.search(vectors[(namespace, memory_id)].tolist(), limit=len(expected), exact=True, **scope)
            assert {h.id for h in hits} == set(expected)
            assert snapshot(hits) == expected
        # Every accepted key can be filtered on (a key needing quotes in a Qdrant path once raised).
        for memory_id, _, metadata, _ in writes:
            for key, value in metadata.items():
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    found = memory.scan(filter={key: value}, limit=None, **scope)
                    assert memory_id in {r.id for r in found} or expected[memory_id][1] != exact(metadata)
        with memory.as_of(memory.health()["log"]["position"]) as past:
            assert snapshot(past.scan(limit=None, **scope)) == expected

    check()
    assert memory.verify().ok
    memory.rebuild(progress=False)
    for namespace, expected in written.items():
        assert snapshot(memory.scan(limit=None, namespace=namespace, collection="exact")) == expected
