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
from typing import Any

import pytest

from ..errors import ConcurrencyError, InvalidInputError, TimeOrderError
from ..events import CollectionCreatedEvent, Event, MemoryUpsertedEvent, StreamKey, vector_array
from ..log.base import Envelope, EventLog
from ..log.versioning import LiveState, memory_history
from .builders import (
    created,
    deleted,
    erased,
    model_added,
    model_switched,
    reembedded,
    subject_forgotten,
    upserted,
)


async def read_all(log: EventLog, **kwargs: object) -> list[Event]:
    return [event async for batch in log.read(**kwargs) for event in batch]  # type: ignore[arg-type]


async def envelopes_all(log: EventLog, **kwargs: object) -> list[Envelope]:
    return [envelope async for batch in log.envelopes(**kwargs) for envelope in batch]  # type: ignore[arg-type]


async def alive(log: EventLog, *keys: StreamKey) -> dict[StreamKey, tuple[int, bool]]:
    """(last version, alive) of each existing stream among ``keys``."""
    return {key: (head.version, head.alive) for key, head in (await log.heads(keys)).items()}


X, Y = ("c", "ns", "x"), ("c", "ns", "y")
NS = ("c", "ns", "")


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
        metadata = {
            "topic": "tea",
            "n": 3,
            "f": 1.5,
            "ok": True,
            "none": None,
            "tags": ["a", "b"],
            "nested": {"deep": {"x": "é✓"}},
            "grid": [[1, 2.5], [], [[None]]],
            "big": 2**63 - 1,
            "ulp": 937.9228155259179,
            "neg0": -0.0,
            "nul": "a\x00b",
        }
        event = upserted("ü-1#x", vector, text="naïve text ✓", metadata=metadata)
        (stored,) = await log.append([event])
        (read,) = await read_all(log)
        assert read == stored
        assert isinstance(read, MemoryUpsertedEvent) and isinstance(event, MemoryUpsertedEvent)
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
        assert heads[a1.stream].version == 2 and heads[a1.stream].alive and heads[a1.stream].current_version == 2
        assert heads[b_key].version == 2 and not heads[b_key].alive and heads[b_key].current_version == 0
        assert ("c", "ns", "missing") not in heads

    async def test_same_id_in_other_namespace_is_another_stream(self, log: EventLog) -> None:
        recorded = await log.append(
            [upserted("a", [1, 0, 0, 0], namespace="x"), upserted("a", [1, 0, 0, 0], namespace="y")]
        )
        assert [e.version for e in recorded] == [1, 1]

    async def test_collections_lists_collection_events(self, log: EventLog) -> None:
        await log.append([created("one"), upserted("a", [1, 0, 0, 0], collection="one"), created("two", {"x": 2})])
        found = await log.collections()
        schemas = [(e.collection, e.data.vectors) for e in found if isinstance(e, CollectionCreatedEvent)]
        assert len(schemas) == len(found) and schemas == [("one", {"dense": 4}), ("two", {"x": 2})]

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

    # -- stream state: one rule (log/versioning.py) ------------------------------------------

    async def test_delete_of_a_missing_memory_records_nothing_and_is_not_returned(self, log: EventLog) -> None:
        assert await log.append([deleted("x")]) == []
        assert await log.last_position() == 0
        a = upserted("a", [1, 0, 0, 0])
        result = await log.append([deleted("x"), a, deleted("y")])
        assert [(e.event_id, e.position) for e in result] == [(a.event_id, 1)]
        assert [e.memory_id for e in await read_all(log)] == ["a"]
        assert await log.stream(X) == []

    async def test_delete_of_a_deleted_memory_records_nothing(self, log: EventLog) -> None:
        await log.append([upserted("x", [1, 0, 0, 0])])
        (first,) = await log.append([deleted("x")])
        assert first.version == 2
        assert await log.append([deleted("x")]) == []
        assert await log.append([deleted("x"), deleted("x")]) == []
        assert await alive(log, X) == {X: (2, False)}
        assert await log.last_position() == 2

    async def test_delete_of_an_erased_memory_records_nothing_and_versions_continue(self, log: EventLog) -> None:
        await log.append([upserted("x", [1, 0, 0, 0])])
        (erase,) = await log.append([erased()])
        assert (erase.type, erase.version, erase.memory_id) == ("namespace.erased", 1, "")
        assert await alive(log, X, NS) == {X: (1, False), NS: (1, True)}
        assert await log.append([deleted("x")]) == []
        (again,) = await log.append([upserted("x", [0, 1, 0, 0])])
        assert again.version == 2  # a stream's versions never restart
        assert await alive(log, X) == {X: (2, True)}
        assert [(e.type, e.version) for e in await log.stream(X)] == [("memory.upserted", 1), ("memory.upserted", 2)]

    async def test_erase_of_a_namespace_without_alive_memories_records_nothing(self, log: EventLog) -> None:
        assert await log.append([erased()]) == []  # never written
        await log.append([upserted("x", [1, 0, 0, 0], namespace="other"), upserted("x", [1, 0, 0, 0], collection="d")])
        assert await log.append([erased()]) == []  # only other namespaces and collections have memories
        await log.append([upserted("x", [1, 0, 0, 0])])
        await log.append([deleted("x")])
        assert await log.append([erased()]) == []  # every memory deleted
        await log.append([upserted("x", [1, 0, 0, 0])])
        assert len(await log.append([erased()])) == 1
        assert await log.append([erased()]) == []  # already erased
        assert await alive(log, NS) == {NS: (1, True)}

    async def test_erase_ends_only_its_own_namespace_in_its_own_collection(self, log: EventLog) -> None:
        await log.append(
            [
                upserted("x", [1, 0, 0, 0]),
                upserted("x", [1, 0, 0, 0], namespace="o"),
                upserted("x", [1, 0, 0, 0], collection="d"),
            ]
        )
        await log.append([erased()])
        found = await alive(log, X, ("c", "o", "x"), ("d", "ns", "x"))
        assert found == {X: (1, False), ("c", "o", "x"): (1, True), ("d", "ns", "x"): (1, True)}

    async def test_erase_is_recorded_while_an_untouched_memory_is_alive(self, log: EventLog) -> None:
        await log.append([upserted("x", [1, 0, 0, 0]), upserted("y", [0, 1, 0, 0])])
        await log.append([deleted("x")])
        assert [e.type for e in await log.append([erased()])] == ["namespace.erased"]  # y was alive
        await log.append([upserted("x", [1, 0, 0, 0]), upserted("y", [0, 1, 0, 0])])
        # The commit ends x itself; y, which it does not touch, keeps the erase meaningful.
        assert [e.type for e in await log.append([deleted("x"), erased()])] == ["memory.deleted", "namespace.erased"]
        await log.append([upserted("x", [1, 0, 0, 0])])
        # x was the only alive memory and the commit deleted it first: nothing left to erase.
        assert [e.type for e in await log.append([deleted("x"), erased()])] == ["memory.deleted"]

    async def test_expected_zero_means_not_alive(self, log: EventLog) -> None:
        (x1,) = await log.append([upserted("x", [1, 0, 0, 0])], expected_versions={X: 0})
        await log.append([deleted("x")], expected_versions={X: 1})
        (x3,) = await log.append([upserted("x", [0, 1, 0, 0])], expected_versions={X: 0})  # deleted: not alive
        await log.append([erased()])
        (x4,) = await log.append([upserted("x", [0, 0, 1, 0])], expected_versions={X: 0})  # erased: not alive
        assert (x1.version, x3.version, x4.version) == (1, 3, 4)
        with pytest.raises(ConcurrencyError) as info:
            await log.append([upserted("x", [0, 0, 0, 1])], expected_versions={X: 0})
        assert (info.value.expected, info.value.actual) == (0, 4)

    async def test_expected_version_of_a_dead_memory_conflicts_with_actual_zero(self, log: EventLog) -> None:
        await log.append([upserted("x", [1, 0, 0, 0]), upserted("y", [1, 0, 0, 0])])
        await log.append([deleted("x")])
        before = await log.last_position()
        with pytest.raises(ConcurrencyError) as info:
            await log.append([upserted("x", [0, 1, 0, 0])], expected_versions={X: 2})
        assert (info.value.memory_id, info.value.namespace, info.value.expected, info.value.actual) == ("x", "ns", 2, 0)
        await log.append([erased()])
        with pytest.raises(ConcurrencyError) as info:
            await log.append([deleted("y")], expected_versions={Y: 1})
        assert (info.value.expected, info.value.actual) == (1, 0)
        with pytest.raises(ConcurrencyError):  # an expectation on a stream the commit does not write
            await log.append([upserted("z", [0, 1, 0, 0])], expected_versions={Y: 1})
        assert await log.last_position() == before + 1

    async def test_collection_and_namespace_streams_keep_plain_versions(self, log: EventLog) -> None:
        key = ("c", "", "")
        await log.append([created()], expected_versions={key: 0})
        with pytest.raises(ConcurrencyError) as info:
            await log.append([created()], expected_versions={key: 0})
        assert (info.value.memory_id, info.value.namespace, info.value.actual) == ("", "", 1)
        await log.append([upserted("x", [1, 0, 0, 0])])
        await log.append([erased()], expected_versions={NS: 0})
        assert await alive(log, key, NS) == {key: (1, True), NS: (1, True)}

    async def test_within_a_commit_upsert_erase_delete(self, log: EventLog) -> None:
        x, erase, delete = upserted("x", [1, 0, 0, 0]), erased(), deleted("x")
        result = await log.append([x, erase, delete])
        assert [(e.event_id, e.version) for e in result] == [(x.event_id, 1), (erase.event_id, 1)]
        assert await alive(log, X) == {X: (1, False)}
        assert [e.event_id for e in await read_all(log)] == [x.event_id, erase.event_id]

    async def test_within_a_commit_erase_upsert_erase(self, log: EventLog) -> None:
        first, x, second = erased(), upserted("x", [1, 0, 0, 0]), erased()
        result = await log.append([first, x, second])  # the first erase finds nothing alive
        assert [e.event_id for e in result] == [x.event_id, second.event_id]
        assert await alive(log, X, NS) == {X: (1, False), NS: (1, True)}
        await log.append([upserted("y", [0, 1, 0, 0])])
        first, x, second = erased(), upserted("x", [1, 0, 0, 0]), erased()
        result = await log.append([first, x, second])  # now y is alive: both erases count
        assert [(e.event_id, e.version) for e in result] == [(first.event_id, 2), (x.event_id, 2), (second.event_id, 3)]
        assert await alive(log, X, Y) == {X: (2, False), Y: (1, False)}

    async def test_a_retried_commit_records_its_no_ops_still_as_nothing(self, log: EventLog) -> None:
        batch = [upserted("a", [1, 0, 0, 0]), deleted("x"), erased("elsewhere")]
        first = await log.append(batch)
        assert [e.event_id for e in first] == [batch[0].event_id]
        assert await log.append(batch) == first
        assert await log.last_position() == 1

    async def test_memory_history_shows_the_erases_that_ended_it(self, log: EventLog) -> None:
        await log.append([erased()])  # nothing alive: not recorded, not in any history
        await log.append([upserted("x", [1, 0, 0, 0]), upserted("y", [0, 1, 0, 0])])
        await log.append([deleted("x")])
        (e1,) = await log.append([erased()])  # ends y only: x was already deleted
        await log.append([upserted("x", [1, 0, 0, 0])])
        (e2,) = await log.append([erased()])  # ends x
        x_history = memory_history(await log.stream(X), await log.stream(NS))
        y_history = memory_history(await log.stream(Y), await log.stream(NS))
        assert [(e.type, e.version) for e in x_history] == [
            ("memory.upserted", 1),
            ("memory.deleted", 2),
            ("memory.upserted", 3),
            ("namespace.erased", 2),
        ]
        assert x_history[-1] == e2 and y_history[-1] == e1
        assert [e.type for e in y_history] == ["memory.upserted", "namespace.erased"]

    async def test_envelopes_are_read_without_data(self, log: EventLog) -> None:
        await log.append([created(), upserted("x", [1, 0, 0, 0]), upserted("y", [0, 1, 0, 0])])
        await log.append([deleted("x"), erased(), upserted("z", [0, 0, 1, 0], namespace="o")])
        events = await read_all(log)
        assert await envelopes_all(log) == [Envelope.of(e) for e in events]
        assert await envelopes_all(log, from_position=2, until=4) == [Envelope.of(e) for e in events[2:4]]
        assert [len(b) async for b in log.envelopes(batch=4)] == [4, 2]
        envelope = (await envelopes_all(log))[1]
        assert (
            envelope.collection,
            envelope.namespace,
            envelope.memory_id,
            envelope.type,
            envelope.version,
            envelope.position,
        ) == ("c", "ns", "x", "memory.upserted", 1, 2)
        state = LiveState()
        async for batch in log.envelopes():
            state.apply(batch)
        assert state.alive == {("c", "o"): {"z": 1}}

    async def test_a_naive_datetime_is_utc(self, log: EventLog) -> None:
        early = await log.append([upserted("a", [1, 0, 0, 0])])
        await asyncio.sleep(0.02)
        cut = datetime.now(UTC)
        await asyncio.sleep(0.02)
        await log.append([upserted("b", [0, 1, 0, 0])])
        naive = cut.replace(tzinfo=None)
        assert await log.position_at(naive) == await log.position_at(cut) == early[0].position
        assert [e.memory_id for e in await read_all(log, until=naive)] == ["a"]
        assert await log.position_at(naive - timedelta(hours=1)) == 0  # not read as some local time
        assert [e.memory_id async for b in log.envelopes(until=naive) for e in b] == ["a"]

    # -- times: a commit is recorded now, or at the time its events carry (an import) -------------

    async def test_events_carrying_a_time_are_recorded_at_it(self, log: EventLog) -> None:
        then = datetime(2025, 1, 31, 12, 0, 0, 123000, tzinfo=UTC)  # milliseconds: what every log keeps
        old = [e.model_copy(update={"recorded_at": then}) for e in (created(), upserted("a", [1, 0, 0, 0]))]
        recorded = await log.append(old)
        assert [e.recorded_at for e in recorded] == [then, then]
        assert [e.recorded_at for e in await read_all(log)] == [then, then]
        assert await log.position_at(then) == recorded[-1].position
        assert await log.position_at(then - timedelta(milliseconds=1)) == 0
        naive = upserted("b", [0, 1, 0, 0]).model_copy(
            update={"recorded_at": (then + timedelta(days=1)).replace(tzinfo=None)}
        )
        (b,) = await log.append([naive])
        assert b.recorded_at == then + timedelta(days=1)  # a naive time is UTC
        (now,) = await log.append([upserted("c", [0, 0, 1, 0])])  # without a time: now
        assert now.recorded_at is not None and now.recorded_at > then + timedelta(days=300)

    async def test_a_time_before_the_last_commit_is_refused_and_nothing_is_recorded(self, log: EventLog) -> None:
        first = await log.append([upserted("a", [1, 0, 0, 0])])
        before = first[0].recorded_at - timedelta(seconds=1)  # type: ignore[operator]
        late = upserted("b", [0, 1, 0, 0]).model_copy(update={"recorded_at": before})
        with pytest.raises(TimeOrderError, match="never go back"):
            await log.append([late])
        assert [e.memory_id for e in await read_all(log)] == ["a"]
        # Already recorded, the same event is returned whatever time it carries: a re-import.
        again = first[0].model_copy(update={"position": 0, "version": 0, "recorded_at": before})
        assert await log.append([again]) == first

    async def test_one_commit_is_recorded_at_one_time(self, log: EventLog) -> None:
        then = datetime(2025, 1, 31, tzinfo=UTC)
        mixed = [upserted("a", [1, 0, 0, 0]).model_copy(update={"recorded_at": then}), upserted("b", [0, 1, 0, 0])]
        with pytest.raises(InvalidInputError, match="one time"):
            await log.append(mixed)
        assert await log.last_position() == 0

    async def test_times_never_go_back_along_positions(self, log: EventLog) -> None:
        future = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)  # a clock ahead of this one
        await log.append([upserted("a", [1, 0, 0, 0]).model_copy(update={"recorded_at": future})])
        (later,) = await log.append([upserted("b", [0, 1, 0, 0])])
        assert later.recorded_at == future  # not now, which is before it
        assert [e.memory_id for e in await read_all(log, until=future)] == ["a", "b"]

    async def test_re_embedding_events_round_trip_and_leave_memory_versions_alone(self, log: EventLog) -> None:
        (_, first) = await log.append([created(), upserted("a", [1, 0, 0, 0], metadata={"k": [1, 2]}, model="m0")])
        added = await log.append([model_added(1, 3, "m1")])
        copy = reembedded(first, [0.5, 0.25, -1], model="m1")
        stored = await log.append([copy], {first.stream: 1})  # recorded only while "a" is at version 1
        switched = await log.append([model_switched(1, "m0", "m1")])
        later = await log.append([upserted("a", [0, 1, 0], space=1, model="m1")])
        assert later[0].version == 2, "re-embedding never counts as a write of the memory"
        assert [e.type for e in added + switched] == ["collection.model_added", "collection.model_switched"]
        read = [e async for batch in log.read(0) for e in batch]
        by_type: dict[str, Any] = {e.type: e for e in read}
        assert by_type["memory.reembedded"] == stored[0]
        assert by_type["memory.reembedded"].data == copy.data
        assert vector_array(by_type["memory.reembedded"].data.vectors["dense"]).tolist() == [0.5, 0.25, -1]
        assert by_type["collection.model_added"].data == added[0].data
        assert by_type["collection.model_switched"].data == switched[0].data
        assert [e.data.space for e in read if isinstance(e, MemoryUpsertedEvent)] == [0, 1]
        heads = await log.heads([("c", "", ""), first.stream])
        assert heads[("c", "", "")].version == 3 and heads[first.stream].version == 2

    async def test_a_re_embedding_of_a_memory_that_moved_on_is_refused(self, log: EventLog) -> None:
        (_, first) = await log.append([created(), upserted("a", [1, 0, 0, 0])])
        await log.append([upserted("a", [0, 1, 0, 0])])
        with pytest.raises(ConcurrencyError):
            await log.append([model_added(1, 3), reembedded(first, [1, 1, 1])], {first.stream: 1})
        assert await log.last_position() == 3

    async def test_sealed_events_and_forgetting_round_trip(self, log: EventLog) -> None:
        box = bytes(range(256)) * 3  # a sealed body: any bytes, stored and read back exactly
        event = upserted("a", [1, 0, 0, 0], expires_at=datetime(2031, 1, 1, tzinfo=UTC))
        sealed = event.model_copy(
            update={
                "data": event.data.model_copy(
                    update={"text": "", "metadata": {}, "vectors": {}, "key": "k1", "sealed": box}
                )
            }
        )
        (_, stored, forgotten) = await log.append([created(), sealed, subject_forgotten(["k1", "k2"])])
        read = await read_all(log)
        assert read[1:] == [stored, forgotten]
        assert read[1].data.sealed == box and read[1].data.key == "k1" and read[1].data.vectors == {}  # type: ignore[union-attr]
        assert read[1].data.expires_at == event.data.expires_at  # type: ignore[union-attr]
        assert read[2].data.keys == ["k1", "k2"] and read[2].memory_id == "~forgotten"  # type: ignore[union-attr]
        assert await log.stream(stored.stream) == [stored]

    async def test_redact_drops_content_and_keeps_structure(self, log: EventLog) -> None:
        (_, a1, b1) = await log.append(
            [created(), upserted("a", [1, 0, 0, 0], text="secret a"), upserted("b", [0, 1, 0, 0], text="keep b")]
        )
        (a2,) = await log.append([upserted("a", [0, 0, 1, 0], text="secret a2", metadata={"k": "v"})])
        await log.append([model_added(1, 3)])
        (copy,) = await log.append([reembedded(a2, [1, 1, 1])], {a2.stream: 2})
        assert await log.redact([a1.position, copy.position, b1.position - 2, 10_000]) == 2
        read = {e.position: e for e in await read_all(log)}
        for position in (a1.position, copy.position):
            dropped = read[position].data
            assert (dropped.text, dropped.metadata, dropped.vectors, dropped.sealed) == ("", {}, {}, b"")  # type: ignore[union-attr]
            assert dropped.forgotten  # type: ignore[union-attr]
        was = {e.position: e for e in [a1, copy]}
        for position, event in was.items():  # everything but the content is as recorded
            assert (
                read[position].event_id,
                read[position].version,
                read[position].recorded_at,
                read[position].type,
            ) == (event.event_id, event.version, event.recorded_at, event.type)
        assert read[b1.position] == b1 and read[a2.position] == a2  # the others are untouched
        assert [e.data.forgotten for e in await log.stream(a1.stream)] == [True, False]  # type: ignore[union-attr]
        assert await alive(log, a1.stream) == {a1.stream: (2, True)}
        (again,) = await log.append([a1.model_copy(update={"position": 0, "version": 0})])
        assert again.position == a1.position  # its event id is still known: no second write
