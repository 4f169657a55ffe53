"""The MongoDB log under a server crash: SIGKILL the server in the middle of a stream of appends,
restart it on the same data, and check what the writers were told against what the log holds.

* Restarted within ``mongo_timeout_seconds``: the appends in flight are retried and succeed, and
  retries never duplicate (an insert whose reply was lost is found again by its event ids).
* Down for longer than the timeout: the writers get a typed :class:`EventLogError` for the calls
  they could not make, and each of those memories is afterwards absent or present exactly once.
* Whether a crash loses a reply is chance, so the state it leaves (the commit is in the log, the
  writer was never told) is also set up directly: the retried append records nothing.

Each test starts its own FerretDB (the session server must not be killed). Writers are threads,
each with its own ``Memory`` (so its own client and log instance) on the shared database.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from omega_memory_plugin import EventLogError, Memory, Settings
from omega_memory_plugin.errors import OmegaMemoryError
from omega_memory_plugin.events import CollectionCreated, CollectionCreatedEvent, Event, MemoryUpsertedEvent
from omega_memory_plugin.log.mongo import mongo_event_log
from omega_memory_plugin.testing.builders import upserted
from omega_memory_plugin.testing.servers.ferretdb import FerretDB

WRITERS = 3
WAIT = 60.0  # seconds a test waits for a condition before failing; never reached when all is well


@dataclass
class Call:
    memory_id: str
    started: float
    ended: float = 0.0
    error: BaseException | None = None


@dataclass
class Writer:
    """Upserts new memories in a loop until told to stop, recording every call's outcome."""

    number: int
    url: str
    timeout: float
    calls: list[Call] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    crash: BaseException | None = None

    def run(self) -> None:
        try:
            settings = Settings(mongo_timeout_seconds=self.timeout)
            with Memory(log_url=self.url, index_url="memory://", settings=settings) as memory:
                while not self.stop.is_set():
                    self.append(memory, f"w{self.number}-{len(self.calls)}")
                    # ~20 appends/s per writer: a steady stream (unpaced writers: test_mongo_fairness.py)
                    time.sleep(0.05)
        except BaseException as exc:  # surfaced by the test: a writer must not die
            self.crash = exc
            print(f"writer {self.number} crashed: {exc!r}", flush=True)

    def append(self, memory: Memory, memory_id: str) -> None:
        call = Call(memory_id, started=time.monotonic())
        self.calls.append(call)
        try:
            memory.upsert(f"memory {memory_id}", id=memory_id, vectors=[1.0, float(len(self.calls))])
        except Exception as exc:  # recorded: only typed errors are acceptable, checked by the test
            call.error = exc
        call.ended = time.monotonic()

    def done(self) -> list[Call]:
        return [c for c in self.calls if c.ended]

    def returned(self) -> list[Call]:
        return [c for c in self.done() if c.error is None]

    def failed(self) -> list[Call]:
        return [c for c in self.done() if c.error is not None]


@contextmanager
def running_writers(url: str, timeout: float) -> Iterator[list[Writer]]:
    writers = [Writer(n, url, timeout) for n in range(WRITERS)]
    threads = [threading.Thread(target=w.run, name=f"writer-{w.number}") for w in writers]
    for thread in threads:
        thread.start()
    try:
        yield writers
    finally:
        for writer in writers:
            writer.stop.set()
        for thread in threads:
            thread.join()
    assert [w.crash for w in writers] == [None] * WRITERS


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def total_returned(writers: list[Writer]) -> int:
    return sum(len(w.returned()) for w in writers)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FerretDB]:
    """A FerretDB of this test's own, which the test may kill."""
    server = FerretDB(tmp_path / "fdb")
    server.start()
    yield server
    server.stop()


def restart(server: FerretDB) -> None:
    """Start a new FerretDB process on the killed one's data directory and port."""
    again = FerretDB(server.data_dir, port=server.port)
    again.start()
    server.process = again.process  # the fixture stops whichever process runs at the end


def read_log(url: str) -> list[Event]:
    with Memory(log_url=url, index_url="memory://") as memory:

        async def read() -> list[Event]:
            return [event async for batch in memory.log.read() for event in batch]

        return memory._engine.run(read())


def check_log_against_outcomes(url: str, writers: list[Writer]) -> tuple[int, int]:
    """Every returned append is in the log once; every failed one at most once; nothing else.
    Returns (events in the log, failed appends that had in fact landed)."""
    events = read_log(url)
    assert [e.position for e in events] == list(range(1, len(events) + 1))
    assert len({e.event_id for e in events}) == len(events)  # no event recorded twice
    versions = Counter((e.memory_id, e.version) for e in events if isinstance(e, MemoryUpsertedEvent))
    per_id = Counter(memory_id for memory_id, _ in versions.elements())
    returned = {c.memory_id for w in writers for c in w.returned()}
    failed = {c.memory_id for w in writers for c in w.failed()}
    in_flight = {c.memory_id for w in writers for c in w.calls if not c.ended}  # none: threads joined
    assert not in_flight
    # Each id was written by one call, so its stream holds exactly one event, at version 1.
    assert {memory_id: per_id[memory_id] for memory_id in returned} == dict.fromkeys(returned, 1)
    assert all(versions[(memory_id, 1)] == 1 for memory_id in returned)
    assert all(per_id[memory_id] <= 1 for memory_id in failed)
    assert set(per_id) <= returned | failed
    return len(events), sum(1 for memory_id in failed if per_id[memory_id])


def test_appends_in_flight_when_the_server_is_killed_succeed_after_a_restart_without_duplicates(
    server: FerretDB,
) -> None:
    url = server.url + "db"
    with running_writers(url, timeout=20.0) as writers:
        # every writer must be running (its Memory open) before the kill, or it could never fail a call
        wait_until(
            lambda: total_returned(writers) >= 30 and all(w.returned() for w in writers), "30 appends before the crash"
        )
        server.kill()
        killed = time.monotonic()
        time.sleep(1.0)  # down for a while: every writer is now stuck in a call
        restart(server)
        restarted = time.monotonic()
        after = total_returned(writers)
        wait_until(lambda: total_returned(writers) >= after + 30, "30 appends after the restart")

    assert [c.error for w in writers for c in w.failed()] == []  # the outage was shorter than the timeout
    # The calls caught by the crash were retried until the server came back, and returned.
    spanning = [c for w in writers for c in w.returned() if c.started < restarted < c.ended]
    assert {c.memory_id.split("-")[0] for c in spanning} == {f"w{n}" for n in range(WRITERS)}
    events, landed = check_log_against_outcomes(url, writers)
    longest = max(c.ended - c.started for c in spanning)
    print(
        f"\nrestart after {restarted - killed:.1f} s: {total_returned(writers)} appends returned, 0 failed, "
        f"{len(spanning)} in flight across the outage and retried (longest call {longest:.1f} s); "
        f"{events} events in the log"
    )


def test_a_server_down_past_the_timeout_gives_typed_errors_and_never_duplicates(server: FerretDB) -> None:
    url = server.url + "db"
    with running_writers(url, timeout=1.0) as writers:
        # every writer must be running (its Memory open) before the kill, or it could never fail a call
        wait_until(
            lambda: total_returned(writers) >= 30 and all(w.returned() for w in writers), "30 appends before the crash"
        )
        server.kill()
        killed = time.monotonic()
        wait_until(lambda: all(w.failed() for w in writers), "every writer to give up on the dead server")
        down = time.monotonic() - killed
        restart(server)
        after = total_returned(writers)
        wait_until(lambda: total_returned(writers) >= after + 30, "30 appends after the restart")

    failures = [c.error for w in writers for c in w.failed()]
    assert all(isinstance(e, OmegaMemoryError) for e in failures), failures
    assert all(isinstance(e, EventLogError) and "unreachable" in str(e) for e in failures), failures
    events, landed = check_log_against_outcomes(url, writers)
    print(
        f"\nserver down {down:.1f} s (timeout 1 s): {total_returned(writers)} appends returned, "
        f"{len(failures)} raised EventLogError ({landed} of those had landed), {events} events in the log"
    )


async def test_an_append_retried_after_its_reply_was_lost_records_nothing_and_returns_the_stored_events(
    mongo_url: str,
) -> None:
    # `retrying` is a writer whose insert landed but whose reply was lost: it does not know the
    # commit. Another log instance stands in for that insert, so the state is exact, not chance.
    landed, retrying = (mongo_event_log(mongo_url, Settings()) for _ in range(2))
    assert landed is not None and retrying is not None
    await retrying.open()
    await landed.open()
    try:
        events = [upserted("a", [1, 0, 0, 0]), upserted("b", [0, 1, 0, 0])]
        stored = await landed.append(events)
        assert await retrying.append(events) == stored  # E11000 at its stale position, then found by id
        assert await retrying.append([events[1]]) == stored[1:]  # and again, now from what it learned
        assert await retrying.last_position() == 2
        assert [(e.memory_id, e.version) for e in await retrying.stream(events[0].stream)] == [("a", 1)]
    finally:
        await landed.close()
        await retrying.close()


async def test_a_commit_whose_writer_died_before_copying_it_to_the_ring_is_seen_by_no_read_or_by_all(
    mongo_url: str,
) -> None:
    # The writer's insert landed, then it died before copying the commit to the ring: readers learn
    # the commit only once a later one is copied. Until then every read must agree that it is not
    # there; a reader that saw the collection it creates without its stream head failed with a
    # KeyError (found by the test above, under load).
    died, reader = (mongo_event_log(mongo_url, Settings()) for _ in range(2))
    assert died is not None and reader is not None

    async def dies_before_copying(doc: object, size: int) -> None:
        return None

    died._copy_to_ring = dies_before_copying  # type: ignore[method-assign]
    await died.open()
    await reader.open()
    try:
        created = CollectionCreatedEvent(collection="default", data=CollectionCreated(vectors={"dense": 2}))
        await died.append([created, upserted("a", [1.0, 0.0], collection="default")])
        keys = [(e.collection, "", "") for e in await reader.collections()]
        heads = await reader.heads(keys)
        assert set(heads) == set(keys)
        # The next commit (any writer's) makes it visible to every read at once.
        await reader.append([upserted("b", [0.0, 1.0], collection="default")])
        keys = [(e.collection, "", "") for e in await reader.collections()]
        assert keys == [("default", "", "")]
        assert set(await reader.heads(keys)) == set(keys)
    finally:
        await died.close()
        await reader.close()
