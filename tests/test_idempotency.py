"""Idempotent writes (issue 15): the same idempotency key and the same content write once, on
every log and index; the same key with other content is refused and writes nothing; keys hold
across a reopen and across processes on the Mongo log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import log_position
from omega_memory_plugin import IdempotencyKeyError, Memory


def test_a_retried_upsert_writes_once_and_returns_the_first_result(memory: Memory) -> None:
    first = memory.upsert("likes tea", namespace="ada", idempotency_key="req-1")
    position = log_position(memory)
    again = memory.upsert("likes tea", namespace="ada", idempotency_key="req-1")
    assert again == first  # an id derived from the key: the retry names the same memory
    assert log_position(memory) == position
    assert [e.version for e in memory.history(first, namespace="ada")] == [1]


def test_the_same_key_with_other_content_is_refused_and_writes_nothing(memory: Memory) -> None:
    memory.upsert("likes tea", id="p", namespace="ada", idempotency_key="req-1")
    position = log_position(memory)
    with pytest.raises(IdempotencyKeyError, match="req-1"):
        memory.upsert("likes coffee", id="p", namespace="ada", idempotency_key="req-1")
    with pytest.raises(IdempotencyKeyError):
        memory.upsert("likes tea", id="p", namespace="ada", metadata={"x": 1}, idempotency_key="req-1")
    with pytest.raises(IdempotencyKeyError):
        memory.delete("p", namespace="ada", idempotency_key="req-1")
    with pytest.raises(IdempotencyKeyError):
        memory.upsert("likes tea", id="other", namespace="ada", idempotency_key="req-1")  # another memory
    assert log_position(memory) == position
    assert memory.get("other", namespace="ada") == []
    assert memory.get("p", namespace="ada")[0].text == "likes tea"


def test_a_retry_is_not_a_version_conflict(memory: Memory) -> None:
    memory.upsert("v1", id="p", namespace="ada", expected_version=0, idempotency_key="create-p")
    memory.upsert("v1", id="p", namespace="ada", expected_version=0, idempotency_key="create-p")  # no conflict
    assert memory.get("p", namespace="ada")[0].version == 1


def test_keys_are_per_namespace(memory: Memory) -> None:
    a = memory.upsert("likes tea", namespace="ada", idempotency_key="req-1")
    b = memory.upsert("likes tea", namespace="bob", idempotency_key="req-1")
    assert memory.get(a, namespace="ada") and memory.get(b, namespace="bob")


def test_deletes_erases_and_transactions_are_idempotent_too(memory: Memory) -> None:
    memory.upsert("x", id="x", namespace="ada")
    assert memory.delete("x", namespace="ada", idempotency_key="del-x") == 1
    memory.upsert("x again", id="x", namespace="ada")
    assert memory.delete("x", namespace="ada", idempotency_key="del-x") == 1  # the first delete's answer
    assert memory.get("x", namespace="ada")[0].text == "x again"  # not deleted a second time
    memory.upsert("y", id="y", namespace="bob")
    assert memory.erase_namespace("bob", idempotency_key="wipe-bob") == 1
    memory.upsert("y again", id="y", namespace="bob")
    assert memory.erase_namespace("bob", idempotency_key="wipe-bob") == 1
    assert memory.get("y", namespace="bob")[0].text == "y again"

    def batch(text: str) -> list[int]:
        with memory.transaction(idempotency_key="batch-7") as tx:
            tx.upsert(text, id="t1", namespace="ada")
            tx.upsert("two", id="t2", namespace="ada")
            tx.delete("gone", namespace="ada")
        return [e.position for e in tx.events]

    first = batch("one")
    position = log_position(memory)
    assert batch("one") == first
    assert log_position(memory) == position
    with pytest.raises(IdempotencyKeyError):
        batch("changed")
    with pytest.raises(IdempotencyKeyError):
        with memory.transaction(idempotency_key="batch-7") as tx:
            tx.upsert("one", id="t1", namespace="ada")
            tx.upsert("two", id="t2", namespace="ada")
            tx.upsert("three", id="t3", namespace="ada")  # a write the keyed commit did not make
    with memory.transaction(idempotency_key="batch-7") as tx:
        tx.upsert("one", id="t1", namespace="ada")  # a part of the commit: answered from the log
    assert [e.position for e in tx.events] == first[:1]
    assert log_position(memory) == position


def test_a_key_holds_after_a_reopen_and_across_processes_on_the_mongo_log(mongo_url: str, tmp_path: Path) -> None:
    options = {"log_url": mongo_url, "index_url": f"edge:///{tmp_path}/index", "embedder": "hash:16"}
    script = textwrap.dedent(
        f"""
        import sys
        from omega_memory_plugin import Memory
        with Memory(log_url={mongo_url!r}, index_url="memory://", embedder="hash:16") as memory:
            print(memory.upsert(sys.argv[1], namespace="ada", idempotency_key="req-9"))
        """
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", script, "likes tea"], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    ids = {w.communicate(timeout=120)[0].strip() for w in writers}
    assert all(w.returncode == 0 for w in writers)
    assert len(ids) == 1
    with Memory(**options) as memory:  # a reopened memory, another process's key
        (memory_id,) = ids
        assert memory.upsert("likes tea", namespace="ada", idempotency_key="req-9") == memory_id
        assert [e.version for e in memory.history(memory_id, namespace="ada")] == [1]
        with pytest.raises(IdempotencyKeyError):
            memory.upsert("likes coffee", namespace="ada", idempotency_key="req-9")
    done = subprocess.run([sys.executable, "-c", script, "likes coffee"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "IdempotencyKeyError" in done.stderr


def test_the_provider_the_mcp_tool_and_the_adapters_pass_keys_through(tmp_path: Path) -> None:
    import asyncio

    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.omega_memory import OmegaMemoryVectorStore as LlamaStore
    from mcp import Client

    from langchain_omega_memory import OmegaHashEmbeddings, OmegaMemoryVectorStore
    from omega_memory_plugin.providers import MemoryProvider
    from omega_memory_plugin.serve.mcp_server import build_server

    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        provider = MemoryProvider(memory, namespace="ada")
        record = {"content": "likes tea", "idempotency_key": "p-1"}
        first = asyncio.run(provider.store("notes", record))
        position = log_position(memory)
        assert asyncio.run(provider.store("notes", record)) == first
        assert log_position(memory) == position

        async def through_mcp() -> list[str]:
            async with Client(build_server(memory)) as client:
                ids = []
                for _ in range(2):
                    result = await client.call_tool(
                        "memory.upsert", {"text": "likes jazz", "namespace": "ada", "idempotency_key": "m-1"}
                    )
                    assert result.structured_content is not None
                    ids.append(result.structured_content["id"])
                return ids

        one, two = asyncio.run(through_mcp())
        assert one == two and log_position(memory) == position + 2  # the default collection, then the memory
        position = log_position(memory)

        store = OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(16), namespace="lc")
        ids = store.add_texts(["a", "b"], idempotency_key="lc-1")
        assert store.add_texts(["a", "b"], idempotency_key="lc-1") == ids
        with pytest.raises(IdempotencyKeyError):
            store.add_texts(["a", "c"], idempotency_key="lc-1")
        assert log_position(memory) == position + 3  # the langchain collection, then two memories

        llama = LlamaStore(memory, namespace="li")
        nodes = [TextNode(id_="n1", text="x", embedding=[1.0] * 16)]
        llama.add(nodes, idempotency_key="li-1")
        before = log_position(memory)
        llama.add(nodes, idempotency_key="li-1")
        assert log_position(memory) == before
