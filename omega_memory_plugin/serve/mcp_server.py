"""A Memory as MCP tools, for any agent host that speaks the Model Context Protocol.

``omega-memory serve mcp`` runs it over stdio (what desktop hosts launch) or streamable HTTP
(``--http 127.0.0.1:8765``, path ``/mcp``). Built on the official SDK's ``MCPServer``: each tool
is a typed function, so its JSON schema comes from the signature, its structured output from a
pydantic model, and its annotations say which tools only read, which destroy, which are idempotent.

Tools (``memory.upsert``, ``memory.search``, ``memory.get``, ``memory.delete``,
``memory.history``, ``memory.as_of``; ``memory_upsert`` ... with ``tool_names="underscored"`` for
hosts that refuse dots) call the Memory's async methods, so every argument passes the one
validation at the facade. A refused argument comes back as a tool error naming what to fix, and
nothing is written; anything unexpected comes back as the SDK's generic tool error, never a trace.

Scoping: ``namespace`` fixes the tenant (a client naming another one gets a tool error);
``read_only`` leaves out the writing tools; ``allow_delete=False`` leaves out ``memory.delete``.

Example::

    from omega_memory_plugin import Memory
    from omega_memory_plugin.serve.mcp_server import McpOptions, build_server

    memory = Memory("./.omega-memory", embedder="hash:384")
    build_server(memory, McpOptions(namespace="ada")).run()  # stdio
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field

from .. import __version__
from ..errors import OmegaMemoryError
from ..events import Event
from ..extras import require
from ..index.base import SearchMode
from ..memory import Memory
from ..origin import writing_as
from ..records import MemoryRecord

require("mcp", extra="mcp", needed_by="the MCP server")

from mcp.server.mcpserver import MCPServer  # noqa: E402
from mcp.server.mcpserver.exceptions import ToolError  # noqa: E402
from mcp.types import ToolAnnotations  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402

T = TypeVar("T")

INSTRUCTIONS = (
    "Long-term memory. Store facts worth remembering with memory.upsert (give an id to update one later), "
    "recall them with memory.search before answering (mode 'hybrid' finds exact names and numbers as well "
    "as paraphrases), read one by id with memory.get, and see how a memory changed with memory.history. "
    "Every change is kept in an event log: memory.as_of searches the memory as it was at a past time."
)


@dataclass(frozen=True, slots=True)
class McpOptions:
    """How a server exposes its Memory (``OMEGA_MCP_*`` settings)."""

    #: the one namespace (tenant) this server serves; None: the client names it (default: the Memory's)
    namespace: str | None = None
    #: only the reading tools
    read_only: bool = False
    #: offer memory.delete
    allow_delete: bool = True
    #: "dotted" (memory.search) or "underscored" (memory_search), for hosts that refuse dots
    tool_names: Literal["dotted", "underscored"] = "dotted"


class Stored(BaseModel):
    """A memory as written."""

    id: str
    version: int = Field(description="1 for a new memory, then one more per write")
    namespace: str


class Recalled(BaseModel):
    """A stored memory, with its relevance when it comes from a search."""

    id: str
    text: str
    metadata: dict[str, Any]
    namespace: str
    version: int
    score: float | None = Field(None, description="relevance to the query, higher is better (search only)")

    @staticmethod
    def of(record: MemoryRecord) -> Recalled:
        return Recalled(
            id=record.id,
            text=record.text,
            metadata=record.metadata,
            namespace=record.namespace,
            version=record.version,
            score=record.score,
        )


class Found(BaseModel):
    """Memories, best first for a search."""

    memories: list[Recalled]


class Deleted(BaseModel):
    deleted: int = Field(description="how many of the ids existed (and are now deleted)")


class Change(BaseModel):
    """One event of a memory's history."""

    type: str = Field(description="memory.upserted, memory.deleted or namespace.erased")
    version: int
    position: int = Field(description="the event's position in the log")
    recorded_at: str | None
    text: str | None = None
    metadata: dict[str, Any] | None = None

    @staticmethod
    def of(event: Event) -> Change:
        data = event.data
        return Change(
            type=event.type,
            version=event.version,
            position=event.position,
            recorded_at=event.recorded_at.astimezone(UTC).isoformat() if event.recorded_at else None,
            text=getattr(data, "text", None),
            metadata=getattr(data, "metadata", None),
        )


class History(BaseModel):
    events: list[Change]


Namespace = Annotated[str | None, Field(description="the tenant (user, agent, session) the memory belongs to")]
Mode = Annotated[
    SearchMode | None,
    Field(
        description="dense: by meaning; sparse: by the exact words (names, numbers); hybrid: both. "
        "Default: hybrid, or sparse on a server without an embedder"
    ),
]
Limit = Annotated[int, Field(ge=1, le=100, description="how many memories at most")]
Filter = Annotated[
    dict[str, Any] | None,
    Field(description='metadata filter, e.g. {"topic": "drinks"} or {"year": {"$gte": 2020}}'),
]


class _Tools:
    """The tool functions over one Memory, scoped by the options."""

    def __init__(self, memory: Memory, options: McpOptions) -> None:
        self.memory = memory
        self.options = options

    def namespace(self, asked: str | None) -> str:
        fixed = self.options.namespace
        if fixed is not None:
            if asked is not None and asked != fixed:
                raise ToolError(f"this server serves namespace {fixed!r} only; leave namespace out")
            return fixed
        return asked if asked is not None else self.memory.namespace

    def mode(self, asked: SearchMode | None) -> SearchMode:
        """Hybrid where the server has an embedder, else the words alone."""
        if asked is not None:
            return asked
        return "hybrid" if self.memory.embedder is not None else "sparse"

    async def call(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run a Memory call; a refused argument becomes a tool error saying what to fix."""
        try:
            with writing_as("mcp"):
                return await action()
        except OmegaMemoryError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    async def upsert(
        self,
        text: Annotated[str, Field(description="the fact to remember, in plain words")],
        id: Annotated[str | None, Field(description="give one to update this memory later; omitted: a new id")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="JSON facts to filter on later")] = None,
        namespace: Namespace = None,
        idempotency_key: Annotated[
            str | None,
            Field(description="the same key on a retry writes nothing again and returns the first result"),
        ] = None,
        ttl_seconds: Annotated[
            float | None, Field(gt=0, description="forget it after this many seconds (omitted: keep it)")
        ] = None,
    ) -> Stored:
        """Remember a fact (or replace the memory with this id). Returns its id and version."""
        scope = self.namespace(namespace)

        async def write() -> Stored:
            memory_id = await self.memory.aupsert(
                text, id=id, metadata=metadata, namespace=scope, idempotency_key=idempotency_key, ttl=ttl_seconds
            )
            found = await self.memory.aget(memory_id, namespace=scope)  # empty if it expired at once
            version = (
                found[0].version if found else (await self.memory.ahistory(memory_id, namespace=scope))[-1].version
            )
            return Stored(id=memory_id, version=version, namespace=scope)

        return await self.call(write)

    async def search(
        self,
        query: Annotated[str, Field(description="what to recall, in words")],
        limit: Limit = 5,
        filter: Filter = None,
        mode: Mode = None,
        namespace: Namespace = None,
    ) -> Found:
        """Recall the memories most relevant to a query, best first."""
        scope = self.namespace(namespace)
        mode = self.mode(mode)

        async def find() -> list[MemoryRecord]:
            return await self.memory.asearch(text=query, limit=limit, filter=filter, mode=mode, namespace=scope)

        return Found(memories=[Recalled.of(r) for r in await self.call(find)])

    async def get(
        self,
        ids: Annotated[list[str], Field(min_length=1, description="the ids of the memories to read")],
        namespace: Namespace = None,
    ) -> Found:
        """Read memories by id (missing ids are left out)."""
        scope = self.namespace(namespace)
        return Found(memories=[Recalled.of(r) for r in await self.call(lambda: self.memory.aget(ids, namespace=scope))])

    async def delete(
        self,
        ids: Annotated[list[str], Field(min_length=1, description="the ids of the memories to delete")],
        namespace: Namespace = None,
    ) -> Deleted:
        """Delete memories by id. Their history stays in the log."""
        scope = self.namespace(namespace)
        return Deleted(deleted=await self.call(lambda: self.memory.adelete(ids, namespace=scope)))

    async def history(
        self,
        id: Annotated[str, Field(description="the memory's id")],
        namespace: Namespace = None,
    ) -> History:
        """Every change of one memory, oldest first: its writes, deletes and erasures."""
        scope = self.namespace(namespace)
        events = await self.call(lambda: self.memory.ahistory(id, namespace=scope))
        return History(events=[Change.of(e) for e in events])

    async def as_of(
        self,
        query: Annotated[str, Field(description="what to recall, in words")],
        when: Annotated[
            int | datetime,
            Field(description="a log position, or an ISO-8601 time (UTC if no offset), e.g. 2026-11-01T12:00:00Z"),
        ],
        limit: Limit = 5,
        mode: Mode = None,
        namespace: Namespace = None,
    ) -> Found:
        """Recall memories as they were at a past moment (replays the log up to it)."""
        scope = self.namespace(namespace)
        mode = self.mode(mode)
        if isinstance(when, datetime) and when.tzinfo is None:
            when = when.replace(tzinfo=UTC)

        async def find_then() -> list[MemoryRecord]:
            view = await asyncio.to_thread(self.memory.as_of, when)  # a replay: off this loop
            try:
                return await view.asearch(text=query, limit=limit, mode=mode, namespace=scope)
            finally:
                await view.aclose()

        return Found(memories=[Recalled.of(r) for r in await self.call(find_then)])


def build_server(memory: Memory, options: McpOptions | None = None) -> MCPServer:
    """An ``MCPServer`` whose tools read and write ``memory`` (see the module docstring)."""
    options = options or McpOptions()
    tools = _Tools(memory, options)
    server = MCPServer("omega-memory", instructions=INSTRUCTIONS, version=__version__)
    separator = "." if options.tool_names == "dotted" else "_"
    reading = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
    offered: list[tuple[str, Callable[..., Any], ToolAnnotations, bool]] = [
        ("search", tools.search, reading, True),
        ("get", tools.get, reading, True),
        ("history", tools.history, reading, True),
        ("as_of", tools.as_of, reading, True),
        (
            "upsert",
            tools.upsert,
            ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False),
            not options.read_only,
        ),
        (
            "delete",
            tools.delete,
            ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False),
            not options.read_only and options.allow_delete,
        ),
    ]
    for name, function, hints, offer in offered:
        if offer:
            server.add_tool(function, name=f"memory{separator}{name}", annotations=hints, structured_output=True)
    if memory.settings.metrics:
        from . import metrics

        @server.custom_route(metrics.METRICS_PATH, methods=["GET"], include_in_schema=False)  # type: ignore[untyped-decorator]
        async def scrape(request: Request) -> Response:
            body, content_type = await metrics.exposition()
            return Response(body, media_type=content_type)

    return server


def serve_http(server: MCPServer, host: str, port: int) -> None:
    """Serve ``server`` over streamable HTTP at ``http://host:port/mcp`` until interrupted."""
    import uvicorn

    print(f"omega-memory MCP server at http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    uvicorn.run(server.streamable_http_app(host=host), host=host, port=port, log_level="warning")
