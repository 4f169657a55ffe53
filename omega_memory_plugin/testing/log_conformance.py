"""The EventLog contract as tests. Every log backend, built-in or plugin, subclasses this.

Usage (pytest with pytest-asyncio)::

    class TestMyLog(EventLogConformance):
        @pytest.fixture
        async def log(self, tmp_path):
            log = MyLog(...)
            await log.open()
            yield log
            await log.close()
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ..errors import ConcurrencyError
from ..events import Event, vector_array
from ..log.base import EventLog
from .builders import created, deleted, upserted


async def read_all(log: EventLog, **kwargs: object) -> list[Event]:
    return [event async for batch in log.read(**kwargs) for event in batch]  # type: ignore[arg-type]


class EventLogConformance:
    """Subclasses provide a ``log`` fixture yielding an opened, empty log."""

    async def test_append_assigns_increasing_positions_and_stream_versions(self, log: EventLog) -> None:
        recorded = await log.append([created(), upserted("a", [1, 0, 0, 0]), upserted("b", [0, 1, 0, 0])])
        recorded += await log.append([upserted("a", [0, 0, 1, 0])])
        positions = [e.position for e in recorded]
        assert positions == sorted(positions) and len(set(positions)) == 4 and positions[0] >= 1
        assert [(e.memory_id, e.version) for e in recorded[1:]] == [("a", 1), ("b", 1), ("a", 2)]
        assert all(e.recorded_at is not None and e.recorded_at.tzinfo is not None for e in recorded)
        assert await log.last_position() == positions[-1]

    async def test_events_round_trip_exactly(self, log: EventLog) -> None:
        vector = [0.1, -2.5, 3.25e-7, 1e30]
        metadata = {"topic": "tea", "n": 3, "f": 1.5, "ok": True, "none": None, "tags": ["a", "b"],
                    "nested": {"deep": {"x": "é✓"}}}
        event = upserted("ü-1#x", vector, text="naïve text ✓", metadata=metadata)
        (stored,) = await log.append([event])
        (read,) = await read_all(log)
        assert read == stored
        assert read.event_id == event.event_id and read.data.text == "naïve text ✓"
        assert read.data.metadata == metadata
        assert vector_array(read.data.vectors["dense"]).tolist() == vector_array(event.data.vectors["dense"]).tolist()

    async def test_append_is_idempotent_by_event_id(self, log: EventLog) -> None:
        first = upserted("a", [1, 0, 0, 0])
        (stored,) = await log.append([first])
        again = await log.append([first, upserted("b", [0, 1, 0, 0])])
        assert again[0] == stored
        assert again[1].position > stored.position and again[1].version == 1
        assert [e.event_id for e in await read_all(log)] == [first.event_id, again[1].event_id]
        assert (await log.heads([first.stream]))[first.stream].version == 1

    async def test_retrying_a_whole_commit_records_nothing_and_returns_the_stored_events(self, log: EventLog) -> None:
        batch = [upserted("a", [1, 0, 0, 0]), upserted("b", [0, 1, 0, 0])]
        first = await log.append(batch)
        before = await log.last_position()
        assert await log.append(batch) == first
        assert await log.last_position() == before

    async def test_duplicate_ids_within_one_commit_are_recorded_once(self, log: EventLog) -> None:
        event = upserted("a", [1, 0, 0, 0])
        result = await log.append([event, event])
        assert result[0] == result[1]
        assert len(await read_all(log)) == 1

    async def test_expected_version_conflict_raises_and_records_nothing(self, log: EventLog) -> None:
        a1 = upserted("a", [1, 0, 0, 0])
        await log.append([a1], expected_versions={a1.stream: 0})
        before = await log.last_position()
        batch = [upserted("b", [0, 1, 0, 0]), upserted("a", [0, 0, 1, 0])]
        with pytest.raises(ConcurrencyError) as info:
            await log.append(batch, expected_versions={a1.stream: 0})
        assert info.value.expected == 0 and info.value.actual == 1 and info.value.memory_id == "a"
        assert await log.last_position() == before
        assert [e.memory_id for e in await read_all(log)] == ["a"]
        ok = await log.append([upserted("a", [0, 0, 1, 0])], expected_versions={a1.stream: 1})
        assert ok[0].version == 2

    async def test_read_from_position_until_position_and_in_batches(self, log: EventLog) -> None:
        events = await log.append([upserted(str(i), [i, 1, 0, 0]) for i in range(25)])
        positions = [e.position for e in events]
        assert [e.position for e in await read_all(log)] == positions
        assert [e.position for e in await read_all(log, from_position=positions[9])] == positions[10:]
        assert [e.position for e in await read_all(log, until=positions[4])] == positions[:5]
        batches = [len(b) async for b in log.read(batch=10)]
        assert batches == [10, 10, 5]

    async def test_read_until_a_time(self, log: EventLog) -> None:
        early = await log.append([upserted("a", [1, 0, 0, 0])])
        await asyncio.sleep(0.02)
        cut = datetime.now(UTC)
        await asyncio.sleep(0.02)
        await log.append([upserted("b", [0, 1, 0, 0])])
        assert [e.memory_id for e in await read_all(log, until=cut)] == ["a"]
        assert await log.position_at(cut) == early[0].position
        assert await log.position_at(cut - timedelta(days=1)) == 0

    async def test_stream_and_heads(self, log: EventLog) -> None:
        a1 = upserted("a", [1, 0, 0, 0])
        await log.append([a1, upserted("b", [0, 1, 0, 0])])
        await log.append([upserted("a", [0, 0, 1, 0]), deleted("b")])
        history = await log.stream(a1.stream)
        assert [(e.type, e.version) for e in history] == [("memory.upserted", 1), ("memory.upserted", 2)]
        b_key = ("c", "ns", "b")
        heads = await log.heads([a1.stream, b_key, ("c", "ns", "missing")])
        assert heads[a1.stream].version == 2 and not heads[a1.stream].deleted
        assert heads[b_key].version == 2 and heads[b_key].deleted
        assert ("c", "ns", "missing") not in heads

    async def test_same_id_in_other_namespace_is_another_stream(self, log: EventLog) -> None:
        recorded = await log.append([upserted("a", [1, 0, 0, 0], namespace="x"), upserted("a", [1, 0, 0, 0], namespace="y")])
        assert [e.version for e in recorded] == [1, 1]

    async def test_collections_lists_collection_events(self, log: EventLog) -> None:
        await log.append([created("one"), upserted("a", [1, 0, 0, 0], collection="one"), created("two", {"x": 2})])
        found = await log.collections()
        assert [(e.collection, e.data.vectors) for e in found] == [("one", {"dense": 4}), ("two", {"x": 2})]

    async def test_checkpoints(self, log: EventLog) -> None:
        assert await log.get_checkpoint("p") == 0
        await log.set_checkpoint("p", 5)
        await log.set_checkpoint("q", 7)
        await log.set_checkpoint("p", 9)
        assert (await log.get_checkpoint("p"), await log.get_checkpoint("q")) == (9, 7)

    async def test_empty_log(self, log: EventLog) -> None:
        assert await log.last_position() == 0
        assert await read_all(log) == []
        assert await log.append([]) == []
