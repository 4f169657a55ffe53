"""The server index: Qdrant through ``qdrant-client``'s :class:`~qdrant_client.AsyncQdrantClient`.

Selected by ``http://host:6333`` or ``https://host`` (a Qdrant server, shared by any number of
processes), or by ``qdrant-local://:memory:`` / ``qdrant-local:///path`` (qdrant-client's local
mode, an in-process emulation meant for tests). Layout on the server::

    <prefix>meta                       the current generation, each generation's state, and
                                       the leases of the processes using them (index/qdrant_meta.py)
    <prefix><generation>_<collection>  one Qdrant collection per memory collection; each point's
                                       payload is index/payload.py's, plus `_numbers` (below)

Any number of processes share a server. Their writes are conditional on the log position each
point reflects, so a lagging process never replaces a newer state with an older one, and deletes
leave tombstones (index/qdrant_conditional.py). Rebuilding writes a new generation beside the
current one and then switches the pointer to it (:meth:`QdrantProjection.promote`), so readers
never see a half-built index; every other process learns the switch within
an eighth of ``qdrant_lease_seconds`` (:meth:`QdrantProjection.follow`), and an old generation is
dropped only once no process holds a lease on it. Every write is sent with ``wait=True``: the
server answers only once the operation is in its WAL and applied, so a write that returned is
durable and visible, and ``flush()`` only records the generation's state.

A Qdrant 1.19 server re-reads stored payload floats through a parser that is a ulp off for some
values (937.9228155259179 comes back as 937.922815525918), and checks filters against what it
re-read: an equality range [v, v] missed 10 of 240 random floats. (A float index created before
the data holds the exact values; one created after reads them back the same lossy way, and so,
presumably, does one the optimizer rebuilds.) So each point also carries its metadata's numbers
as exact text under ``_numbers`` (same shape, ``repr(float(n))``: numbers equal as floats, 2 and
2.0 included, have equal text), and numeric equality, ``$in`` and their negations match that
text. Ranges stay on the numbers themselves: a bound within a ulp of a stored float may fall on
either side of it.

``$text`` filters need Qdrant's ``MatchSubstring``, added in Qdrant 1.20; on an older server they
raise :class:`~omega_memory_plugin.errors.UnsupportedFilterError` instead of being sent.

The constructor cannot await, so the current generation is looked up by :meth:`open`::

    index = QdrantProjection(AsyncQdrantClient(url="http://localhost:6333"), owns_client=True)
    await index.open()
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import grpc  # type: ignore[import-untyped,unused-ignore]  # no stubs unless types-grpcio is installed
import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ..errors import IndexUnavailableError, UnsupportedFilterError
from ..events import Distance, MemoryUpsertedEvent
from ..filters import Node
from ..records import MemoryRecord
from .base import RRF_K, Entry, IndexState, Projection, SearchQuery
from .batching import WriteOp
from .bm25 import SPARSE, document_terms, own_vectors
from .payload import EXPIRES_AT, MEMORY_ID, METADATA, NAMESPACE, VERSION, point_id, to_payload, to_record, to_vectors
from .qdrant_conditional import DELETED, conditional_upsert, erase, is_live, live_only, tombstone
from .qdrant_filters import FilterVocabulary, scoped_filter
from .qdrant_meta import LEASE_SECONDS, QdrantMeta, new_generation

_DISTANCES = {
    Distance.COSINE: models.Distance.COSINE,
    Distance.DOT: models.Distance.DOT,
    Distance.EUCLID: models.Distance.EUCLID,
}

# The exact text of each number in a point's metadata (see the module docstring).
_NUMBERS = "_numbers"


def _number_text(number: int | float) -> str:
    """Equal text for numbers that filters treat as equal: as floats (2 == 2.0, -0.0 == 0.0)."""
    value = float(number)
    return repr(value if value != 0 else 0.0)


def _numbers(value: Any) -> Any:
    """``value`` with every number as its text and everything else left out; None if no number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _number_text(value)
    if isinstance(value, dict):
        found = {key: text for key, item in value.items() if (text := _numbers(item)) is not None}
        return found or None
    if isinstance(value, list):
        items = [text for item in value if (text := _numbers(item)) is not None]
        return items or None
    return None


def _server_payload(event: MemoryUpsertedEvent) -> dict[str, Any]:
    payload = to_payload(event)
    numbers = _numbers(event.data.metadata)
    if numbers is not None:
        payload[_NUMBERS] = numbers
    return payload


def _number_equals(key: str, value: int | float) -> models.FieldCondition:
    # key is "metadata.<path>": the same path under _numbers holds the exact text.
    path = _NUMBERS + key.removeprefix(METADATA)
    return models.FieldCondition(key=path, match=models.MatchValue(value=_number_text(value)))


VOCABULARY = FilterVocabulary(
    filter=lambda must=None, should=None, must_not=None: models.Filter(must=must, should=should, must_not=must_not),
    match_value=lambda key, value: models.FieldCondition(key=key, match=models.MatchValue(value=value)),
    match_any=lambda key, values: models.FieldCondition(key=key, match=models.MatchAny(any=values)),
    range=lambda key, **bounds: models.FieldCondition(key=key, range=models.Range(**bounds)),
    is_empty=lambda key: models.IsEmptyCondition(is_empty=models.PayloadField(key=key)),
    match_substring=lambda key, text: models.FieldCondition(key=key, match=models.MatchSubstring(substring=text)),
    number_equals=_number_equals,
)

#: The server's point layout: payload.py's, plus positions that condition every write and
#: tombstones for deletes. 3: payload layout 2 with both; 4: payload layout 3 (BM25 sparse
#: vectors) with both; 5: payload layout 4 (lower-cased strings for ``$itext``); 6: payload layout 5
#: (the strings not in lists, for ``$contains`` and ``$empty``). An index of another layout is rebuilt.
SERVER_LAYOUT = 6
# Qdrant added MatchSubstring (`match: {substring}`, what `$text` needs) in 1.20; 1.19 answers 400.
_SUBSTRING_SINCE = (1, 20)
# Points per upsert request: a rebuild can hand over thousands of events at once, and a server
# refuses requests above 32 MB by default (1536-d vectors as JSON are ~30 kB a point).
_UPSERT_BATCH = 256
# Errors meaning "the server did not answer usefully": down, unreachable, timed out, or an HTTP
# error status. Everything else (a bug, a bad argument) propagates unchanged.
logger = logging.getLogger(__name__)
_TRANSPORT_ERRORS = (ResponseHandlingException, UnexpectedResponse, httpx.TransportError, grpc.RpcError)


class QdrantProjection(Projection):
    """Qdrant collections named ``<prefix><generation>_<collection>`` behind one client.

    Example::

        index = QdrantProjection(AsyncQdrantClient(url="http://localhost:6333"), owns_client=True)
        await index.open()

    ``owns_client`` says whether :meth:`close` closes the client. Projections made by
    :meth:`fresh` share the client without owning it; :meth:`promote` hands ownership over.
    """

    keeps_deleted = True  # segments keep deleted points until an optimizer rewrites them

    def __init__(
        self,
        client: AsyncQdrantClient,
        prefix: str = "omega_",
        generation: str | None = None,
        owns_client: bool = False,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.generation = generation
        self.owns_client = owns_client
        self.applied_position = 0
        self._opened = False
        # Collections of this generation known to exist (memory collection name -> Qdrant name).
        self._collections: dict[str, str] = {}
        #: The server's version (local mode: the client's), known after open().
        self.server_version: str | None = None
        self._vocabulary = VOCABULARY
        self.meta = QdrantMeta(client, prefix, lease_seconds)
        #: who holds this projection's lease on its generation (one per projection object)
        self.holder = uuid.uuid4().hex
        self._checked_at = -float("inf")  # when the lease was renewed and the pointer read
        self._vector_names: dict[str, list[str]] = {}

        #: see SERVER_LAYOUT (local mode writes the same way: one code path)
        self.layout = SERVER_LAYOUT
        # A generation being built by fresh() is seen by no other process until it is promoted,
        # so its writes need no condition (a rebuild then writes at the speed of plain upserts).
        self._exclusive = False

    @property
    def name(self) -> str:  # type: ignore[override]  # read-only: a checkpoint name must never be guessed
        if self.generation is None:
            raise RuntimeError("QdrantProjection.name is known only after `await projection.open()`")
        return f"qdrant:{self.prefix}{self.generation}"

    @property
    def meta_collection(self) -> str:
        return self.meta.collection

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
                # The current generation (on a fresh prefix, the first one, whose name is fixed, so
                # processes opening it at the same moment cannot split), leased before it is used.
                self.generation = await self.meta.acquire(self.holder)
            else:
                await self.meta.lease(self.holder, self.generation)  # e.g. a generation being built
            self._checked_at = time.monotonic()
            self._collections = await self._discover()
            self.server_version = (await self.client.info()).version
            self._vocabulary = VOCABULARY if self.has_substring else self._without_substring()
        self._opened = True

    async def _ready(self) -> None:
        # Cheap after the first call; makes a forgotten open() harmless rather than wrong.
        if not self._opened:
            await self.open()
        elif time.monotonic() - self._checked_at >= self.meta.renew_seconds:
            # Renewed while in use, so the generation is never collected under this process.
            self._checked_at = time.monotonic()
            async with self._translating():
                await self.meta.lease(self.holder, self.generation or "")

    async def follow(self) -> QdrantProjection | None:
        """The generation another process promoted since this one was opened, opened and caught
        up to nothing yet (the caller catches it up from the log), or None if this one is current.

        Checked at most every eighth of the lease (and at once after this
        generation stopped answering); the lease is renewed on the way."""
        if not self._opened or time.monotonic() - self._checked_at < self.meta.renew_seconds:
            return None
        self._checked_at = time.monotonic()
        async with self._translating():
            await self.meta.lease(self.holder, self.generation or "")
            current = await self.meta.current()
        if current is None or current == self.generation:
            return None
        successor = QdrantProjection(
            self.client, self.prefix, generation=current, lease_seconds=self.meta.lease_seconds
        )
        await successor.open()
        return successor

    @property
    def _qualifier(self) -> str:
        return f"{self.prefix}{self.generation}_"

    async def _discover(self) -> dict[str, str]:
        response = await self.client.get_collections()
        qualifier = self._qualifier
        return {c.name[len(qualifier) :]: c.name for c in response.collections if c.name.startswith(qualifier)}

    @property
    def has_substring(self) -> bool:
        """Whether the server evaluates MatchSubstring, so ``$text`` filters (known after open)."""
        return _release(self.server_version or "") >= _SUBSTRING_SINCE

    def _without_substring(self) -> FilterVocabulary:
        """The vocabulary of a server before 1.20: `$text` raises a typed error here instead of
        being sent (the server would answer 400, which reads as "index unavailable")."""
        where, version = self.where, self.server_version

        def unsupported(key: str, text: str) -> Any:
            raise UnsupportedFilterError(
                f"the Qdrant server at {where} is version {version}; $text (on "
                f"{key.removeprefix(METADATA + '.')!r}) needs Qdrant's MatchSubstring, added in Qdrant "
                f"{'.'.join(map(str, _SUBSTRING_SINCE))}: upgrade the server, or filter without $text"
            )

        return replace(VOCABULARY, match_substring=unsupported)

    def _filter(self, namespace: str | None, node: Node | None) -> Any:
        return live_only(scoped_filter(self._vocabulary, namespace, node))

    async def _create_collection(self, qualified: str, vectors: dict[str, models.VectorParams]) -> None:
        try:
            await self.client.create_collection(
                qualified,
                vectors_config=vectors,
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
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
            if exc.status_code == 404:
                self._checked_at = -float("inf")  # a collection went away: re-read the pointer next
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

    def held(self, collection: str) -> Iterable[str]:
        return list(self._collections)

    async def write(self, ops: Iterable[WriteOp]) -> None:
        await self._ready()
        async with self._translating():
            for op in ops:
                if op.kind == "create":
                    await self._create(op.collection, op.vectors, op.distance)
                    continue
                # Writing to an unknown collection fails on the server (like a missing Edge shard).
                qualified = self._known(op.collection) or self._qualifier + op.collection
                if op.kind == "upsert" or op.kind == "delete":
                    # (type: ignore: the client's vector/id types are invariant unions.)
                    points = (
                        [
                            models.PointStruct(id=pid, vector=_server_vectors(e), payload=_server_payload(e))
                            for pid, e in op.by_point.items()
                        ]
                        if op.kind == "upsert"
                        else [tombstone(pid, e) for pid, e in zip(op.point_ids, op.deletes, strict=True)]
                    )
                    for start in range(0, len(points), _UPSERT_BATCH):
                        part = points[start : start + _UPSERT_BATCH]
                        if self._exclusive:
                            await self.client.upsert(qualified, part, wait=True)
                        else:
                            await conditional_upsert(self.client, qualified, part, repair=op.repair)
                else:
                    names = await self._vector_names_of(qualified)
                    await erase(self.client, qualified, op.namespace, op.position, names)

    async def _vector_names_of(self, qualified: str) -> list[str]:
        if qualified not in self._vector_names:
            params = (await self.client.get_collection(qualified)).config.params
            dense = sorted(params.vectors) if isinstance(params.vectors, dict) else []
            self._vector_names[qualified] = dense + sorted(params.sparse_vectors or {})
        return self._vector_names[qualified]

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
            # Every read leaves tombstones out (qdrant_conditional.live_only): index the flag so
            # that condition is answered from the index, not by loading each candidate's payload.
            await self.client.create_payload_index(
                qualified, DELETED, field_schema=models.PayloadSchemaType.BOOL, wait=True
            )
            # Every read leaves expired memories out (expiry.py): answered from this index, a
            # search costs what it did before expiry existed (without it, three times as much).
            await self.client.create_payload_index(
                qualified, EXPIRES_AT, field_schema=models.PayloadSchemaType.FLOAT, wait=True
            )
        self._collections[collection] = qualified

    async def flush(self) -> None:
        # Nothing is buffered here: every write above used wait=True, so it is already in the
        # server's WAL and applied when apply() returns. What is left is to record the state.
        await self._ready()
        position = self.applied_position
        async with self._translating():
            await self.meta.record_state(self.generation or "", position, self.layout)

    async def state(self) -> IndexState | None:
        await self._ready()
        async with self._translating():
            return await self.meta.state(self.generation or "")

    # -- reads -----------------------------------------------------------------------------------

    async def search(self, query: SearchQuery) -> list[MemoryRecord]:
        await self._ready()
        condition = self._filter(query.namespace, query.filter)
        async with self._translating():
            qualified = await self._existing(query.collection)
            if qualified is None:
                return []
            response = await self.client.query_points(
                qualified,
                **self._ranking(query, condition),
                query_filter=condition,
                limit=query.limit,
                with_payload=True,
                with_vectors=[query.using] if query.with_vectors else False,
                score_threshold=query.score_threshold,
            )
        return [to_record(query.collection, p.payload or {}, p.score, own_vectors(p.vector)) for p in response.points]

    def _ranking(self, query: SearchQuery, condition: models.Filter) -> dict[str, Any]:
        """The query_points arguments that rank: a dense or a sparse query, or both fused."""
        dense = sparse = None
        if query.mode != "sparse":
            assert query.vector is not None
            # Local mode always searches exactly, and warns when given search params.
            exact = models.SearchParams(exact=True) if query.exact and not self._local else None
            vector = query.vector.tolist()
            nearest: Any = (
                vector
                if query.diversity is None
                else models.NearestQuery(
                    nearest=vector, mmr=models.Mmr(diversity=query.diversity, candidates_limit=query.pools[0])
                )
            )
            dense = {"query": nearest, "using": query.using, "params": exact}
        if query.mode != "dense":
            # IDF over the namespace's live memories only: a tenant's words never weigh on another's.
            corpus = self._filter(query.namespace, None)
            indices, values = query.terms or ([], [])
            sparse = {
                "query": models.SparseVector(indices=indices, values=values),
                "using": SPARSE,
                "params": models.SearchParams(idf=models.IdfCorpusParams(corpus=corpus)),
            }
        if dense is None or sparse is None:
            one = dense or sparse
            assert one is not None
            return {"query": one["query"], "using": one["using"], "search_params": one["params"]}
        fusion: Any = (
            models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=list(query.weights) if query.weights else None))
            if query.fusion == "rrf"
            else models.FusionQuery(fusion=models.Fusion.DBSF)
        )
        prefetch = [
            models.Prefetch(
                query=side["query"], using=side["using"], params=side["params"], filter=condition, limit=pool
            )
            for pool, side in zip(query.pools, (dense, sparse), strict=True)
        ]
        return {"query": fusion, "prefetch": prefetch}

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
                qualified,
                [point_id(collection, namespace, i) for i in ids],
                with_payload=True,
                with_vectors=with_vectors,
            )
        by_id = {r.payload[MEMORY_ID]: r for r in records if r.payload and is_live(r.payload)}
        return [
            to_record(collection, by_id[i].payload or {}, None, own_vectors(by_id[i].vector)) for i in ids if i in by_id
        ]

    async def scan(
        self, collection: str, namespace: str, filter: Node | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[MemoryRecord]:
        await self._ready()
        condition = self._filter(namespace, filter)
        async with self._translating():
            qualified = await self._existing(collection)
            if qualified is None:
                return []
            # Qdrant pages by point id (a hash of the memory id), not by memory id, so every page
            # is read and sorted here.
            records = [to_record(collection, r.payload or {}) async for r in self._scroll(qualified, condition, True)]
        records.sort(key=lambda r: r.id)
        return records[offset:] if limit is None else records[offset : offset + limit]

    async def count(self, collection: str, namespace: str | None = None, filter: Node | None = None) -> int:
        await self._ready()
        condition = self._filter(namespace, filter)
        async with self._translating():
            qualified = await self._existing(collection)
            if qualified is None:
                return 0
            result = await self.client.count(qualified, count_filter=condition, exact=True)
        return result.count

    async def entries(self, collection: str) -> list[Entry]:
        await self._ready()
        fields = models.PayloadSelectorInclude(include=[NAMESPACE, MEMORY_ID, VERSION])
        async with self._translating():
            qualified = await self._existing(collection)
            if qualified is None:
                return []
            found = [
                Entry(r.payload[NAMESPACE], r.payload[MEMORY_ID], int(r.payload[VERSION]))
                async for r in self._scroll(qualified, live_only(None), fields)
                if r.payload
            ]
        return sorted(found, key=lambda e: (e.namespace, e.memory_id))

    async def _scroll(
        self, qualified: str, condition: models.Filter | None, payload: bool | models.PayloadSelectorInclude
    ) -> AsyncIterator[models.Record]:
        """Every point matching ``condition``, a page at a time."""
        next_offset: Any = None
        while True:
            page, next_offset = await self.client.scroll(
                qualified, scroll_filter=condition, limit=1000, offset=next_offset, with_payload=payload
            )
            for record in page:
                yield record
            if next_offset is None:
                return

    # -- generations -----------------------------------------------------------------------------

    async def fresh(self, *, events: int = 0) -> QdrantProjection:
        await self._ready()
        # Shares the client without owning it: closing either projection must not cut the other off.
        # Leased at open, before any of its collections exists: no collector can take it meanwhile.
        projection = QdrantProjection(
            self.client, self.prefix, generation=new_generation(), lease_seconds=self.meta.lease_seconds
        )
        projection._exclusive = True
        await projection.open()
        return projection

    async def promote(self, replaced: Projection) -> None:
        """Point every process at this generation, and drop ``replaced`` once no process reads it.

        Other processes still serving ``replaced`` hold leases on it: it stays until the last of
        them has followed the pointer (or its lease expired), and whichever process then opens,
        follows or promotes collects it (:meth:`QdrantMeta.collect`)."""
        await self._ready()
        self._exclusive = False  # from now on every process may write it
        async with self._translating():
            await self.meta.point_to(self.generation or "")
        if isinstance(replaced, QdrantProjection) and replaced.client is self.client and replaced.owns_client:
            # The replaced projection is about to be closed; its client lives on in this one.
            replaced.owns_client, self.owns_client = False, True
        if isinstance(replaced, QdrantProjection) and replaced.client is self.client:
            await replaced.close()  # releases its lease
            await self.collect()
        else:
            await replaced.drop()

    async def take_over(self, replaced: Projection) -> None:
        if isinstance(replaced, QdrantProjection) and replaced.client is self.client and replaced.owns_client:
            replaced.owns_client, self.owns_client = False, True  # the client lives on in this one
        await replaced.close()  # releases its lease: the last process to leave it lets it go
        await self.collect()

    async def collect(self) -> list[str]:
        """Drop the generations no process can still be reading (see :mod:`.qdrant_meta`)."""
        await self._ready()
        async with self._translating():
            dropped = await self.meta.collect(keep=[self.generation or ""])
        if dropped:
            logger.info("dropped index generations no process uses any more: %s", ", ".join(dropped))
        return dropped

    async def drop(self) -> None:
        # Deletes this generation's collections and state but keeps the client open: a projection
        # made by fresh() shares it, and close() is what releases it.
        await self._ready()
        async with self._translating():
            for qualified in (await self._discover()).values():
                await self.client.delete_collection(qualified)
            await self.meta.forget(self.generation or "")
            await self.meta.release(self.holder, self.generation or "")
        self._collections.clear()

    async def close(self) -> None:
        if self._opened and self.generation is not None:
            try:
                await self.meta.release(self.holder, self.generation)
            except Exception as exc:  # a server that is down: the lease just expires
                logger.warning("could not release the lease on index generation %s: %s", self.generation, exc)
        self._collections.clear()
        self._opened = False
        if self.owns_client:
            self.owns_client = False  # closing twice is a no-op
            await self.client.close()


def _server_vectors(event: MemoryUpsertedEvent) -> dict[str, Any]:
    indices, values = document_terms(event.data.text)
    return {**to_vectors(event), SPARSE: models.SparseVector(indices=indices, values=values)}


def _release(version: str) -> tuple[int, int]:
    """``"1.19.0"`` -> ``(1, 19)``. A version of another shape is taken as new enough: a server
    without a condition then answers 400 (IndexUnavailableError), never a different result."""
    found = re.match(r"v?(\d+)\.(\d+)", version or "")
    return (int(found[1]), int(found[2])) if found else (10**6, 0)
