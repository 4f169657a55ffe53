"""``Memory.events()``: the log in position order, streamed, for exports and audits."""

from __future__ import annotations

from pathlib import Path

import pytest

from omega_memory_plugin import InvalidInputError, Memory


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    memory = Memory(tmp_path / "m", embedder="hash:16")
    for i in range(25):
        memory.upsert(f"memory {i}", id=f"m{i}", namespace="n")
    memory.delete("m3", namespace="n")
    return memory


def test_events_stream_the_whole_log_in_order_in_batches(memory: Memory) -> None:
    with memory:
        events = list(memory.events(batch=4))
        assert [e.position for e in events] == list(range(1, 28))  # the collection, 25 writes, a delete
        assert [e.type for e in events[-2:]] == ["memory.upserted", "memory.deleted"]
        assert [e.position for e in memory.events(after=20, until=22)] == [21, 22]
        assert list(memory.events(after=27)) == []


def test_a_reader_that_stops_early_leaves_the_memory_usable(memory: Memory) -> None:
    with memory:
        for event in memory.events(batch=2):
            if event.position == 5:
                break
        memory.upsert("after the export", id="late", namespace="n")
        assert [e.position for e in memory.events(after=27)] == [28]


@pytest.mark.parametrize(
    ("arguments", "message"), [({"after": -1}, "after"), ({"batch": 0}, "batch"), ({"after": True}, "after")]
)
def test_bad_arguments_raise_before_reading(memory: Memory, arguments: dict[str, int], message: str) -> None:
    with memory, pytest.raises(InvalidInputError, match=message):
        next(memory.events(**arguments))
