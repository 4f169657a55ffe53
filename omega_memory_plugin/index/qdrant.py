"""The server index: Qdrant through ``qdrant-client``'s :class:`~qdrant_client.AsyncQdrantClient`.

Selected by ``http://host:6333`` or ``https://host`` (a Qdrant server, shared by any number of
processes), or by ``qdrant-local://:memory:`` / ``qdrant-local:///path`` (qdrant-client's local
mode, an in-process emulation meant for tests). Layout on the server::

    <prefix>meta                       one point: {"generation": ...}, the generation in use
    <prefix><generation>_<collection>  one Qdrant collection per memory collection

Rebuilding writes a new generation beside the current one and then switches the meta point to it
(:meth:`QdrantProjection.promote`), so readers never see a half-built index. Every write is sent
with ``wait=True``: the server answers only once the operation is in its WAL and applied, so a
write that returned is durable and visible, and ``flush()`` has nothing left to do.

The constructor cannot await, so the current generation is looked up by :meth:`open`::

    index = QdrantProjection(AsyncQdrantClient(url="http://localhost:6333"), owns_client=True)
    await index.open()
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import grpc  # type: ignore[import-untyped,unused-ignore]  # no stubs unless types-grpcio is installed
import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ..errors import IndexUnavailableError
from ..events import Distance, Event
from ..filters import Node
from ..records import MemoryRecord
from .base import Projection, SearchQuery
from .batching import plan_writes
from .payload import MEMORY_ID, NAMESPACE, point_id, to_payload, to_record, to_vectors
from .qdrant_filters import FilterVocabulary, scoped_filter

_DISTANCES = {
    Distance.COSINE: models.Distance.COSINE,
    Distance.DOT: models.Distance.DOT,
    Distance.EUCLID: models.Distance.EUCLID,
}

VOCABULARY = FilterVocabulary(
    filter=lambda must=None, should=None, must_not=None: models.Filter(must=must, should=should, must_not=must_not),
    match_value=lambda key, value: models.FieldCondition(key=key, match=models.MatchValue(value=value)),
    match_any=lambda key, values: models.FieldCondition(key=key, match=models.MatchAny(any=values)),
    range=lambda key, **bounds: models.FieldCondition(key=key, range=models.Range(**bounds)),
    is_empty=lambda key: models.IsEmptyCondition(is_empty=models.PayloadField(key=key)),
    match_substring=lambda key, text: models.FieldCondition(key=key, match=models.MatchSubstring(substring=text)),
)

# The one point of the meta collection. Fixed, so every process reads and writes the same point.
_META_POINT = "6f6d6567-612d-6d65-7461-67656e657261"
_GENERATION = "generation"
# Points per upsert request: a rebuild can hand over thousands of events at once, and a server
# refuses requests above 32 MB by default (1536-d vectors as JSON are ~30 kB a point).
_UPSERT_BATCH = 256
# Errors meaning "the server did not answer usefully": down, unreachable, timed out, or an HTTP
# error status. Everything else (a bug, a bad argument) propagates unchanged.
_TRANSPORT_ERRORS = (ResponseHandlingException, UnexpectedResponse, httpx.TransportError, grpc.RpcError)


class QdrantProjection(Projection):
    """Qdrant collections named ``<prefix><generation>_<collection>`` behind one client.

    Example::

        index = QdrantProjection(AsyncQdrantClient(url="http://localhost:6333"), owns_client=True)
        await index.open()

    ``owns_client`` says whether :meth:`close` closes the client. Projections made by
    :meth:`fresh` share the client without owning it; :meth:`promote` hands ownership over.
    """

    def __init__(
        self,
        client: AsyncQdrantClient,
        prefix: str = "omega_",
        generation: str | None = None,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.generation = generation
        self.owns_client = owns_client
        self.applied_position = 0
        self._opened = False
        # Collections of this generation known to exist (memory collection name -> Qdrant name).
        self._collections: dict[str, str] = {}

    @property
    def name(self) -> str:  # type: ignore[override]  # read-only: a checkpoint name must never be guessed
        if self.generation is None:
            raise RuntimeError("QdrantProjection.name is known only after `await projection.open()`")
        return f"qdrant:{self.prefix}{self.generation}"

    @property
    def meta_collection(self) -> str:
        return f"{self.prefix}meta"

    @property
    def where(self) -> str:
        """Where the client points, for error messages."""
        options = self.client.init_options
        if options.get("location") == ":memory:" or options.get("path"):
            return f"qdrant-client local mode ({options.get('path') or ':memory:'})"
        if options.get("url") or options.get("location"):
            return str(options.get("url") or options.get("location"))
        return f"{options.get('host') or 'localhost'}:{options.get('port')}"

    @property
    def _local(self) -> bool:
        options = self.client.init_options
        return options.get("location") == ":memory:" or bool(options.get("path"))

    # -- opening ---------------------------------------------------------------------------------

    async def open(self) -> None:
        """Resolve the current generation and discover its collections. Idempotent."""
        if self._opened:
            return
        async with self._translating():
            if self.generation is None:
                self.generation = await self._read_generation()
                if self.generation is None:
                    # First use of this prefix: start a generation and make it the current one.
                    await self._write_generation(uuid.uuid4().hex[:12])
                    # Re-read: if another process raced us, both adopt whichever write landed last.
                    self.generation = await self._read_generation()
            self._collections = await self._discover()
        self._opened = True

    async def _ready(self) -> None:
        # Cheap after the first call; makes a forgotten open() harmless rather than wrong.
        if not self._opened:
            await self.open()

    @property
    def _qualifier(self) -> str:
        return f"{self.prefix}{self.generation}_"

    async def _discover(self) -> dict[str, str]:
        response = await self.client.get_collections()
        qualifier = self._qualifier
        return {
            c.name[len(qualifier) :]: c.name for c in response.collections if c.name.startswith(qualifier)
        }

    async def _read_generation(self) -> str | None:
        if not await self.client.collection_exists(self.meta_collection):
            return None
        points = await self.client.retrieve(self.meta_collection, [_META_POINT], with_payload=True)
        value = points[0].payload.get(_GENERATION) if points and points[0].payload else None
        return str(value) if value else None

    async def _write_generation(self, generation: str) -> None:
        if not await self.client.collection_exists(self.meta_collection):
            # No vectors at all: the meta collection only carries one payload (servers and local
            # mode both accept an empty named-vector config).
            await self._create_collection(self.meta_collection, {})
        await self.client.upsert(
            self.meta_collection,
            [models.PointStruct(id=_META_POINT, vector={}, payload={_GENERATION: generation})],
            wait=True,
        )

    async def _create_collection(self, qualified: str, vectors: dict[str, models.VectorParams]) -> None:
        try:
            await self.client.create_collection(qualified, vectors_config=vectors)
        except (UnexpectedResponse, ValueError):
            # Another process created it first (409 from a server, ValueError in local mode);
            # anything else is re-raised.
            if not await self.client.collection_exists(qualified):
                raise

    @asynccontextmanager
    async def _translating(self) -> AsyncIterator[None]:
        """Turn "the server did not answer" into :class:`IndexUnavailableError`."""
        try:
            yield
        except UnexpectedResponse as exc:
            raise IndexUnavailableError(
                f"the Qdrant server at {self.where} answered HTTP {exc.status_code} {exc.reason_phrase}: "
                f"{exc.content.decode(errors='replace')[:500]} (writes are safe in the event log)"
            ) from exc
        except _TRANSPORT_ERRORS as exc:
            raise IndexUnavailableError(
                f"the Qdrant server at {self.where} is unreachable ({exc}); check that it is running "
                "and that the URL is right. Writes are safe in the event log and will be projected "
                "once it is back"
            ) from exc

    def _known(self, collection: str) -> str | None:
        return self._collections.get(collection)

    async def _existing(self, collection: str) -> str | None:
        """The Qdrant name of ``collection`` if it exists. Another process sharing the server may
        have created it since open, so a miss is checked with the server before answering "none"."""
        qualified = self._known(collection)
        if qualified is not None:
            return qualified
        qualified = self._qualifier + collection
        if await self.client.collection_exists(qualified):
            self._collections[collection] = qualified
            return qualified
        return None

    # -- writes ----------------------------------------------------------------------------------

    async def apply(self, events: Sequence[Event]) -> None:
        await self._ready()
        fresh = [e for e in events if e.position > self.applied_position]
        async with self._translating():
            for op in plan_writes(fresh):
                if op.kind == "create":
                    await self._create(op.collection, op.vectors, op.distance)
                    continue
                # Writing to an unknown collection fails on the server (like a missing Edge shard).
                qualified = self._known(op.collection) or self._qualifier + op.collection
                if op.kind == "upsert":
                    # (type: ignore: the client's vector/id types are invariant unions.)
                    points = [
                        models.PointStruct(id=pid, vector=to_vectors(e), payload=to_payload(e))  # type: ignore[arg-type]
                        for pid, e in op.by_point.items()
                    ]
                    for start in range(0, len(points), _UPSERT_BATCH):
                        await self.client.upsert(qualified, points[start : start + _UPSERT_BATCH], wait=True)
                elif op.kind == "delete":
                    selector = models.PointIdsList(points=op.point_ids)  # type: ignore[arg-type]
                    await self.client.delete(qualified, selector, wait=True)
                else:
                    condition = scoped_filter(VOCABULARY, op.namespace, None)
                    await self.client.delete(qualified, models.FilterSelector(filter=condition), wait=True)
        if fresh:
            self.applied_position = fresh[-1].position

    async def _create(self, collection: str, vectors: dict[str, int], distance: Distance) -> None:
        if await self._existing(collection) is not None:
            return
        qualified = self._qualifier + collection
        config = {name: models.VectorParams(size=dim, distance=_DISTANCES[distance]) for name, dim in vectors.items()}
        await self._create_collection(qualified, config)
        if not self._local:
            # Every query filters on the namespace: a tenant index co-locates each namespace's
            # points. Local mode ignores payload indexes (and warns), so it is skipped there.
            await self.client.create_payload_index(
                qualified,
                NAMESPACE,
                field_schema=models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
                wait=True,
            )
        self._collections[collection] = qualified

    async def flush(self) -> None:
        # Nothing is buffered here: every write above used wait=True, so it is already in the
        # server's WAL and applied when apply() returns.
        await self._ready()

    # -- reads -----------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> list[MemoryRecord]:
        await self._ready()
        async with self._translating():
            qualified = await self._existing(query.collection)
            if qualified is None:
                return []
            response = await self.client.query_points(
                qualified,
                query=query.vector.tolist(),
                using=query.using,
                query_filter=scoped_filter(VOCABULARY, query.namespace, query.filter),
                limit=query.limit,
                with_payload=True,
                with_vectors=[query.using] if query.with_vectors else False,
                score_threshold=query.score_threshold,
                # Local mode always searches exactly, and warns when given search params.
                search_params=models.SearchParams(exact=True) if query.exact and not self._local else None,
            )
        return [to_record(query.collection, p.payload or {}, p.score, _vectors(p.vector)) for p in response.points]

    async def get(
        self, collection: str, namespace: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[MemoryRecord]:
        await self._ready()
        if not ids:
            return []
        async with self._translating():
            qualified = await self._existing(collection)
            if qualified is None:
                return []
            records = await self.client.retrieve(
                qualified, [point_id(namespace, i) for i in ids], with_payload=True, with_vectors=with_vectors
            )
        by_id = {r.payload[MEMORY_ID]: r for r in records if r.payload}
        return [
            to_record(collection, by_id[i].payload or {}, None, _vectors(by_id[i].vector)) for i in ids if i in by_id
        ]

    async def scan(
        self, collection: str, namespace: str, filter: Node | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[MemoryRecord]:
        await self._ready()
        records: list[MemoryRecord] = []
        async with self._translating():
            qualified = await self._existing(collection)
            if qualified is None:
                return []
            condition = scoped_filter(VOCABULARY, namespace, filter)
            # Qdrant pages by point id (a hash of the memory id), not by memory id, so every page
            # is read and sorted here.
            next_offset: Any = None
            while True:
                page, next_offset = await self.client.scroll(
                    qualified, scroll_filter=condition, limit=1000, offset=next_offset, with_payload=True
                )
                records.extend(to_record(collection, r.payload or {}) for r in page)
                if next_offset is None:
                    break
        records.sort(key=lambda r: r.id)
        return records[offset:] if limit is None else records[offset : offset + limit]

    async def count(self, collection: str, namespace: str | None = None, filter: Node | None = None) -> int:
        await self._ready()
        async with self._translating():
            qualified = await self._existing(collection)
            if qualified is None:
                return 0
            result = await self.client.count(
                qualified, count_filter=scoped_filter(VOCABULARY, namespace, filter), exact=True
            )
        return result.count

    # -- generations -----------------------------------------------------------------------------

    async def fresh(self) -> QdrantProjection:
        await self._ready()
        # Shares the client without owning it: closing either projection must not cut the other off.
        projection = QdrantProjection(self.client, self.prefix, generation=uuid.uuid4().hex[:12])
        await projection.open()
        return projection

    async def promote(self, replaced: Projection) -> None:
        await self._ready()
        async with self._translating():
            await self._write_generation(self.generation or "")
        if isinstance(replaced, QdrantProjection) and replaced.client is self.client and replaced.owns_client:
            # The replaced projection is about to be dropped; its client lives on in this one.
            replaced.owns_client, self.owns_client = False, True
        await replaced.drop()

    async def drop(self) -> None:
        # Deletes this generation's collections but keeps the client open: a projection made by
        # fresh() shares it, and close() is what releases it.
        await self._ready()
        async with self._translating():
            for qualified in (await self._discover()).values():
                await self.client.delete_collection(qualified)
        self._collections.clear()

    async def close(self) -> None:
        self._collections.clear()
        self._opened = False
        if self.owns_client:
            self.owns_client = False  # closing twice is a no-op
            await self.client.close()


def _vectors(raw: Any) -> dict[str, list[float]] | None:
    return dict(raw) if isinstance(raw, dict) and raw else None

