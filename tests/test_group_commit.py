"""Group commit: writes that wait while another commit runs share the next one, and each writer
keeps its own answer (its events, or its own error), on every log and index."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hooks import Veto  # refuses a memory that mentions a password

from conftest import Opener
from omega_memory_plugin import (
    AppendVetoedError,
    ConcurrencyError,
    InvalidVectorError,
    Memory,
)
from omega_memory_plugin.events import Event, MemoryUpsertedEvent


@contextlib.contextmanager
def engine_paused(memory: Memory) -> Iterator[None]:
    """Hold the memory's engine thread until the block ends: the calls made meanwhile are all
    waiting when it resumes, as under load, so they meet in one group (deterministically)."""
    held, release = threading.Event(), threading.Event()
    memory._engine.loop.call_soon_threadsafe(lambda: (held.set(), release.wait(30)))
    assert held.wait(30)
    try:
        yield
    finally:
        release.set()


async def concurrently(memory: Memory, calls: Sequence[Any]) -> list[Any]:
    """Start every call (coroutines of ``memory``'s async methods) while the engine is held, then
    let them run together; return each one's result or exception, in order."""
    with engine_paused(memory):
        tasks = [asyncio.ensure_future(call) for call in calls]
        await asyncio.sleep(0)  # each task staged its write and handed it to the engine
    return list(await asyncio.gather(*tasks, return_exceptions=True))


def commits(memory: Memory) -> list[list[Event]]:
    """The log's events grouped by commit (a commit's events share their time)."""
    grouped: dict[Any, list[Event]] = {}
    for event in memory.events():
        grouped.setdefault(event.recorded_at, []).append(event)
    return list(grouped.values())


def vector(i: int) -> list[float]:
    return [float(i % 7) + 1.0, 1.0, float(i % 3), 0.5]


async def test_concurrent_writes_share_one_commit_and_each_gets_its_own_id(memory: Memory) -> None:
    await memory.aupsert("first, which creates the collection", id="first", vectors=vector(0))
    ids = await concurrently(
        memory, [memory.aupsert(f"fact {i}", vectors=vector(i), metadata={"i": i}) for i in range(40)]
    )

    assert all(isinstance(i, str) for i in ids) and len(set(ids)) == 40
    *_, shared = commits(memory)
    assert sorted(e.memory_id for e in shared) == sorted(ids)  # one commit, one index apply
    records = {r.id: r for r in await memory.aget(ids)}
    assert [records[i].text for i in ids] == [f"fact {i}" for i in range(40)]  # each its own
    assert [records[i].metadata["i"] for i in ids] == list(range(40))
    assert (await memory.acount()) == 41
    assert (await memory.averify()).ok


async def test_one_bad_write_never_fails_its_neighbours(memory: Memory) -> None:
    await memory.aupsert("taken", id="taken", vectors=vector(0))
    memory.plugins.manager.register(Veto())
    calls = [memory.aupsert(f"good {i}", id=f"g{i}", vectors=vector(i)) for i in range(10)]
    calls.insert(3, memory.aupsert("conflict", id="taken", vectors=vector(1), expected_version=0))
    calls.insert(6, memory.aupsert("wrong size", id="bad", vectors=[1.0, 2.0]))
    calls.insert(9, memory.aupsert("my password is swordfish", id="secret", vectors=vector(2)))

    results = await concurrently(memory, calls)

    assert isinstance(results.pop(9), AppendVetoedError)
    assert isinstance(results.pop(6), InvalidVectorError)
    assert isinstance(results.pop(3), ConcurrencyError)
    assert results == [f"g{i}" for i in range(10)]
    assert {r.id: r.text for r in await memory.aget(["taken", "bad", "secret"])} == {"taken": "taken"}
    assert sorted(r.id for r in await memory.aget([f"g{i}" for i in range(10)])) == sorted(results)
    logged = [e.data.text for e in memory.events() if isinstance(e, MemoryUpsertedEvent)]
    assert "conflict" not in logged and "wrong size" not in logged and "my password is swordfish" not in logged
    assert (await memory.averify()).ok


async def test_writes_to_one_memory_are_ordered_and_checked_one_after_the_other(memory: Memory) -> None:
    await memory.aupsert("start", id="other", vectors=vector(0))
    results = await concurrently(
        memory, [memory.aupsert(f"claim {i}", id="x", vectors=vector(i), expected_version=0) for i in range(5)]
    )

    won = [i for i, r in enumerate(results) if r == "x"]
    assert len(won) == 1  # "must not exist" holds for exactly one of them
    assert all(isinstance(r, ConcurrencyError) for i, r in enumerate(results) if i not in won)
    assert [r.text for r in await memory.aget("x")] == [f"claim {won[0]}"]


async def test_a_writer_that_gives_up_while_waiting_writes_nothing(memory: Memory) -> None:
    await memory.aupsert("start", id="start", vectors=vector(0))
    with engine_paused(memory):
        kept = asyncio.ensure_future(memory.aupsert("kept", id="kept", vectors=vector(1)))
        dropped = asyncio.ensure_future(memory.aupsert("dropped", id="dropped", vectors=vector(2)))
        await asyncio.sleep(0)
        dropped.cancel()
        await asyncio.sleep(0)
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert [r.id for r in await memory.aget(["kept", "dropped"])] == ["kept"]
    assert (await memory.averify()).ok


async def test_a_group_of_writes_that_change_nothing_records_nothing(memory: Memory) -> None:
    await memory.aupsert("kept", id="kept", vectors=vector(0))
    before = len(list(memory.events()))
    results = await concurrently(
        memory,
        [memory.adelete(f"missing-{i}") for i in range(5)] + [memory.adelete("x", collection="none")],
    )
    assert results == [0] * 6
    assert len(list(memory.events())) == before


def test_threads_writing_at_once_share_commits(memory: Memory) -> None:
    memory.upsert("start", id="start", vectors=vector(0))
    with engine_paused(memory):
        ready = memory._engine.loop._ready  # type: ignore[attr-defined]  # the held loop's queue of callbacks
        before = len(ready)
        threads = [
            threading.Thread(target=memory.upsert, args=(f"t{i}",), kwargs={"vectors": vector(i)}) for i in range(8)
        ]
        for thread in threads:
            thread.start()
        while len(ready) < before + 8:  # until every call is handed over
            threading.Event().wait(0.001)
    for thread in threads:
        thread.join()
    assert len(commits(memory)) == 2  # the collection with "start", then the eight together
    assert memory.count() == 9


# Concurrent writes to a few ids, some with an expected version: whatever is decided, each write
# either happened (its text is the memory's version it got) or failed with ConcurrencyError and
# left no trace, and the index holds exactly what the log says.
writes = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.one_of(st.none(), st.integers(0, 2))), min_size=1, max_size=12
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=writes, second=writes)
def test_concurrent_writes_keep_every_guarantee(opener: Opener, first: list[Any], second: list[Any]) -> None:
    with Memory(**opener(), embedder="hash:16") as memory:
        for round_, batch in enumerate([first, second]):
            results = asyncio.run(
                concurrently(
                    memory,
                    [
                        memory.aupsert(f"{key} r{round_} w{n}", id=key, expected_version=expected)
                        for n, (key, expected) in enumerate(batch)
                    ],
                )
            )
            logged = {e.data.text: e for e in memory.events() if isinstance(e, MemoryUpsertedEvent)}
            for n, ((key, _), result) in enumerate(zip(batch, results, strict=True)):
                text = f"{key} r{round_} w{n}"
                if isinstance(result, ConcurrencyError):
                    assert text not in logged
                else:
                    assert result == key and text in logged
            assert memory.verify().ok
            for key in "abc":
                heads = [e for e in memory.history(key) if e.type == "memory.upserted"]
                got = memory.get(key)
                assert [r.text for r in got] == ([heads[-1].data.text] if heads else [])
