"""If the index is down, writes still land in the log, reads say so, and the index catches up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flaky_index import FlakyProjection

from omega_memory_plugin import EventLogError, IndexUnavailableError, Memory, Settings


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    settings = Settings(log_url=f"sqlite:///{tmp_path}/log.db", index_url="flaky://", plugins="flaky_index")
    with Memory(settings=settings) as m:
        yield m
    FlakyProjection.broken = False


def test_writes_survive_an_index_outage_and_the_index_catches_up(memory: Memory) -> None:
    memory.upsert("before", id="a", vectors=[1.0, 0.0])
    FlakyProjection.broken = True
    assert memory.upsert("during", id="b", vectors=[0.0, 1.0]) == "b"  # the write succeeded
    assert [e.data.text for e in memory.history("b")] == ["during"]  # it is in the log
    health = memory.health()
    assert health["log"]["ok"] and not health["index"]["ok"]
    assert health["index"]["lag_events"] == 1 and "unreachable" in health["index"]["error"]
    assert 0 <= health["index"]["lag_seconds"] < 60  # age of the oldest event not yet indexed
    with pytest.raises(IndexUnavailableError, match="behind the log"):
        memory.search([0.0, 1.0])
    FlakyProjection.broken = False
    assert memory.search([0.0, 1.0], limit=1)[0].id == "b"  # caught up on the next read
    assert memory.health()["index"] == {**memory.health()["index"], "ok": True, "lag_events": 0}


def test_searches_answer_from_the_index_while_the_log_is_down(tmp_path: Path) -> None:
    from omega_memory_plugin.testing.servers.ferretdb import FerretDB

    server = FerretDB(tmp_path / "fdb")
    server.start()
    settings = Settings(
        log_url=server.url + "db", index_url="memory://", mongo_timeout_seconds=1, read_wait_seconds=0.5
    )
    with Memory(settings=settings) as memory:
        memory.upsert("kept in the index", id="a", vectors=[1.0, 0.0])
        server.kill()
        try:
            assert memory.search([1.0, 0.0], limit=1)[0].id == "a"  # answered from the index
            health = memory.health()
            assert not health["log"]["ok"] and health["index"]["applied_position"] == 2
            with pytest.raises(EventLogError, match="unreachable"):
                memory.upsert("cannot be written", id="b", vectors=[0.0, 1.0])
        finally:
            restarted = FerretDB(server.data_dir, port=server.port)
            restarted.start()
        memory.upsert("written after the restart", id="b", vectors=[0.0, 1.0])
        assert memory.health()["index"]["lag_events"] == 0
    restarted.stop()
