"""Lineage (issue 15): every hit can be explained by the events that made it, with who wrote
them. On every log and index: writes through the Python API, each adapter, the provider and the
CLI record their origin; a re-embedded memory names the re-embedding that made its vectors; a
deleted or erased memory says how it ended; ``visible_since`` is exactly the first ``as_of``
position that shows the current version."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from omega_memory_plugin import Explanation, Memory, writing_as
from omega_memory_plugin.cli import main
from omega_memory_plugin.embeddings import HashEmbedder
from omega_memory_plugin.providers import MemoryProvider


def types(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.type for e in events]


def origins(lineage: Explanation) -> list[str | None]:
    return [getattr(e.data, "origin", None) for e in lineage.history]


def test_a_hit_is_explained_by_the_upsert_of_its_version(memory: Memory) -> None:
    memory.upsert("likes green tea", id="tea", namespace="ada")
    first = memory.health()["log"]["position"]
    memory.upsert("likes oolong tea", id="tea", namespace="ada")
    hit = memory.search(text="oolong tea", namespace="ada", limit=1)[0]
    lineage = memory.explain(hit)
    assert lineage.alive and lineage.version == 2
    assert types(lineage.events) == ["memory.upserted"] and lineage.events[0].position == hit.position
    assert types(lineage.history) == ["memory.upserted", "memory.upserted"]
    assert lineage.origin == "python" and origins(lineage) == ["python", "python"]
    assert lineage.embedding_model == "hash:16"
    assert lineage.first_visible == first and lineage.visible_since == hit.position
    with memory.as_of(hit.position - 1) as before:
        assert before.get("tea", namespace="ada")[0].version == 1
    with memory.as_of(hit.position) as since:
        assert since.get("tea", namespace="ada")[0].version == 2
    assert any("by python" in line for line in lineage.lines())


def test_a_deleted_or_erased_memory_says_how_it_ended(memory: Memory) -> None:
    memory.upsert("a", id="gone", namespace="ada")
    memory.delete("gone", namespace="ada")
    lineage = memory.explain("gone", namespace="ada")
    assert not lineage.alive and lineage.events == [] and lineage.visible_since is None
    assert types(lineage.history) == ["memory.upserted", "memory.deleted"]
    memory.upsert("b", id="back", namespace="bob")
    with writing_as("cleanup-job"):
        memory.erase_namespace("bob")
    lineage = memory.explain("back", namespace="bob")
    assert types(lineage.history) == ["memory.upserted", "namespace.erased"]
    assert origins(lineage) == ["python", "cleanup-job"]
    memory.upsert("c", id="back", namespace="bob")
    lineage = memory.explain(memory.get("back", namespace="bob")[0])
    assert lineage.first_visible == lineage.visible_since == lineage.history[-1].position


def test_a_re_embedded_memory_names_the_re_embedding_that_made_its_vectors(memory: Memory) -> None:
    memory.upsert("likes green tea", id="tea", namespace="ada")
    memory.reembed(HashEmbedder(24), progress=False)
    hit = memory.search(text="green tea", namespace="ada", limit=1)[0]
    lineage = memory.explain(hit)
    assert types(lineage.events) == ["memory.upserted", "memory.reembedded"]
    assert lineage.embedding_model == "hash:24" and lineage.events[1].data.origin == "python"
    assert any("memory.reembedded into space 1 with hash:24" in line for line in lineage.lines())


def test_the_origin_follows_the_caller_into_the_engine_and_across_threads(memory: Memory) -> None:
    async def staged_on_the_engine() -> None:
        await memory.aupsert("x", id="engine", namespace="n")

    with writing_as("outer"):
        memory.upsert("x", id="sync", namespace="n")
        with writing_as("inner"):
            memory.run(staged_on_the_engine())
        asyncio.run(memory.aupsert("x", id="async", namespace="n"))
    memory.upsert("x", id="plain", namespace="n")
    found = {i: memory.explain(i, namespace="n").origin for i in ("sync", "engine", "async", "plain")}
    assert found == {"sync": "outer", "engine": "inner", "async": "outer", "plain": "python"}


def test_the_provider_and_the_cli_record_themselves(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "memory"

    async def through_the_provider() -> None:
        provider = MemoryProvider(Memory(path, embedder="hash:16"), namespace="ada")
        await provider.store("default", {"id": "p", "content": "likes tea"})
        await provider.close()

    asyncio.run(through_the_provider())
    assert main(["--path", str(path), "delete", "p", "--namespace", "ada"]) == 0
    with Memory(path, embedder="hash:16") as memory:
        memory.upsert("likes green tea", id="tea", namespace="ada")
        assert origins(memory.explain("p", namespace="ada")) == ["omega-provider", "omega-memory-cli"]
    capsys.readouterr()
    assert main(["--path", str(path), "--embedder", "hash:16", "search", "tea", "--namespace", "ada", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "tea (namespace ada, collection default): version 1, visible since position" in out
    assert " * #" in out and "memory.upserted v1" in out and "by python" in out
    capsys.readouterr()
    main(["--path", str(path), "--embedder", "hash:16", "search", "tea", "--namespace", "ada", "--explain", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    lineage = next(line for line in lines if "explain" in line)
    assert lineage["origin"] == "python" and [e["type"] for e in lineage["events"]] == ["memory.upserted"]
