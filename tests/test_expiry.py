"""Expiry decided from the log (issue 15): a memory written with a ttl leaves get, search, scan
and count at its time, on every log and index; a rebuild answers the same, and ``as_of`` at
several positions answers as the memory did then; history and explain say why."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from conftest import log_position
from omega_memory_plugin import InvalidInputError, Memory
from omega_memory_plugin.embeddings import HashEmbedder

TTL = 1.5  # seconds: long enough for a loaded machine to read the memory before it expires


def visible(memory: Memory, namespace: str = "ada") -> dict[str, set[str]]:
    """What every read answers, per kind of read."""
    return {
        "get": {r.id for r in memory.get(["short", "long", "late"], namespace=namespace)},
        "scan": {r.id for r in memory.scan(namespace=namespace, limit=None)},
        "search": {r.id for r in memory.search(text="tea", namespace=namespace, limit=10)},
        "sparse": {r.id for r in memory.search(text="tea", namespace=namespace, limit=10, mode="sparse")},
        "count": {str(memory.count(namespace=namespace))},
    }


def everywhere(*ids: str) -> dict[str, set[str]]:
    return {"get": set(ids), "scan": set(ids), "search": set(ids), "sparse": set(ids), "count": {str(len(ids))}}


def test_a_memory_leaves_every_read_when_it_expires_live_after_a_rebuild_and_in_the_past(memory: Memory) -> None:
    memory.upsert("green tea, short", id="short", namespace="ada", ttl=TTL)
    memory.upsert("green tea, long", id="long", namespace="ada", ttl=timedelta(days=1))
    written = log_position(memory)
    assert visible(memory) == everywhere("short", "long")
    time.sleep(TTL + 0.3)
    memory.upsert("green tea, late", id="late", namespace="ada")
    later = log_position(memory)
    assert visible(memory) == everywhere("long", "late")
    with memory.as_of(written) as then:  # as the memory answered right after the writes
        assert visible(then) == everywhere("short", "long")
    with memory.as_of(later) as now:
        assert visible(now) == everywhere("long", "late")
    memory.rebuild(progress=False)
    assert visible(memory) == everywhere("long", "late")
    (event,) = memory.history("short", namespace="ada")  # history says why: the expiry is in the event
    assert event.data.expires_at is not None and event.data.expires_at < datetime.now(UTC)
    lineage = memory.explain("short", namespace="ada")
    assert lineage.expires_at == event.data.expires_at and "expires at" in lineage.lines()[0]


def test_writing_it_again_without_a_ttl_keeps_it(memory: Memory) -> None:
    memory.upsert("green tea", id="short", namespace="ada", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert memory.get("short", namespace="ada") == []  # written already expired: in the log, never read
    memory.upsert("green tea", id="short", namespace="ada")
    assert memory.get("short", namespace="ada")[0].version == 2


def test_expiry_survives_a_re_embedding(memory: Memory) -> None:
    memory.upsert("green tea, short", id="short", namespace="ada", ttl=TTL)
    memory.upsert("green tea, long", id="long", namespace="ada")
    memory.reembed(HashEmbedder(24), progress=False)
    assert memory.get("short", namespace="ada")[0].expires_at is not None
    time.sleep(TTL + 0.3)
    assert {r.id for r in memory.search(text="green tea", namespace="ada")} == {"long"}


@pytest.mark.parametrize(
    "arguments",
    [
        {"ttl": 0},
        {"ttl": -5},
        {"ttl": True},
        {"ttl": "60"},
        {"expires_at": "2030-01-01"},
        {"ttl": 5, "expires_at": datetime(2030, 1, 1, tzinfo=UTC)},
    ],
)
def test_a_bad_ttl_is_refused_and_nothing_is_written(memory: Memory, arguments: dict[str, object]) -> None:
    before = log_position(memory)
    with pytest.raises(InvalidInputError):
        memory.upsert("x", id="x", namespace="ada", **arguments)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError), memory.transaction() as tx:
        tx.upsert("x", id="x", namespace="ada", **arguments)  # type: ignore[arg-type]
    assert log_position(memory) == before


def test_the_provider_and_the_mcp_tool_pass_a_ttl_through(tmp_path: object) -> None:
    import asyncio
    from pathlib import Path

    from mcp import Client

    from omega_memory_plugin.providers import MemoryProvider
    from omega_memory_plugin.serve.mcp_server import build_server

    with Memory(Path(str(tmp_path)) / "m", embedder="hash:16") as memory:
        provider = MemoryProvider(memory, namespace="ada")
        asyncio.run(provider.store("notes", {"id": "p", "content": "green tea", "ttl": TTL}))
        assert asyncio.run(provider.query("notes", {"text": "tea"}))

        async def through_mcp() -> None:
            async with Client(build_server(memory)) as client:
                result = await client.call_tool(
                    "memory.upsert", {"text": "green tea", "id": "m", "namespace": "ada", "ttl_seconds": TTL}
                )
                assert not result.is_error, result.content

        asyncio.run(through_mcp())
        assert memory.get("m", namespace="ada")
        time.sleep(TTL + 0.3)
        assert asyncio.run(provider.query("notes", {"text": "tea"})) == []
        assert memory.get("m", namespace="ada") == []


def test_sweeps_and_audits_can_read_expired_memories(memory: Memory) -> None:
    memory.upsert("green tea", id="short", namespace="ada", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert memory.scan(namespace="ada") == [] and memory.get("short", namespace="ada") == []
    (record,) = memory.scan(namespace="ada", include_expired=True)
    assert record.expires_at is not None and record.expires_at < datetime.now(UTC)
    assert memory.get("short", namespace="ada", include_expired=True) == [record]


def test_the_first_memory_with_an_expiry_is_left_out_after_reads_that_found_none(memory: Memory) -> None:
    """An index may skip the expiry condition while it holds no memory with an expiry (Edge does):
    the first one written must be left out at once, by every read."""
    memory.upsert("green tea, long", id="long", namespace="ada")
    assert visible(memory) == everywhere("long")
    memory.upsert("green tea, short", id="short", namespace="ada", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert visible(memory) == everywhere("long")
    memory.delete("short", namespace="ada")  # and none is left: reads are as before
    assert visible(memory) == everywhere("long")
