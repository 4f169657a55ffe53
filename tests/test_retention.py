"""Retention (issue 15): ``compact(grace=...)`` drops from the log's storage the content of
forgotten subjects and of expired memories, once the grace period has passed, without breaking
the log's structure or replays of what remains; on every log."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from test_forget import all_documents, scan_files

from conftest import Opener, log_position
from omega_memory_plugin import InvalidInputError, Memory, Settings
from omega_memory_plugin.events import MemoryUpserted

GONE = [b"Ana's old address", b"the code was 1234", b"an early draft"]


def write(memory: Memory) -> None:
    memory.upsert("Ana's old address", id="addr", namespace="ana")
    memory.upsert("the code was 1234", id="code", namespace="ops", ttl=1)
    memory.upsert("an early draft", id="doc", namespace="ops", ttl=1)  # expires, then is replaced
    memory.upsert("tea at five", id="tea", namespace="ops", ttl=timedelta(days=1))
    time.sleep(1.2)
    memory.upsert("the final text", id="doc", namespace="ops")
    memory.forget("ana", compact_index=False)


def texts_everywhere(memory: Memory) -> set[str]:
    found = {r.text for ns in ("ana", "ops") for r in memory.scan(namespace=ns, limit=None, include_expired=True)}
    return found | {e.data.text for e in memory.events() if isinstance(e.data, MemoryUpserted)}


def test_compact_drops_forgotten_and_expired_content_and_keeps_the_rest(opener: Opener) -> None:
    with Memory(**opener(), embedder="hash:16") as memory:
        write(memory)
        before = log_position(memory)
        assert memory.compact(grace=timedelta(hours=1)).dropped == 0  # nothing is old enough yet
        report = memory.compact(grace=timedelta(0))
        # addr (forgotten), code and doc v1 (expired); code was still alive: the sweep deleted it.
        assert (report.expired, report.dropped) == (1, 3)
        assert log_position(memory) == before + 1  # the sweep's one memory.deleted
        assert texts_everywhere(memory) == {"tea at five", "the final text", ""}
        history = memory.history("doc", namespace="ops")
        assert [(e.version, e.data.forgotten) for e in history] == [(1, True), (2, False)]  # type: ignore[union-attr]
        assert memory.verify().ok
        for position in range(1, before + 1):  # no replay shows what was dropped
            with memory.as_of(position) as past:
                assert not texts_everywhere(past) & {"Ana's old address", "the code was 1234", "an early draft"}
        memory.rebuild(progress=False)
        assert {r.text for r in memory.scan(namespace="ops", limit=None)} == {"tea at five", "the final text"}
        assert memory.compact(grace=timedelta(0)) == type(report)(0, 0, False)  # nothing left to do
        memory.upsert("after compaction", id="new", namespace="ops")
        assert [r.text for r in memory.get("new", namespace="ops")] == ["after compaction"]


def test_no_file_holds_dropped_content_even_when_it_was_stored_in_clear(tmp_path: Path) -> None:
    root = tmp_path / "m"
    with Memory(root, embedder="hash:16", settings=Settings(encryption=False)) as memory:
        for i in range(200):
            memory.upsert(f"filler note {i}", namespace="ops")
        write(memory)
        memory.flush()
        assert any(path.startswith("log.db") for path in scan_files(root, GONE))  # in clear, in the log
        report = memory.compact(grace=timedelta(0))
        assert report.index_compacted
        assert scan_files(root, GONE[1:]) == {}  # what expired is in no file any more
        # Stored in clear, a subject cannot be shredded: forget left the text in the log (README says so).
        assert "log.db" in scan_files(root, GONE[:1]) or "log.db-wal" in scan_files(root, GONE[:1])
        assert memory.count(namespace="ops") == 202


def test_the_mongo_documents_lose_dropped_content(mongo_url: str) -> None:
    with Memory(log_url=mongo_url, index_url="memory://", embedder="hash:16", settings=Settings(encryption=False)) as m:
        write(m)
        assert [text for text in GONE[1:] if text in all_documents(m)] == GONE[1:]  # stored in clear
        m.compact(grace=timedelta(0))
        documents = all_documents(m)
        assert [text for text in GONE[1:] if text in documents] == []
        assert b"tea at five" in documents and b"the final text" in documents


def test_compact_refuses_a_bad_grace(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory, pytest.raises(InvalidInputError, match="grace"):
        memory.compact(grace=-timedelta(seconds=1))
