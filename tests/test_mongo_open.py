"""Opening a MongoDB log costs the same whatever its length (issue 10, defect 4), and logs written
in the layout before issue 10 (integer ``_id``) still open.

Before issue 10 each instance read the envelope of every commit at open and kept every event id
and stream head in memory. Now it starts from the latest commit copied in the ring (a small
collection of copies of the latest commits) and checks the chain end; what
it remembers is a bounded cache, filled only by what it touches. Checked structurally: documents
fetched during ``open()`` (counted by a driver command listener) and memory retained by it
(tracemalloc), for a log of 100,000 events against an empty one. Times are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from bson import encode
from pymongo import AsyncMongoClient, monitoring

from omega_memory_plugin import Settings
from omega_memory_plugin.errors import ConcurrencyError
from omega_memory_plugin.events import Event
from omega_memory_plugin.log.mongo import CATCH_UP_COMMITS, MongoEventLog, mongo_event_log
from omega_memory_plugin.log.mongo_codec import commit_document, now_ms
from omega_memory_plugin.log.mongo_ring import SLOTS
from omega_memory_plugin.testing.builders import created, erased, upserted
from omega_memory_plugin.testing.log_conformance import read_all

COMMITS, PER_COMMIT = 10_000, 10  # 100,000 events


class DocumentsFetched(monitoring.CommandListener):
    """Counts the documents the server returns to find / getMore commands."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor") if event.command_name in ("find", "getMore") else None
        if cursor:
            self.count += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class OpenCost:
    documents: int
    retained_bytes: int
    peak_bytes: int
    seconds: float
    cache_entries: int
    last_position: int


async def cost_of_opening(server: str, database: str) -> OpenCost:
    """Open a fresh instance on ``database`` and measure what the open alone did."""
    counter = DocumentsFetched()
    client: AsyncMongoClient[Any] = AsyncMongoClient(server, tz_aware=True, event_listeners=[counter])
    await client.admin.command("ping")  # connect first: the pool is not the log's cost
    log = MongoEventLog(client[database])
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    began = time.perf_counter()
    await log.open()
    seconds = time.perf_counter() - began
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cost = OpenCost(counter.count, retained - before, peak - before, seconds, len(log.cache), await log.last_position())
    await client.close()
    return cost


async def build_log(server: str, database: str) -> int:
    """100,000 events as 10,000 commits of 10: all but the last ten inserted in bulk through the
    log's own encoding (with the ring copy its writers would have left), the last ten appended."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(server, tz_aware=True)
    log = MongoEventLog(client[database])
    await log.open()
    at = (await log.append([created("c", {"dense": 4})]))[0].recorded_at
    assert at is not None
    position, docs = 2, []
    for commit in range(COMMITS - 10):
        events: list[Event] = [
            upserted(f"m{commit}-{i}", [1.0, float(i), 0.0, 0.5]).model_copy(
                update={"version": 1, "position": position + i}
            )
            for i in range(PER_COMMIT - (1 if commit == 0 else 0))  # the first commit shares the collection's 10
        ]
        stamped = [e.model_copy(update={"recorded_at": at}) for e in events]
        docs.append(commit_document(stamped, at))
        position += len(stamped)
        if len(docs) == 1000 or commit == COMMITS - 11:
            await log.chain.insert_many(docs)
            await log._copy_to_ring(docs[-1], len(encode(docs[-1])))  # as its writer would
            docs = []
    writer = MongoEventLog(client[database])  # a writer of its own: it learns the bulk part at open
    await writer.open()
    for commit in range(10):
        await writer.append([upserted(f"last{commit}-{i}", [0.0, 1.0, 0.0, float(i)]) for i in range(PER_COMMIT)])
    last = await writer.last_position()
    await client.close()
    return last


@pytest.fixture
async def server_and_names(mongo_server: str) -> AsyncIterator[tuple[str, str, str]]:
    names = (f"e{uuid.uuid4().hex[:10]}", f"f{uuid.uuid4().hex[:10]}")
    yield mongo_server, *names
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_server)
    for name in names:
        await client.drop_database(name)
    await client.close()


async def test_opening_a_log_of_100000_events_costs_what_opening_an_empty_one_does(
    server_and_names: tuple[str, str, str],
) -> None:
    server, empty_db, full_db = server_and_names
    built = time.perf_counter()
    assert await build_log(server, full_db) == COMMITS * PER_COMMIT
    built = time.perf_counter() - built
    await cost_of_opening(server, empty_db)  # warm up imports and code paths
    empty = await cost_of_opening(server, empty_db)
    full = await cost_of_opening(server, full_db)
    print(
        f"\nbuilt {COMMITS * PER_COMMIT:,} events in {built:.1f} s; open: empty {empty.seconds * 1000:.1f} ms, "
        f"{empty.documents} docs, {empty.retained_bytes / 1024:.0f} KiB retained (peak {empty.peak_bytes / 1024:.0f}); "
        f"100k events {full.seconds * 1000:.1f} ms, {full.documents} docs, "
        f"{full.retained_bytes / 1024:.0f} KiB retained (peak {full.peak_bytes / 1024:.0f})"
    )
    assert full.last_position == COMMITS * PER_COMMIT  # it did find the chain end
    # The open reads the ring and checks the chain end, not the history (was: all 10,000 commits).
    assert full.documents <= empty.documents + SLOTS + 2
    # It remembers the streams and ids of the commits it walked, nothing else.
    assert empty.cache_entries == 0 and full.cache_entries <= 2 * PER_COMMIT * full.documents
    # What the open keeps does not grow with the log (was: every id and head, tens of MB).
    assert full.retained_bytes < empty.retained_bytes + 256 * 1024
    assert full.peak_bytes < empty.peak_bytes + 1024 * 1024


@pytest.mark.parametrize("behind", [SLOTS // 2, SLOTS + SLOTS // 2, CATCH_UP_COMMITS + SLOTS])
async def test_an_instance_behind_learns_from_the_ring_or_skips_ahead_and_stays_exact(
    mongo_url: str, behind: int
) -> None:
    # Within the ring's reach an instance learns the commits it missed from their copies; a little
    # past it, with one range read of the chain; far past it, it skips to the latest commit copied
    # and drops its cache. Either way its next plan must see what was written meanwhile.
    early, writer = (mongo_event_log(mongo_url, Settings()) for _ in range(2))
    assert isinstance(early, MongoEventLog) and isinstance(writer, MongoEventLog)
    await early.open()
    (x,) = await early.append([upserted("x", [1, 0, 0, 0])])
    await writer.open()
    for i in range(behind):
        await writer.append([upserted(f"m{i}", [0, 1, 0, 0])])
    (x2,) = await writer.append([upserted("x", [0, 0, 1, 0])])
    # `early` cached x at version 1; it must not plan with that.
    with pytest.raises(ConcurrencyError) as info:
        await early.append([upserted("x", [0, 0, 0, 1])], expected_versions={x.stream: 1})
    assert info.value.actual == x2.version == 2
    assert early.cache.epoch == (0 if behind <= CATCH_UP_COMMITS else 1)  # dropped its cache only when it skipped
    assert await early.last_position() == await writer.last_position() == behind + 2
    await early.close()
    await writer.close()


async def test_the_cache_stays_within_its_size_and_cold_streams_are_exact(mongo_url: str) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    name = mongo_url.rsplit("/", 1)[1]
    small, other = MongoEventLog(client[name], cache_size=4), MongoEventLog(client[name], cache_size=4)
    await small.open()
    await other.open()
    first = [await small.append([upserted(f"m{i}", [1, 0, 0, float(i)])]) for i in range(20)]
    assert len(small.cache.heads) <= 4 and len(small.cache.ids) <= 4
    # Evicted streams are looked up again: versions, conflicts and idempotency stay exact.
    (again,) = await other.append([upserted("m0", [0, 1, 0, 0])])
    assert again.version == 2
    assert await small.append(first[3]) == first[3]  # a retry of an evicted commit records nothing
    with pytest.raises(ConcurrencyError):
        await small.append([upserted("m0", [0, 0, 1, 0])], expected_versions={again.stream: 1})
    assert [e.type for e in await small.append([erased()])] == ["namespace.erased"]  # cold namespace, 20 alive
    heads = await other.heads([("c", "ns", f"m{i}") for i in range(20)])
    assert {k[2]: (h.version, h.alive) for k, h in heads.items()} == {
        f"m{i}": (2 if i == 0 else 1, False) for i in range(20)
    }
    assert len(other.cache.heads) <= 4
    await client.close()


# -- logs written before issue 10 -------------------------------------------------------------------


async def write_legacy_log(log: MongoEventLog) -> list[Event]:
    """Three commits in the layout of the previous release: integer _id, no `ns` field."""
    events: list[Event] = []
    position = 1
    batches = [
        [created("c", {"dense": 4}), upserted("a", [1, 0, 0, 0])],
        [upserted("b", [0, 1, 0, 0])],
        [upserted("a", [0, 0, 1, 0], metadata={"v": 2})],
    ]
    versions = {"a": 0, "b": 0, "": 0}
    for batch in batches:
        stamped = []
        for offset, event in enumerate(batch):
            versions[event.memory_id] += 1
            stamped.append(
                event.model_copy(update={"version": versions[event.memory_id], "position": position + offset})
            )
        at = now_ms()
        stamped = [e.model_copy(update={"recorded_at": at}) for e in stamped]
        doc = commit_document(stamped, at)
        doc["_id"] = position
        del doc["ns"]
        await log.commits.insert_one(doc)
        events += stamped
        position += len(stamped)
    return events


async def test_a_log_written_with_integer_ids_is_copied_once_and_left_untouched(
    mongo_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    db = client[mongo_url.rsplit("/", 1)[1]]
    written = await write_legacy_log(MongoEventLog(db))
    old_docs = await db["omega_commits"].find({}).sort("_id", 1).to_list(None)

    caplog.set_level(logging.WARNING, logger="omega_memory_plugin.log.mongo_migration")
    # Two processes open the old log at once: both copy, each commit ends up once.
    one, two = (mongo_event_log(mongo_url, Settings()) for _ in range(2))
    assert isinstance(one, MongoEventLog) and isinstance(two, MongoEventLog)
    await asyncio.gather(one.open(), two.open())
    assert "layout before issue 10" in caplog.text
    assert await read_all(one) == await read_all(two) == written
    assert await one.chain.count_documents({}) == 3
    assert (await one.stream(("c", "ns", "a")))[-1].data.metadata == {"v": 2}

    (a3,) = await two.append([upserted("a", [0, 0, 0, 1])], expected_versions={("c", "ns", "a"): 2})
    assert (a3.position, a3.version) == (5, 3)
    assert [e.type for e in await one.append([erased()])] == ["namespace.erased"]  # a and b are alive

    caplog.clear()
    again = mongo_event_log(mongo_url, Settings())
    await again.open()
    assert "layout before issue 10" not in caplog.text  # copied once
    assert await again.last_position() == 6
    assert await db["omega_commits"].find({}).sort("_id", 1).to_list(None) == old_docs  # untouched
    for log in (one, two, again):
        await log.close()
    await client.close()
