"""Every EventLog implementation passes the same conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from omega_memory_plugin import Settings
from omega_memory_plugin.log.base import EventLog
from omega_memory_plugin.log.memory import InMemoryEventLog
from omega_memory_plugin.log.mongo import MongoEventLog, mongo_event_log
from omega_memory_plugin.log.sqlite import ALIVE_SINCE_SQL, SQLiteEventLog
from omega_memory_plugin.testing.builders import deleted, erased, upserted
from omega_memory_plugin.testing.log_conformance import EventLogConformance, read_all


class TestInMemoryEventLog(EventLogConformance):
    @pytest.fixture
    async def log(self) -> AsyncIterator[EventLog]:
        log = InMemoryEventLog()
        await log.open()
        yield log
        await log.close()


class TestSQLiteEventLog(EventLogConformance):
    @pytest.fixture
    async def log(self, tmp_path: Path) -> AsyncIterator[EventLog]:
        log = SQLiteEventLog(tmp_path / "log.db")
        await log.open()
        yield log
        await log.close()

    async def test_survives_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "durable.db"
        first = SQLiteEventLog(path)
        written = await first.append([upserted("a", [1, 2, 3, 4]), upserted("b", [4, 3, 2, 1])])
        await first.set_checkpoint("p", 2)
        await first.close()
        again = SQLiteEventLog(path)
        assert await read_all(again) == written
        assert await again.get_checkpoint("p") == 2
        await again.close()

    async def test_two_connections_share_one_ordered_log(self, tmp_path: Path) -> None:
        # Two writers (as two processes would) on one file: positions interleave without gaps.
        one, two = SQLiteEventLog(tmp_path / "shared.db"), SQLiteEventLog(tmp_path / "shared.db")
        for i in range(10):
            await (one if i % 2 else two).append([upserted(str(i), [i, 0, 0, 1])])
        positions = [e.position for e in await read_all(one)]
        assert positions == list(range(1, 11))
        await one.close()
        await two.close()

    async def test_the_last_position_follows_every_connections_commits(self, tmp_path: Path) -> None:
        # last_position answers from what it last read while no other connection committed
        # (SQLite's data_version): its own commits and the others' must both move it on.
        one, two = SQLiteEventLog(tmp_path / "shared.db"), SQLiteEventLog(tmp_path / "shared.db")
        seen = []
        for i in range(6):
            await (one if i % 3 else two).append([upserted(str(i), [i, 0, 0, 1])])
            seen.append((await one.last_position(), await two.last_position(), await one.last_position()))
        assert seen == [(i, i, i) for i in range(1, 7)]
        await one.close()
        await two.close()

    async def test_a_delete_and_an_erase_see_another_connections_upsert(self, tmp_path: Path) -> None:
        one, two = SQLiteEventLog(tmp_path / "shared.db"), SQLiteEventLog(tmp_path / "shared.db")
        await one.append([upserted("x", [1, 0, 0, 0])])
        assert [e.version for e in await two.append([deleted("x")])] == [2]
        await one.append([upserted("x", [1, 0, 0, 0])])
        assert [e.type for e in await two.append([erased()])] == ["namespace.erased"]
        await one.close()
        await two.close()

    async def test_the_erase_check_reads_one_namespace_not_the_log(self, tmp_path: Path) -> None:
        log = SQLiteEventLog(tmp_path / "plan.db")
        plan = " ".join(row[3] for row in log._db.execute(f"EXPLAIN QUERY PLAN {ALIVE_SINCE_SQL}", ("c", "ns", 0)))
        assert "SEARCH e USING INDEX sqlite_autoindex_events_2 (collection=? AND namespace=?)" in plan
        assert "SCAN" not in plan
        await log.close()


async def open_mongo(url: str) -> MongoEventLog:
    """The log the ``mongodb://`` URL selects, opened."""
    log = mongo_event_log(url, Settings())
    assert isinstance(log, MongoEventLog)
    await log.open()
    return log


class TestMongoEventLog(EventLogConformance):
    """Against a real Mongo-wire server: FerretDB started by the session, or OMEGA_TEST_MONGO_URL."""

    @pytest.fixture
    async def log(self, mongo_url: str) -> AsyncIterator[EventLog]:
        log = await open_mongo(mongo_url)
        yield log
        await log.close()

    async def test_commits_written_with_a_data_subdocument_are_still_read(self, mongo_url: str) -> None:
        # Before issue 9 the event data was a BSON subdocument; now it is JSON text (nested arrays).
        from datetime import UTC, datetime

        from bson import Binary

        log = await open_mongo(mongo_url)
        event = upserted("old", [1, 0, 0, 0], metadata={"n": 1})
        await log.commits.insert_one(
            {
                "_id": 1,
                "n": 1,
                "at": datetime.now(UTC),
                "keys": ["c\x1fns\x1fold"],
                "events": [
                    {
                        "id": Binary.from_uuid(event.event_id),
                        "type": event.type,
                        "c": "c",
                        "ns": "ns",
                        "m": "old",
                        "v": 1,
                        "sv": 1,
                        "data": {"text": "text of old", "metadata": {"n": 1}, "embedding_model": None},
                        "vec": {"dense": Binary(event.data.vectors["dense"])},
                    }
                ],
            }
        )
        again = await open_mongo(mongo_url)
        (read,) = await read_all(again)
        assert (read.memory_id, read.data.text, read.data.metadata, read.position) == (
            "old",
            "text of old",
            {"n": 1},
            1,
        )
        more = await again.append([upserted("new", [0, 1, 0, 0], metadata={"grid": [[1, 2], []]})])
        assert more[0].position == 2 and (await read_all(again))[1].data.metadata == {"grid": [[1, 2], []]}
        await log.close()
        await again.close()

    async def test_survives_reopen_and_a_second_writer_sees_the_chain(self, mongo_url: str) -> None:
        first = await open_mongo(mongo_url)
        written = await first.append([upserted("a", [1, 2, 3, 4]), upserted("b", [4, 3, 2, 1])])
        second = await open_mongo(mongo_url)
        more = await second.append([upserted("a", [0, 0, 0, 1])])
        assert more[0].position == 3 and more[0].version == 2  # it learned the chain before writing
        again = await first.append([upserted("c", [1, 1, 1, 1])])
        assert again[0].position == 4  # the first writer walked past the second's commit
        assert await read_all(second) == [*written, *more, *again]
        await first.close()
        await second.close()

    async def test_a_delete_and_an_erase_planned_on_a_stale_view_are_checked_against_the_chain(
        self, mongo_url: str
    ) -> None:
        # `second` learned the chain before `first` wrote x: by what it knows, deleting x or
        # erasing the namespace would do nothing. It must not answer so without reading the log.
        first, second = await open_mongo(mongo_url), await open_mongo(mongo_url)
        await first.append([upserted("x", [1, 0, 0, 0])])
        assert [(e.memory_id, e.version) for e in await second.append([deleted("x")])] == [("x", 2)]
        await first.append([upserted("x", [1, 0, 0, 0])])
        assert [e.type for e in await second.append([erased()])] == ["namespace.erased"]
        assert await second.append([deleted("x")]) == []  # now truly a no-op
        assert await first.append([deleted("x")]) == []  # and for the first writer, once it reads
        await first.close()
        await second.close()
