"""If the index is down, writes still land in the log, reads say so, and the index catches up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flaky_index import FlakyProjection

from omega_memory_plugin import IndexUnavailableError, Memory, Settings


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
    with pytest.raises(IndexUnavailableError, match="behind the log"):
        memory.search([0.0, 1.0])
    FlakyProjection.broken = False
    assert memory.search([0.0, 1.0], limit=1)[0].id == "b"  # caught up on the next read
    assert memory.health()["index"] == {**memory.health()["index"], "ok": True, "lag_events": 0}
