"""Bad input gets a typed error naming the problem, and nothing is appended to the log."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import log_position
from omega_memory_plugin import Memory, Settings
from omega_memory_plugin.errors import (
    ConcurrencyError,
    FilterError,
    InvalidIdError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidTextError,
    InvalidVectorError,
    UnsupportedBackendError,
)

GOOD = [0.5, 0.5, 0.5, 0.5]

CASES: dict[str, tuple[type[Exception], str, Callable[[Memory], Any]]] = {
    "wrong dimension": (InvalidVectorError, "dimension 3", lambda m: m.upsert("x", vectors=[1.0, 2.0, 3.0])),
    "NaN": (InvalidVectorError, "non-finite", lambda m: m.upsert("x", vectors=[1.0, float("nan"), 0, 0])),
    "inf": (InvalidVectorError, "index 3", lambda m: m.upsert("x", vectors=[1.0, 0, 0, float("inf")])),
    "overflowing float32": (InvalidVectorError, "non-finite", lambda m: m.upsert("x", vectors=[1e39, 0, 0, 0])),
    "nested vector": (InvalidVectorError, "flat", lambda m: m.upsert("x", vectors=[[1.0, 2.0], [3.0, 4.0]])),
    "string vector": (InvalidVectorError, "list of numbers", lambda m: m.upsert("x", vectors="1,2,3,4")),
    "non-numeric vector": (InvalidVectorError, "only numbers", lambda m: m.upsert("x", vectors=["a", "b", "c", "d"])),
    "unknown vector name": (
        InvalidVectorError,
        "no vector named 'title'",
        lambda m: m.upsert("x", vectors={"title": GOOD}),
    ),
    "empty text": (InvalidTextError, "empty", lambda m: m.upsert("   ", vectors=GOOD)),
    "non-string text": (InvalidTextError, "must be a string", lambda m: m.upsert(42, vectors=GOOD)),
    "oversize text": (InvalidTextError, "limit is 64", lambda m: m.upsert("x" * 65, vectors=GOOD)),
    "metadata not JSON": (
        InvalidMetadataError,
        "not JSON",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"a": {1, 2}}),
    ),
    "metadata NaN": (
        InvalidMetadataError,
        "must be finite",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"a": float("nan")}),
    ),
    "metadata -inf deep": (
        InvalidMetadataError,
        "metadata.a[1].b",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"a": [1, {"b": -1e309}]}),
    ),
    # Defect 1 of issue 9: a lone surrogate was appended and bricked every later read and rebuild.
    "surrogate in metadata value": (
        InvalidMetadataError,
        "lone surrogate",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"a": "ok\ud800"}),
    ),
    "surrogate in metadata key": (
        InvalidMetadataError,
        "lone surrogate",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"\udfff": 1}),
    ),
    "surrogate in nested key": (
        InvalidMetadataError,
        "lone surrogate",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"a": [{"\ud800b": 1}]}),
    ),
    "surrogate in text": (InvalidTextError, "lone surrogate", lambda m: m.upsert("tea \ud83d", vectors=GOOD)),
    "surrogate in id": (InvalidIdError, "lone surrogate", lambda m: m.upsert("x", id="a\ud800", vectors=GOOD)),
    "surrogate in namespace": (
        InvalidIdError,
        "lone surrogate",
        lambda m: m.upsert("x", vectors=GOOD, namespace="\udc00"),
    ),
    "surrogate in embedding model": (
        InvalidInputError,
        "lone surrogate",
        lambda m: m.upsert("x", vectors=GOOD, embedding_model="m\ud800"),
    ),
    "surrogate in get": (InvalidIdError, "lone surrogate", lambda m: m.get(["ok", "\ud800"])),
    "int beyond int64": (
        InvalidMetadataError,
        "64-bit",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"big": 2**63}),
    ),
    "int below int64": (
        InvalidMetadataError,
        "64-bit",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"n": [-(2**63) - 1]}),
    ),
    "tuple metadata": (
        InvalidMetadataError,
        "use a list",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"t": (1, 2)}),
    ),
    "dotted metadata key": (
        InvalidMetadataError,
        "without '.'",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"a.b": 1}),
    ),
    "dollar metadata key": (
        InvalidMetadataError,
        "leading '$'",
        lambda m: m.upsert("x", vectors=GOOD, metadata={"$set": 1}),
    ),
    "empty metadata key": (InvalidMetadataError, "non-empty", lambda m: m.upsert("x", vectors=GOOD, metadata={"": 1})),
    "too deep metadata": (
        InvalidMetadataError,
        "deeper than 32",
        lambda m: m.upsert("x", vectors=GOOD, metadata=_deep(40)),
    ),
    "bool expected version": (
        InvalidInputError,
        "expected_version",
        lambda m: m.upsert("x", vectors=GOOD, expected_version=True),
    ),
    "bool in vector": (InvalidVectorError, "only numbers", lambda m: m.upsert("x", vectors=[True, 0.5, 0.5, 0.5])),
    "numeric strings in vector": (
        InvalidVectorError,
        "only numbers",
        lambda m: m.upsert("x", vectors=["1.5", 0.5, 0.5, 0.5]),
    ),
    "bool array vector": (
        InvalidVectorError,
        "numbers",
        lambda m: m.upsert("x", vectors=np.array([True, False, True, True])),
    ),
    "bool limit": (InvalidInputError, "limit", lambda m: m.search(GOOD, limit=True)),
    "bool collection size": (InvalidVectorError, "positive integers", lambda m: m.create_collection("sized", True)),
    "metadata key": (
        InvalidMetadataError,
        "keys must be strings",
        lambda m: m.upsert("x", vectors=GOOD, metadata={1: "a"}),
    ),
    "metadata not a dict": (
        InvalidMetadataError,
        "must be a dict",
        lambda m: m.upsert("x", vectors=GOOD, metadata=["a"]),
    ),
    "empty id": (InvalidIdError, "non-empty string", lambda m: m.upsert("x", id="", vectors=GOOD)),
    "non-string id": (InvalidIdError, "non-empty string", lambda m: m.upsert("x", id=7, vectors=GOOD)),
    "bad namespace": (InvalidIdError, "namespace", lambda m: m.upsert("x", vectors=GOOD, namespace="")),
    "bad collection": (InvalidIdError, "collection name", lambda m: m.upsert("x", vectors=GOOD, collection="../etc")),
    "version conflict": (
        ConcurrencyError,
        "expected version 0",
        lambda m: m.upsert("x", id="exists", vectors=GOOD, expected_version=0),
    ),
    "negative expected version": (
        InvalidInputError,
        "expected_version",
        lambda m: m.upsert("x", vectors=GOOD, expected_version=-1),
    ),
    "unknown filter operator": (FilterError, "$regex", lambda m: m.search(GOOD, filter={"a": {"$regex": "x"}})),
    "unknown logical operator": (FilterError, "$xor", lambda m: m.search(GOOD, filter={"$xor": [{"a": 1}]})),
    "bad $in operand": (FilterError, "non-empty list", lambda m: m.search(GOOD, filter={"a": {"$in": "x"}})),
    "range on a string": (FilterError, "needs a number", lambda m: m.search(GOOD, filter={"a": {"$gt": "x"}})),
    "nested dict value": (FilterError, "dotted key", lambda m: m.search(GOOD, filter={"a": {"b": 1}})),
    "search dimension": (InvalidVectorError, "dimension 2", lambda m: m.search([1.0, 2.0])),
    "limit": (InvalidInputError, "limit", lambda m: m.search(GOOD, limit=0)),
    "transaction with one bad write": (
        InvalidVectorError,
        "non-finite",
        lambda m: _transaction(m, [("ok", GOOD), ("bad", [float("nan")] * 4)]),
    ),
    "text without embedder": (InvalidVectorError, "no embedder", lambda m: m.upsert("only text")),
}


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels):
        value = {"k": value}
    return value


def _transaction(memory: Memory, writes: list[tuple[str, list[float]]]) -> None:
    with memory.transaction() as tx:
        for text, vector in writes:
            tx.upsert(text, vectors=vector)


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Memory]:
    memory = Memory(settings=Settings(path=tmp_path / "m", max_text_bytes=64))
    memory.upsert("existing", id="exists", vectors=GOOD, metadata={"a": 1})
    yield memory
    memory.close()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_raises_typed_error_and_writes_nothing(small: Memory, case: str) -> None:
    error, message, call = CASES[case]
    before = log_position(small)
    with pytest.raises(error) as info:
        call(small)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError) or error is ConcurrencyError
    assert log_position(small) == before
    assert [r.text for r in small.scan()] == ["existing"]


def test_unknown_backend_url(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedBackendError, match="foo://x"):
        Memory(log_url="foo://x", index_url="memory://")
    with pytest.raises(UnsupportedBackendError, match="edge:///dir"):
        Memory(log_url="memory://", index_url="bar://y")


def test_scan_checks_limit_and_offset(small: Memory) -> None:
    with pytest.raises(InvalidInputError, match="limit"):
        small.scan(limit=-1)
    with pytest.raises(InvalidInputError, match="offset"):
        small.scan(offset=-1)


def test_a_memory_that_fails_to_open_releases_its_log(tmp_path: Path) -> None:
    log_file = tmp_path / "log.db"
    with pytest.raises(UnsupportedBackendError) as info:
        Memory(log_url=f"sqlite:///{log_file}", index_url="nope://")
    assert info.value is not None  # the traceback keeps the half-built Memory alive: its log must be closed
    open_files = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
    assert str(log_file) not in open_files


def test_hash_embedder_with_a_bad_dimension_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="hash:384"):
        Memory(tmp_path / "m", embedder="hash:abc")
    with pytest.raises(InvalidInputError, match="integer >= 2"):
        Memory(tmp_path / "m", embedder="hash:1")


def test_values_at_the_edges_of_what_is_accepted_are_stored(small: Memory) -> None:
    metadata = {
        "max": 2**63 - 1,
        "min": -(2**63),
        "tiny": 5e-324,
        "neg0": -0.0,
        "np": np.float64(0.25),
        "nul\x00value": None,
        "emoji": "☕\U0001f375",
        "ctrl": "\x00\x1f\x7f",
    }
    metadata = {k.replace("\x00", ""): v for k, v in metadata.items()}  # keys may not hold NUL
    small.upsert("edge values", id="edges", vectors=GOOD, metadata=metadata)
    (record,) = small.get("edges")
    assert record.metadata == metadata
