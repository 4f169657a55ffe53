"""The MCP server (`omega-memory serve mcp`): every tool and error through the SDK's own in-process
client, then a real streamable-HTTP server on loopback and a real stdio subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from conftest import log_position
from omega_memory_plugin import Memory
from omega_memory_plugin.serve.mcp_server import McpOptions, build_server

EMBEDDER = "hash:64"


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    with Memory(tmp_path / "m", embedder=EMBEDDER) as m:
        yield m


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text
    return text


async def test_the_tools_their_schemas_and_hints(memory: Memory) -> None:
    async with Client(build_server(memory)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {
            "memory.upsert",
            "memory.search",
            "memory.get",
            "memory.delete",
            "memory.history",
            "memory.as_of",
        }
        for name in ("memory.search", "memory.get", "memory.history", "memory.as_of"):
            assert tools[name].annotations is not None and tools[name].annotations.read_only_hint is True
        upsert, delete = tools["memory.upsert"].annotations, tools["memory.delete"].annotations
        assert upsert is not None and (upsert.read_only_hint, upsert.destructive_hint) == (False, False)
        assert delete is not None and (delete.destructive_hint, delete.idempotent_hint) == (True, True)
        search = tools["memory.search"]
        assert search.input_schema["required"] == ["query"]
        assert set(search.input_schema["properties"]) == {"query", "limit", "filter", "mode", "namespace"}
        assert search.output_schema is not None and "memories" in search.output_schema["properties"]
        assert all(t.description for t in tools.values())


async def test_store_recall_read_history_delete(memory: Memory) -> None:
    async with Client(build_server(memory)) as client:
        stored = await call(
            client, "memory.upsert", text="Ada prefers green tea", id="tea", metadata={"topic": "drinks"}
        )
        assert stored == {"id": "tea", "version": 1, "namespace": "default"}
        await call(
            client, "memory.upsert", text="Order ORD-2291 shipped to Lyon", id="order", metadata={"topic": "orders"}
        )
        again = await call(
            client, "memory.upsert", text="Ada switched to oolong tea", id="tea", metadata={"topic": "drinks"}
        )
        assert again["version"] == 2
        new = await call(client, "memory.upsert", text="a memory without an id")
        assert new["id"] and memory.get(new["id"])[0].text == "a memory without an id"

        found = await call(client, "memory.search", query="ORD-2291", mode="sparse")
        assert found["memories"][0]["id"] == "order"
        found = await call(client, "memory.search", query="oolong tea", filter={"topic": "drinks"}, limit=3)
        assert [m["id"] for m in found["memories"]] == ["tea"]
        assert found["memories"][0]["score"] is not None

        read = await call(client, "memory.get", ids=["order", "missing"])
        assert [(m["id"], m["text"], m["metadata"]) for m in read["memories"]] == [
            ("order", "Order ORD-2291 shipped to Lyon", {"topic": "orders"})
        ]
        history = await call(client, "memory.history", id="tea")
        assert [(e["type"], e["version"], e["text"]) for e in history["events"]] == [
            ("memory.upserted", 1, "Ada prefers green tea"),
            ("memory.upserted", 2, "Ada switched to oolong tea"),
        ]
        past = await call(client, "memory.as_of", query="tea", when=history["events"][0]["position"], mode="sparse")
        assert [(m["id"], m["text"]) for m in past["memories"]] == [("tea", "Ada prefers green tea")]
        past = await call(client, "memory.as_of", query="tea", when=history["events"][0]["recorded_at"], mode="sparse")
        assert past["memories"][0]["text"] == "Ada prefers green tea"

        assert await call(client, "memory.delete", ids=["order", "missing"]) == {"deleted": 1}
        assert memory.get("order") == []


async def test_bad_arguments_say_what_to_fix_and_write_nothing(memory: Memory) -> None:
    async with Client(build_server(memory)) as client:
        await call(client, "memory.upsert", text="kept", id="kept")
        before = log_position(memory)
        assert "InvalidTextError: text is empty" in await refused(client, "memory.upsert", text="  ", id="x")
        assert "InvalidMetadataError" in await refused(client, "memory.upsert", text="t", metadata={"$bad": 1})
        assert "unknown filter operator '$bogus'" in await refused(
            client, "memory.search", query="t", filter={"k": {"$bogus": 1}}
        )
        assert "limit" in await refused(client, "memory.search", query="t", limit=0)
        assert "InvalidIdError" in await refused(client, "memory.get", ids=[""])
        assert "namespace" in (await refused(client, "memory.upsert", text="t", namespace=""))
        assert "no_such_tool" in await refused(client, "no_such_tool")
        assert log_position(memory) == before


async def test_a_server_for_one_tenant_never_serves_another(memory: Memory) -> None:
    memory.upsert("Bob's secret", id="secret", namespace="bob")
    async with Client(build_server(memory, McpOptions(namespace="ada"))) as client:
        await call(client, "memory.upsert", text="Ada's note", id="note")
        assert memory.get("note", namespace="ada")[0].text == "Ada's note"
        assert "serves namespace 'ada' only" in await refused(client, "memory.get", ids=["secret"], namespace="bob")
        assert (await call(client, "memory.get", ids=["secret"]))["memories"] == []
        assert (await call(client, "memory.search", query="secret", mode="sparse"))["memories"] == []


async def test_read_only_and_without_delete_and_underscored_names(memory: Memory) -> None:
    async with Client(build_server(memory, McpOptions(read_only=True))) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"memory.search", "memory.get", "memory.history", "memory.as_of"}
        assert "memory.upsert" in await refused(client, "memory.upsert", text="x")
    async with Client(build_server(memory, McpOptions(allow_delete=False, tool_names="underscored"))) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"memory_upsert", "memory_search", "memory_get", "memory_history", "memory_as_of"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(path: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "omega_memory_plugin.cli", "--path", str(path), "--embedder", EMBEDDER, *argv]


async def test_over_streamable_http_on_loopback(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        _cli(tmp_path / "m", "serve", "mcp", "--http", f"127.0.0.1:{port}"), stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not listen"
                time.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            await call(client, "memory.upsert", text="Ada prefers green tea", id="tea")
            found = await call(client, "memory.search", query="green tea")
            assert found["memories"][0]["id"] == "tea"
    finally:
        server.terminate()
        server.wait(timeout=30)
    with Memory(tmp_path / "m") as memory:  # written to the memory's log and index
        assert memory.get("tea")[0].text == "Ada prefers green tea"


async def test_over_stdio_with_a_subprocess(tmp_path: Path) -> None:
    command, *args = _cli(tmp_path / "m", "serve", "mcp", "--namespace", "ada")
    async with Client(StdioServerParameters(command=command, args=args)) as client:
        await call(client, "memory.upsert", text="Ada is allergic to peanuts", id="allergy")
        found = await call(client, "memory.search", query="peanuts", mode="sparse")
        assert [(m["id"], m["namespace"]) for m in found["memories"]] == [("allergy", "ada")]
    with Memory(tmp_path / "m") as memory:
        assert memory.get("allergy", namespace="ada")[0].version == 1


async def test_writes_through_the_tools_record_mcp_as_their_origin(memory: Memory) -> None:
    async with Client(build_server(memory)) as client:
        await call(client, "memory.upsert", text="likes green tea", id="tea", namespace="ada")
        await call(client, "memory.delete", ids=["tea"], namespace="ada")
    lineage = await memory.aexplain("tea", namespace="ada")
    assert [(e.type, e.data.origin) for e in lineage.history] == [("memory.upserted", "mcp"), ("memory.deleted", "mcp")]
