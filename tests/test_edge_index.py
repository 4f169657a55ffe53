"""Qdrant Edge specifics: one owner per directory, orphaned generations, a lost collection, the
recorded state, worker threads, and how Edge reads floats back (the contract itself is checked by
tests/test_projection_conformance.py)."""

from __future__ import annotations

import asyncio
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import qdrant_edge as qe
from hypothesis import given, settings
from hypothesis import strategies as st

from omega_memory_plugin.errors import DirectoryLockedError, IndexUnavailableError
from omega_memory_plugin.filters import parse_filter
from omega_memory_plugin.index.base import Entry, IndexState, SearchQuery
from omega_memory_plugin.index.edge import EDGE_LAYOUT, EdgeProjection
from omega_memory_plugin.index.edge_floats import edge_float as _edge_float
from omega_memory_plugin.index.edge_floats import edge_read as _edge_read
from omega_memory_plugin.testing.builders import Recorder, created, deleted, erased, upserted

T = TypeVar("T")


def vector(seed: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(seed).normal(size=4)]


def generations(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir()}


def run_child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


# --- one owner per directory ---------------------------------------------------------------------


async def test_a_second_projection_in_this_process_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    first = EdgeProjection(tmp_path)
    with pytest.raises(DirectoryLockedError, match=rf"in this process \(pid {os.getpid()} .*read_only=True\)"):
        EdgeProjection(tmp_path)
    await first.close()
    second = EdgeProjection(tmp_path)
    await second.close()


HOLDER = """
    import asyncio, sys
    from omega_memory_plugin.index.edge import EdgeProjection
    index = EdgeProjection(sys.argv[1])
    print("open", flush=True)
    sys.stdin.readline()
    asyncio.run(index.close())
    print("closed", flush=True)
"""


async def test_another_process_is_refused_and_named(tmp_path: Path) -> None:
    child = run_child(HOLDER, str(tmp_path))
    assert child.stdout is not None and child.stdin is not None
    try:
        assert child.stdout.readline().strip() == "open"
        with pytest.raises(DirectoryLockedError) as refused:
            EdgeProjection(tmp_path)
        message = str(refused.value)
        assert f"another process: pid {child.pid} on " in message
        assert str(tmp_path) in message and "Memory(path, read_only=True)" in message
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "closed"
    finally:
        child.kill()
        child.wait()
    index = EdgeProjection(tmp_path)  # the child closed: the directory is free again
    await index.close()


async def test_a_killed_owner_leaves_the_directory_free(tmp_path: Path) -> None:
    child = run_child(HOLDER, str(tmp_path))
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "open"
    child.send_signal(signal.SIGKILL)  # no close(): the OS drops the lock with the process
    child.wait()
    index = EdgeProjection(tmp_path)
    assert f'"pid": {os.getpid()}' in (tmp_path / ".lock.owner").read_text()  # the stale record was replaced
    await index.close()
    assert not (tmp_path / ".lock.owner").exists()


async def test_a_failed_open_releases_the_lock(tmp_path: Path) -> None:
    index = EdgeProjection(tmp_path)
    await index.apply(Recorder()(created(), upserted("a", vector(1))))
    await index.flush()
    await index.close()
    (index.dir / "broken").mkdir()  # not a shard: loading it fails
    with pytest.raises(IndexUnavailableError, match="cannot open the Qdrant Edge index"):
        EdgeProjection(tmp_path)
    shutil.rmtree(index.dir / "broken")  # (the failed load left its own files in it)
    again = EdgeProjection(tmp_path)  # not DirectoryLockedError: the failed open let go
    assert [r.id for r in await again.get("c", "ns", ["a"])] == ["a"]
    await again.close()


async def test_fresh_generations_share_their_owners_lock(tmp_path: Path) -> None:
    record = Recorder()
    owner = EdgeProjection(tmp_path)
    await owner.apply(record(created(), upserted("a", vector(1))))
    fresh = await owner.fresh()
    await fresh.apply(record(created(), upserted("b", vector(2))))
    await fresh.promote(owner)  # drops the owner's generation and its share of the lock
    with pytest.raises(DirectoryLockedError):
        EdgeProjection(tmp_path)
    await fresh.close()
    again = EdgeProjection(tmp_path)
    assert again.generation == fresh.generation
    assert generations(tmp_path) == {fresh.generation}
    assert [r.id for r in await again.scan("c", "ns")] == ["b"]
    await again.close()


# --- orphaned generations ------------------------------------------------------------------------

KILLED_DURING_REBUILD = """
    import asyncio, os, signal, sys
    from omega_memory_plugin.index.edge import EdgeProjection
    from omega_memory_plugin.testing.builders import Recorder, created, upserted

    async def main():
        record = Recorder()
        index = EdgeProjection(sys.argv[1])
        await index.apply(record(created(), upserted("live", [1.0, 0.0, 0.0, 0.0])))
        await index.flush()
        fresh = await index.fresh()
        await fresh.apply(record(created(), upserted("half-built", [0.0, 1.0, 0.0, 0.0])))
        await fresh.flush()
        print(fresh.generation, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
"""


async def test_a_rebuild_killed_midway_leaves_a_generation_the_next_owner_removes(tmp_path: Path) -> None:
    child = run_child(KILLED_DURING_REBUILD, str(tmp_path))
    assert child.stdout is not None
    orphan = child.stdout.readline().strip()
    assert child.wait() == -signal.SIGKILL
    current = (tmp_path / "CURRENT").read_text()
    assert generations(tmp_path) == {current, orphan}
    (tmp_path / "not-a-generation").mkdir()  # only directories named like a generation are touched
    index = EdgeProjection(tmp_path)
    assert generations(tmp_path) == {current, "not-a-generation"}
    assert [r.id for r in await index.scan("c", "ns")] == ["live"]
    await index.close()


# --- a lost index is reported, never a KeyError ----------------------------------------------------


async def test_writing_to_a_lost_collection_says_to_rebuild(tmp_path: Path) -> None:
    record = Recorder()
    index = EdgeProjection(tmp_path)
    await index.apply(record(created(), upserted("a", vector(1))))
    await index.flush()
    await index.close()
    shutil.rmtree(index.dir / "c")
    reopened = EdgeProjection(tmp_path)
    assert await reopened.state() is None  # a collection it recorded is gone: the index was lost
    for write in (reopened.apply, reopened.repair):
        with pytest.raises(IndexUnavailableError, match=r"lost collection 'c'.*rebuild the index from the log"):
            await write(record(upserted("b", vector(2))))
    with pytest.raises(IndexUnavailableError, match="lost collection 'c'"):
        await reopened.apply(record(deleted("a")))
    with pytest.raises(IndexUnavailableError, match="lost collection 'c'"):
        await reopened.apply(record(erased()))
    assert await reopened.get("c", "ns", ["a"]) == [] and await reopened.count("c") == 0
    await reopened.close()


async def test_the_recorded_state_survives_a_reopen(tmp_path: Path) -> None:
    record = Recorder()
    index = EdgeProjection(tmp_path)
    await index.apply(record(created(), created("d"), upserted("a", vector(1))))
    await index.flush()
    await index.apply(record(upserted("b", vector(2))))  # applied but never flushed: not recorded
    await index.close()
    reopened = EdgeProjection(tmp_path)
    assert await reopened.state() == IndexState(3, EDGE_LAYOUT)
    await reopened.flush()  # before applying anything: the record must not go back to 0
    assert await reopened.state() == IndexState(3, EDGE_LAYOUT)
    await reopened.close()


async def test_repair_refuses_events_that_are_not_memory_writes(tmp_path: Path) -> None:
    index = EdgeProjection(tmp_path)
    await index.apply(Recorder()(created()))
    with pytest.raises(
        ValueError, match=r"repair\(\) takes memory.upserted and memory.deleted events only, got namespace.erased"
    ):
        await index.repair(Recorder()(erased()))
    await index.close()


# --- blocking: every method from a worker thread -------------------------------------------------


def on_a_new_thread(call: Callable[[], Awaitable[T]]) -> T:
    """As Projector._run offloads a blocking projection: a thread of its own, a loop of its own."""
    result: list[T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result.append(asyncio.run(_awaited(call)))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


async def _awaited(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


def test_every_method_runs_on_worker_threads_inside_asyncio_run(tmp_path: Path) -> None:
    assert EdgeProjection.blocking
    record = Recorder()
    index = EdgeProjection(tmp_path)  # opened on this thread, used on others, each call a new thread
    on_a_new_thread(
        lambda: index.apply(record(created(), upserted("a", vector(1), metadata={"x": 1.5}), upserted("b", vector(2))))
    )
    on_a_new_thread(index.flush)
    assert on_a_new_thread(index.state) == IndexState(3, EDGE_LAYOUT)
    assert sorted(on_a_new_thread(lambda: index.entries("c")), key=str) == [Entry("ns", "a", 1), Entry("ns", "b", 1)]
    on_a_new_thread(lambda: index.repair(record(deleted("b"))))
    query = SearchQuery("c", "ns", np.array(vector(1), np.float32), "dense", filter=None)
    assert [h.id for h in on_a_new_thread(lambda: index.search(query))] == ["a"]
    assert [r.id for r in on_a_new_thread(lambda: index.get("c", "ns", ["a"]))] == ["a"]
    assert on_a_new_thread(lambda: index.count("c", "ns")) == 1
    on_a_new_thread(index.optimize)
    fresh = on_a_new_thread(index.fresh)
    on_a_new_thread(lambda: fresh.apply(record(created(), upserted("z", vector(3)))))
    on_a_new_thread(lambda: fresh.promote(index))
    assert [r.id for r in on_a_new_thread(lambda: fresh.scan("c", "ns"))] == ["z"]
    on_a_new_thread(fresh.close)  # the lock taken on this thread is released from another
    again = EdgeProjection(tmp_path)
    asyncio.run(again.close())


# --- how Edge reads floats back --------------------------------------------------------------------


def sample_floats(n: int, seed: int = 11) -> list[float]:
    rng = random.Random(seed)
    floats: list[float] = [5e-324, 1e308, 1.7976931348623157e308, 2.2250738585072009e-308, 1234567890123456.0]
    while len(floats) < n:
        (bits,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if math.isfinite(bits):
            floats.append(bits)
        floats.append(rng.uniform(-1e3, 1e3))
        floats.append(rng.random() * 10.0 ** rng.randint(-320, 308))
        floats.append(float(rng.randint(0, 2**60)) * 10.0 ** rng.randint(-5, 5))  # "12340000.0" as ryu writes it
        floats.append(math.ldexp(rng.random(), rng.randint(-1074, -1000)))  # subnormals
    return floats[:n]


def test_edge_reads_stored_floats_back_as_the_emulation_says(tmp_path: Path) -> None:
    """A tripwire for qdrant-edge-py upgrades: if Edge reads floats differently (exactly, one day),
    the emulation in index/edge.py no longer describes it and the workaround must be revisited."""
    floats = sample_floats(30_000)
    shard = qe.EdgeShard.create(
        str(tmp_path / "s"), qe.EdgeConfig(vectors={"v": qe.EdgeVectorParams(size=1, distance=qe.Distance.Dot)})
    )
    shard.update(qe.UpdateOperation.upsert_points([qe.Point(i, {"v": [1.0]}, {"x": v}) for i, v in enumerate(floats)]))
    read = {
        r.id: r.payload["x"]
        for r in shard.retrieve(list(range(len(floats))), with_payload=True, with_vector=False)
        if r.payload
    }
    shard.close()
    differ = [(v, read[i], _edge_read(v)) for i, v in enumerate(floats) if read[i].hex() != _edge_read(v).hex()]
    assert not differ, f"Edge reads {len(differ)} floats otherwise than emulated, e.g. {differ[:3]}"
    assert sum(read[i] != v for i, v in enumerate(floats)) > len(floats) // 20  # Edge's parser is lossy


async def test_a_float_filter_answers_alike_for_points_written_before_and_after_its_index(tmp_path: Path) -> None:
    # Edge indexed the written float at write time but the float as read back when an index was
    # made later; the copy it filters on now holds floats that read back unchanged.
    floats = list(dict.fromkeys(sample_floats(400)))
    record = Recorder()
    index = EdgeProjection(tmp_path)
    half = len(floats) // 2
    await index.apply(
        record(created(), *[upserted(f"f{i}", vector(i), metadata={"x": v}) for i, v in enumerate(floats[:half])])
    )
    await index.count("c", "ns", parse_filter({"x": floats[0]}))  # the first float filter makes the index
    more = [upserted(f"f{i}", vector(i), metadata={"x": v}) for i, v in enumerate(floats) if i >= half]
    await index.apply(record(*more))
    for phase in ("as written", "after a reopen and optimize"):
        missed = [
            v for v in floats if [r.metadata["x"] for r in await index.scan("c", "ns", parse_filter({"x": v}))] != [v]
        ]
        assert not missed, f"{phase}: {len(missed)} floats not found by equality, e.g. {missed[:3]}"
        await index.flush()
        await index.close()
        index = EdgeProjection(tmp_path)
        await index.optimize()
    await index.close()


@settings(max_examples=500)
@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_edge_float_is_read_back_unchanged_and_keeps_order(a: float, b: float) -> None:
    low, high = sorted((a, b))
    for value in (low, high):
        mapped = _edge_float(value)
        assert _edge_read(mapped) == mapped
        assert abs(mapped - value) <= 64 * math.ulp(value)
    assert _edge_float(low) <= _edge_float(high)
    assert _edge_float(math.nextafter(low, math.inf)) >= _edge_float(low)
