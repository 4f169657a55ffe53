"""Memory: the one object users hold. Validates, builds events, appends them, keeps the index current.

Every method has an async twin with the same name prefixed by ``a`` (``upsert``/``aupsert``,
``search``/``asearch``, ...). Both run on the memory's engine thread, so they are safe from any
thread and from inside a running event loop.

Example::

    from omega_memory_plugin import Memory

    with Memory("./.omega-memory", embedder="hash:384") as memory:
        memory.upsert("Ada prefers green tea", id="pref-1", metadata={"topic": "drinks"}, namespace="ada")
        hits = memory.search(text="what does Ada drink?", namespace="ada", filter={"topic": "drinks"})
        print(hits[0].id, hits[0].text, hits[0].score)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import importlib
import logging
import math
import sys
import time
import weakref
from collections.abc import Coroutine, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from .dedup import content_id
from .embeddings import Embedder
from .engine import Engine
from .errors import (
    AppendVetoedError,
    ConcurrencyError,
    EmbeddingModelError,
    IndexUnavailableError,
    InvalidInputError,
    InvalidVectorError,
    MemoryClosedError,
    MissingExtraError,
    ProjectorModeError,
    ReadOnlyMemoryError,
    UnsupportedBackendError,
)
from .events import (
    REEMBED_STREAM,
    CollectionCreated,
    CollectionCreatedEvent,
    Distance,
    Event,
    MemoryDeleted,
    MemoryDeletedEvent,
    MemoryReembeddedEvent,
    MemoryUpserted,
    MemoryUpsertedEvent,
    NamespaceErased,
    NamespaceErasedEvent,
    StreamKey,
    pack_vector,
)
from .expiry import expired, expiry, unexpired
from .external import catch_up_with_worker, check_shared, observe, refresh
from .filters import parse_filter
from .forgetting import ForgetReport, forget
from .group_commit import CommitGroups, Waiting
from .idempotency import check_key, check_recorded, event_id, replayed
from .idempotency import memory_id as keyed_memory_id
from .importing import ImportReport, commits, pending_event
from .index.base import Fusion, Projection, SearchMode, SearchQuery
from .index.bm25 import query_terms
from .index.memory import InMemoryProjection
from .lineage import Explanation, explain
from .log.base import EventLog, as_utc
from .log.sealed import SealedLog, portable
from .log.versioning import memory_history
from .plugins import Plugins, kind, plugin_manager
from .projector import IndexNeedsRebuild, Projector
from .records import MemoryRecord
from .reembedding import ReembedReport, reembed
from .retention import CompactReport, compact
from .settings import Settings
from .spaces import CollectionState, advance, space_name
from .staging import (
    DEFAULT_VECTOR,
    StagedWrite,
    VectorsInput,
    check_dimensions,
    check_model,
    embed_missing,
    named_vectors,
    stage_delete,
    stage_erase,
    stage_upsert,
    vector_sizes,
)
from .transaction import BufferedWriter, Transaction
from .twins import twins
from .validation import (
    check_collection,
    check_count,
    check_fusion_weights,
    check_id,
    check_namespace,
    check_string,
    check_subject,
    check_vector,
    check_vector_sizes,
)
from .verification import VerifyReport, verify

T = TypeVar("T")
logger = logging.getLogger(__name__)
#: The built-in plugin that OMEGA_METRICS=true registers (needs the 'metrics' extra).
METRICS_PLUGIN = "omega_memory_plugin.serve.metrics"
_OPEN: weakref.WeakSet[Memory] = weakref.WeakSet()
# Events whose commit never shares a group commit: what they do depends on what came before.
_COMMITTED_ALONE = frozenset({"collection.created", "namespace.erased"})


@atexit.register
def _close_forgotten() -> None:
    # A script that never calls close() still gets its index flushed and checkpointed.
    for memory in list(_OPEN):
        memory.close()


class Memory:
    """An event-sourced memory: a log (the truth) and an index (rebuildable from it).

    Args:
        path: directory for the embedded defaults (SQLite log + Qdrant Edge index);
            default ``OMEGA_PATH`` or ``./.omega-memory``.
        log_url: event log URL (``sqlite:///file.db``, ``memory://``); overrides ``path``.
        index_url: index URL (``edge:///dir``, ``http://qdrant:6333``, ``qdrant-local://:memory:``,
            ``memory://``); overrides ``path``.
        embedder: used when text comes without vectors: a name such as ``"hash:384"`` or an
            object with ``name``, ``dimension`` and ``embed(texts)``.
        namespace: the tenant scope used when a call names none (default ``"default"``).
        collection: the collection used when a call names none (default ``"default"``).
        settings: a full :class:`Settings`; other arguments override its fields.
        log: an EventLog object to use instead of ``log_url``, e.g.
            ``MongoEventLog(my_async_mongo_client["omega"])`` to share an application's client.
        index: a Projection object to use instead of ``index_url``.
        read_only: open without the index: the log is replayed into an in-memory index (kept
            current with the log on every read) and writes raise ``ReadOnlyMemoryError``. This is
            how to read an embedded directory that another process has open for writing.
        projector: ``"inline"`` (default: this process applies the log to the index after each
            write and before each read) or ``"external"`` (a worker process,
            ``omega-memory project --follow``, applies it; this process writes to the log and
            waits up to ``projector_wait_seconds`` for the worker's checkpoint to pass its last
            write, see :mod:`omega_memory_plugin.external`). External needs a Qdrant server index
            and raises :class:`~omega_memory_plugin.errors.ProjectorModeError` with an embedded
            one. A ``read_only`` Memory ignores it (it applies only to its own in-memory index).

    If the index is down at open (a Qdrant server that does not answer), the Memory opens anyway:
    writes land in the log, reads raise :class:`~omega_memory_plugin.errors.IndexUnavailableError`
    until the index answers, and then it catches up. An index that lost its data or was built by
    an incompatible version is rebuilt from the log while opening (with a progress bar when long).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        log_url: str | None = None,
        index_url: str | None = None,
        embedder: str | Embedder | None = None,
        namespace: str | None = None,
        collection: str | None = None,
        settings: Settings | None = None,
        log: EventLog | None = None,
        index: Projection | None = None,
        read_only: bool = False,
        projector: Literal["inline", "external"] | None = None,
    ) -> None:
        overrides: dict[str, Any] = {
            k: v
            for k, v in {
                "path": path,
                "log_url": log_url,
                "index_url": index_url,
                "namespace": namespace,
                "collection": collection,
                "projector": projector,
            }.items()
            if v is not None
        }
        # Re-validate rather than model_copy, so that overrides are checked and coerced (str -> Path).
        settings = type(settings)(**{**settings.model_dump(), **overrides}) if settings else Settings(**overrides)
        self.settings = settings
        extra = ",".join(filter(None, [settings.plugins, METRICS_PLUGIN if settings.metrics else None]))
        self.plugins = Plugins(plugin_manager(extra, settings.load_entrypoints), settings)
        chosen = embedder if embedder is not None else settings.embedder
        self.embedder: Embedder | None = self.plugins.embedder(chosen) if isinstance(chosen, str) else chosen
        self._embedder_given = self.embedder is not None  # else each collection's recorded model decides
        self.namespace = check_namespace(settings.namespace)
        self.collection = check_collection(settings.collection)
        self._read_only: str | None = None
        if read_only:
            self._read_only = (
                "this Memory was opened read-only (read_only=True): it replays the log into memory and never "
                "opens the index; open it without read_only (in the process that owns the directory) to write"
            )
        self._follow_log = True  # False for a point-in-time view, which stays where it was built
        # External projector mode: a worker applies, this process only waits for its checkpoint.
        self._external = settings.projector == "external" and not read_only
        self._last_write = 0  # the last log position this process wrote (what its reads wait for)
        self._waited_in_vain = 0  # the last of those the worker did not reach in time
        self._owns_engine = True
        self._at: datetime | None = None  # a point-in-time view's time (reads decide expiry at it)
        self._indexing: asyncio.Task[None] | None = None  # a copy building wanted payload indexes
        self._closed = False
        # Each collection's state (spaces, the one served, its stream version), as of the log
        # position this Memory reads at; kept current by its own commits and by what its projector applies.
        self._states: dict[str, CollectionState] = {}
        self._engine = Engine()
        self._groups = CommitGroups(self._commit_group)
        # recorded model name -> its embedder: the one given, the ones re-embeddings used, and
        # those a plugin provides for a model a collection records (None if none does)
        self._embedders: dict[str, Embedder | None] = {}
        if self.embedder is not None:
            self._embedders[self.embedder.name] = self.embedder
        try:
            self._engine.run(self._open(log, index))
        except BaseException:
            self._engine.stop()
            raise
        try:
            self._adopt_embedder()
        except BaseException:
            self.close()  # opened, but not with the embedder asked for: close it as it was
            raise
        _OPEN.add(self)
        if settings.metrics:
            importlib.import_module(METRICS_PLUGIN).watch(self)

    def _adopt_embedder(self) -> None:
        """Match the embedder with the model the default collection records: an explicit one must
        be that model; without one, the recorded model's embedder is used if a plugin provides it
        (a memory written with ``embedder="hash:384"`` searches by text again when reopened)."""
        schema = self._schema(self.collection)
        if schema is None or schema.embedding_model is None:
            return
        if self.embedder is not None:
            check_model(schema, self.embedder.name, self.collection, "the embedder's vectors")
        else:
            with contextlib.suppress(MissingExtraError):  # opening to read needs no embedder: said when used
                self.embedder = self.embedder_for(self.collection)

    def embedder_for(self, collection: str | None = None) -> Embedder | None:
        """The embedder that embeds text for ``collection`` (default: the Memory's): the one of
        the model the collection records (the Memory's own if it is that model, or the one a
        re-embedding used, or one an installed plugin provides: ``hash:<dim>`` is built in), else
        the Memory's (a new collection is embedded as the default one is); ``None`` if none is known.

        Example: ``Memory("./m").embedder_for("docs")`` is ``HashEmbedder(384)`` for a collection
        first written by ``Memory("./m", embedder="hash:384")``.
        """
        schema = self._schema(collection or self.collection)
        model = schema.embedding_model if schema is not None else None
        if model is None:
            return self.embedder
        if model not in self._embedders:
            try:
                self._embedders[model] = self.plugins.embedder(model)
            except MissingExtraError:
                if self._embedder_given:
                    return self.embedder  # its vectors are refused, saying which model the collection holds
                raise  # the model is known, its package is not installed: say which extra
            except (UnsupportedBackendError, InvalidInputError):
                self._embedders[model] = None  # e.g. vectors computed outside: the caller passes them
        return self._embedders[model] or (self.embedder if self._embedder_given else None)

    def _schema(self, collection: str) -> CollectionCreated | None:
        """Vectors, distance and model of the embedding space ``collection`` is served from."""
        state = self._states.get(collection)
        return state.schema if state is not None else None

    def _observe(self, events: Sequence[Event]) -> None:
        """Learn collection changes (creations, re-embedding spaces, switches) from events this
        Memory appended or applied, whichever process wrote them."""
        for event in events:
            advance(self._states, event)

    def _physical(self, collection: str) -> str:
        """The index collection that serves ``collection``'s reads now."""
        state = self._states.get(collection)
        return space_name(collection, state.serving if state is not None else 0)

    async def _open(self, log: EventLog | None, index: Projection | None) -> None:
        self._index_lock = asyncio.Lock()
        self._rebuild_lock = asyncio.Lock()
        raw = log or self.plugins.event_log(self.settings.resolved_log_url())
        # Every event in and out passes here: content is sealed under its subject's key (log/sealed.py).
        self.log: SealedLog = (
            raw
            if isinstance(raw, SealedLog)
            else SealedLog(raw, self.plugins.key_store(raw), encrypt=self.settings.encryption)
        )
        try:
            await self.log.open()
            await self._load_states()
            if self._read_only:
                self.projection: Projection = InMemoryProjection()
                self.projector = self._projector(self.projection, persist=False)
            else:
                if self._external:  # before the index opens: an embedded one would take its lock
                    check_shared(None if index else self.settings.resolved_index_url(), index)
                self.projection = index or self.plugins.projection(self.settings.resolved_index_url())
                # This process then owns the index and can swap a copy in (see _index_wanted).
                self.projection.index_on_copies = self.projection.blocking and not self._external
                self.projector = self._projector(self.projection)
            # Every call's work is then in this process: a sync call may run it in its own thread.
            self._engine.lendable = self.log.local and self.projection.blocking
        except BaseException:
            await self.log.close()  # a Memory that failed to open must not hold its files
            raise
        try:
            await self._start_index()
        except BaseException:
            await self.projection.close()
            await self.log.close()
            raise

    def _projector(self, projection: Projection, *, persist: bool | None = None, offload: bool = False) -> Projector:
        # In external mode the worker owns the checkpoints: this process must never write one.
        persist = not self._external if persist is None else persist
        s = self.settings
        every, seconds = s.checkpoint_every, s.checkpoint_seconds
        if offload:
            # A rebuild saves its checkpoint once, at the end: a half-built generation is thrown
            # away anyway. (It may still flush along the way, in small steps: rebuild_flush_every.)
            every, seconds = sys.maxsize, math.inf
        projector = Projector(self.log, projection, self.plugins, every, seconds, persist=persist, offload=offload)
        projector.observe = self._observe
        return projector

    async def _start_index(self) -> None:
        """Open the index and resume it; rebuild it if it cannot be resumed. An index that does not
        answer leaves the Memory degraded (writes go on in the log), not closed."""
        async with self._index_lock:
            if self.projector.started:
                return
            try:
                await self.projection.open()
                try:
                    if await self._holds_nothing_of_the_log():
                        # Built as a rebuild is (in a child process if large, then optimized),
                        # rather than caught up from 0 in place and left unoptimized.
                        logger.info("building the index %s from the log", self.projection.name)
                        await self._replay_into_fresh(progress=None, offload=False)
                    else:
                        await self._resume(self.projector)
                except IndexNeedsRebuild as why:
                    logger.warning("rebuilding the index %s from the log: %s", self.projection.name, why)
                    await self._replay_into_fresh(progress=None, offload=False)
                self.projector.error = None
            except IndexUnavailableError as exc:
                self.projector.error = exc
                logger.warning("the index is unavailable; writes go to the log and it catches up later: %s", exc)

    async def _holds_nothing_of_the_log(self) -> bool:
        """Whether an embedded index that this process applies to is new (no state, no checkpoint:
        its directory was deleted, or it is a first open over a log made elsewhere) while the log
        holds events."""
        if self._external or not self.projection.blocking or await self.projection.state() is not None:
            return False
        checkpoint = await self.log.get_checkpoint(self.projection.name)
        return checkpoint == 0 and await self.log.last_position() > 0

    async def _resume(self, projector: Projector) -> None:
        """Start a projector on an opened index: inline, resume it and catch up with the log;
        external, only learn the worker's checkpoint (catching up is the worker's job, and an
        index that needs a rebuild is rebuilt by the worker too)."""
        if self._external:
            await observe(projector)
        else:
            await projector.start(progress=None)

    async def _await_worker(self) -> None:
        """External mode, read-your-writes: wait (at most ``projector_wait_seconds``) until the
        worker's checkpoint reaches this process's last write. A position already waited for in
        vain is only looked at again, not waited for: a stopped worker then costs each write one
        bounded wait (and one warning), not every read after it as well."""
        patient = self._last_write > self._waited_in_vain
        timeout = self.settings.projector_wait_seconds if patient else 0.0

        def current() -> Projector:  # replaced when a promoted generation is followed
            return self.projector

        if not await catch_up_with_worker(current, self._follow_generation, self._last_write, timeout, warn=patient):
            self._waited_in_vain = self._last_write

    def _check_applies(self, what: str) -> None:
        """Refuse, in external mode, a call that would apply events to the shared index from this
        process: the worker is the one writer, so the index's checkpoints keep one meaning."""
        if self._external:
            raise ProjectorModeError(
                f"{what} applies events to the index, and this Memory leaves that to the projector worker "
                f'(projector="external"): run it where projector="inline", e.g. `omega-memory replay` / '
                f"`omega-memory verify --repair` (the command line applies inline) while the worker runs"
            )

    def _ready_engine(self) -> Engine:
        if self._closed:
            raise MemoryClosedError("this Memory is closed; open a new one")
        return self._engine

    def _scope(self, namespace: str | None, collection: str | None) -> tuple[str, str]:
        return (
            self.namespace if namespace is None else check_namespace(namespace),
            self.collection if collection is None else check_collection(collection),
        )

    # -- writing -----------------------------------------------------------------------------

    def _stage_upsert(
        self,
        text: str,
        *,
        id: str | None = None,
        vectors: VectorsInput | None = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        collection: str | None = None,
        expected_version: int | None = None,
        embedding_model: str | None = None,
        ttl: float | timedelta | None = None,
        expires_at: datetime | None = None,
        subject: str | None = None,
        idempotency_key: str | None = None,
        index: int = 0,
    ) -> StagedWrite:
        """Stage one upsert. Without an ``id``, a dedup collection derives it from the text, and
        a keyed write (the ``index``-th of its commit) from the key, so its retry names the same
        memory; else it is random."""
        namespace, collection = self._scope(namespace, collection)
        write = stage_upsert(
            text,
            memory_id=id,
            vectors=vectors,
            metadata=metadata,
            namespace=namespace,
            collection=collection,
            expected_version=expected_version,
            max_text_bytes=self.settings.max_text_bytes,
            embedding_model=embedding_model,
            expires_at=expiry(ttl, expires_at, datetime.now(UTC)),
            subject=subject,
        )
        if write.generated_id and self._dedup(collection):
            write.memory_id = content_id(namespace, write.text)
        elif write.generated_id and idempotency_key is not None:
            write.memory_id = keyed_memory_id(collection, namespace, idempotency_key, index)
        return write

    def _upsert(
        self,
        text: str,
        *,
        id: str | None = None,
        vectors: VectorsInput | None = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        collection: str | None = None,
        expected_version: int | None = None,
        embedding_model: str | None = None,
        idempotency_key: str | None = None,
        ttl: float | timedelta | None = None,
        expires_at: datetime | None = None,
        subject: str | None = None,
    ) -> Coroutine[Any, Any, str]:
        """Write one memory and return its id; the index reflects it when this returns.

        ``vectors`` is a list of floats (the default vector ``"dense"``) or a dict of named
        vectors; without it the text is embedded by the memory's embedder. ``id`` is any
        non-empty string (a new one is generated if omitted); writing an existing id replaces
        that memory. ``expected_version`` (0 for "must not exist") makes the write fail with
        :class:`~omega_memory_plugin.errors.ConcurrencyError` if someone else wrote it first.
        ``embedding_model`` names the model that made ``vectors``; it is recorded in the event so
        a replay knows which memories a new model must re-embed. ``idempotency_key`` makes a
        retry safe: the same key and content again writes nothing and returns the first result
        (the same id, also when none was given); the same key with other content raises
        :class:`~omega_memory_plugin.errors.IdempotencyKeyError` (see :mod:`.idempotency`).
        ``ttl`` (seconds or a ``timedelta``) or ``expires_at`` (a datetime) make the memory leave
        every read at that time, decided from the log (:mod:`.expiry`). ``subject`` names whose
        data key seals the content in the log (default: the namespace), for :meth:`forget`: e.g. a
        user id whose memories span namespaces.

        Example: ``memory.upsert("likes tea", id="p1", metadata={"topic": "drinks"})``
        """
        key = check_key(idempotency_key)
        write = self._stage_upsert(
            text,
            id=id,
            vectors=vectors,
            metadata=metadata,
            namespace=namespace,
            collection=collection,
            expected_version=expected_version,
            embedding_model=embedding_model,
            ttl=ttl,
            expires_at=expires_at,
            subject=subject,
            idempotency_key=key,
        )
        embed_missing([write], self.embedder_for(write.collection))

        async def run() -> str:
            await self._commit([write], key)
            return write.memory_id

        return run()

    upsert, aupsert = twins(_upsert)

    def _delete(
        self,
        ids: str | Sequence[str],
        *,
        namespace: str | None = None,
        collection: str | None = None,
        idempotency_key: str | None = None,
    ) -> Coroutine[Any, Any, int]:
        """Delete memories by id; return how many existed. Missing ids are ignored. With an
        ``idempotency_key``, a retry deletes nothing more and returns the first answer."""
        namespace, collection = self._scope(namespace, collection)
        writes = [stage_delete(i, namespace, collection) for i in ([ids] if isinstance(ids, str) else ids)]
        key = check_key(idempotency_key)

        async def run() -> int:
            return len(await self._commit(writes, key))

        return run()

    delete, adelete = twins(_delete)

    def _erase_namespace(
        self, namespace: str, *, collection: str | None = None, idempotency_key: str | None = None
    ) -> Coroutine[Any, Any, int]:
        """Erase every memory of ``namespace`` in the collection (one event). Returns 1 if erased.
        With an ``idempotency_key``, a retry erases nothing more and returns the first answer."""
        namespace, collection = self._scope(namespace, collection)
        write = stage_erase(namespace, collection)
        key = check_key(idempotency_key)

        async def run() -> int:
            return len(await self._commit([write], key))

        return run()

    erase_namespace, aerase_namespace = twins(_erase_namespace)

    def _forget(self, subject: str, *, compact_index: bool = True) -> Coroutine[Any, Any, ForgetReport]:
        """Erase a subject for good, from the index *and* the log (crypto-shredding, :mod:`.forgetting`):
        its memories are deleted, the data key sealing their content in the log is destroyed, and
        an index that keeps deleted points in its files is rebuilt without them. A subject is a
        namespace, or what writes named with ``upsert(..., subject=...)``. Afterwards no read,
        replay, rebuild or ``as_of`` view (at any position) shows the content again, and no file of
        the memory holds it; what was written stays visible as a fact (ids, versions, times).
        Pass ``compact_index=False`` to skip the rebuild (then ``rebuild()`` later).

        Example: ``memory.forget("user-42")`` returns ``ForgetReport(memories=12, keys=1, ...)``
        """
        checked = check_subject(subject)

        async def run() -> ForgetReport:
            self._check_writable()
            return await forget(self, checked, compact_index=compact_index)

        return run()

    forget, aforget = twins(_forget)

    def _compact(self, *, grace: timedelta = timedelta(days=30)) -> Coroutine[Any, Any, CompactReport]:
        """Retention (:mod:`.retention`): drop from the log's storage the content nothing may read
        any more, once ``grace`` has passed: what forgotten subjects' keys sealed, and memories that
        expired (a memory still alive whose current version expired is deleted first, as an
        event). The log's structure stays; replays of everything else are unchanged.

        Example: ``memory.compact(grace=timedelta(days=7))`` returns ``CompactReport(expired=3, dropped=41, ...)``
        """
        if not isinstance(grace, timedelta) or grace < timedelta(0):
            raise InvalidInputError(f"grace is a timedelta of 0 or more, got {grace!r}")

        async def run() -> CompactReport:
            self._check_writable()
            return await compact(self, grace, datetime.now(UTC))

        return run()

    compact, acompact = twins(_compact)

    def _create_collection(
        self,
        name: str,
        vectors: int | Mapping[str, int],
        distance: Distance | str | None = None,
        embedding_model: str | None = None,
        *,
        dedup: bool = False,
    ) -> Coroutine[Any, Any, bool]:
        """Create a collection with fixed vector dimensions; return False if it already exists alike.

        ``embedding_model`` names the model whose vectors it will hold: vectors of another model
        are then refused, and a Memory opened without an embedder finds it. Collections are also
        created implicitly by their first write, sized from its vectors (and recording the model
        of its embedder, or the ``embedding_model`` it names). ``dedup=True``: a memory written
        without an id gets one derived from its normalised text, so writers of the same fact,
        concurrent or not, converge on one memory (:mod:`.dedup`).
        """
        sizes = check_vector_sizes({DEFAULT_VECTOR: vectors} if isinstance(vectors, int) else dict(vectors))
        if embedding_model is not None:
            check_string(embedding_model, "embedding_model")
        if not isinstance(dedup, bool):
            raise InvalidInputError(f"dedup is True or False, got {dedup!r}")
        schema = CollectionCreated(
            vectors=sizes,
            distance=Distance(distance or self.settings.distance),
            embedding_model=embedding_model,
            dedup=dedup,
        )
        check_collection(name)

        async def run() -> bool:
            self._check_writable()
            existing = self._schema(name)
            if existing is not None:
                # Alike: same vectors and distance, and the same model if this call names one.
                named = schema.embedding_model is None or schema.embedding_model == existing.embedding_model
                deduped = self._dedup(name)
                if (existing.vectors, existing.distance, deduped) != (
                    schema.vectors,
                    schema.distance,
                    dedup,
                ) or not named:
                    raise InvalidInputError(f"collection {name!r} already exists as {existing!r}, not {schema!r}")
                return False
            event = CollectionCreatedEvent(collection=name, data=schema)
            await self._append([event], {event.stream: 0})
            return True

        return run()

    create_collection, acreate_collection = twins(_create_collection)

    def _dedup(self, collection: str) -> bool:
        """Whether the collection derives ids from content (recorded when it was created)."""
        state = self._states.get(collection)
        return state is not None and state.spaces[0].dedup

    def collections(self) -> dict[str, CollectionCreated]:
        """Every collection and its vectors (name -> dimension) and distance."""
        return {name: state.schema for name, state in self._states.items()}

    def collection_states(self) -> dict[str, CollectionState]:
        """Every collection's embedding spaces, the one served, and the model of each
        (:mod:`omega_memory_plugin.spaces`). A collection never re-embedded has one space, 0."""
        return dict(self._states)

    def transaction(self, *, idempotency_key: str | None = None) -> Transaction:
        """Stage many writes and commit them as one atomic append (``with`` or ``async with``).

        Example::

            with memory.transaction() as tx:
                tx.upsert("first", id="a", vectors=[...])
                tx.delete("old")
            # committed here; nothing is written if the block raises

        With ``idempotency_key``, committing the same writes again (a retry) writes nothing and
        ``tx.events`` are the first commit's; other writes under the key raise
        :class:`~omega_memory_plugin.errors.IdempotencyKeyError`.
        """
        return Transaction(self, check_key(idempotency_key))

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work``, a coroutine that awaits this Memory's async methods, on the Memory's
        engine and return its result: how an adapter writes an operation once (async) and offers
        its sync twin, with one thread hop for the whole operation.

        Example::

            async def copy(src: str, dst: str) -> None:
                for record in await memory.aget([src]):
                    await memory.aupsert(record.text, id=dst, metadata=record.metadata)

            memory.run(copy("a", "b"))
        """
        return self._ready_engine().run(work)

    async def arun(self, work: Coroutine[Any, Any, T]) -> T:
        """The async twin of :meth:`run`: await ``work`` on the Memory's engine from any event loop."""
        return await self._ready_engine().arun(work)

    def writer(self, batch_size: int = 1000, flush_seconds: float = 1.0) -> BufferedWriter:
        """A buffered writer for bulk ingestion: commits every ``batch_size`` writes or
        ``flush_seconds``, whichever comes first, and on close."""
        return BufferedWriter(self, batch_size=batch_size, flush_seconds=flush_seconds)

    def _check_writable(self) -> None:
        if self._read_only:
            raise ReadOnlyMemoryError(self._read_only)

    async def _commit(self, writes: Sequence[StagedWrite], idempotency_key: str | None = None) -> list[Event]:
        """Turn staged writes into events and append them as one commit (engine thread); return
        the events recorded. Commits that arrive while another is written share the next one
        (:mod:`.group_commit`); a keyed one is committed alone, since its retry is found by
        what it alone recorded (:mod:`.idempotency`)."""
        self._check_writable()
        if idempotency_key is None and writes:
            return await self._groups.submit(writes)
        return await self._commit_alone(writes, idempotency_key)

    async def _commit_alone(self, writes: Sequence[StagedWrite], idempotency_key: str | None = None) -> list[Event]:
        """One caller's writes as one commit. A keyed commit that happened already returns its
        stored events and writes nothing."""
        self._check_writable()
        if any(w.collection not in self._states for w in writes):
            await self._load_states()  # another process may have created it since this one opened
        if idempotency_key is not None:
            earlier = await replayed(writes, idempotency_key, self.log.stream)
            if earlier is not None:
                return earlier
        events, expected = await self._build_events(writes, idempotency_key)
        if not events:
            return []
        try:
            recorded = await self._append(events, expected)
        except ConcurrencyError as exc:
            if exc.memory_id or exc.namespace:
                raise
            # Another process created a collection this commit meant to create, or switched a
            # collection it writes to another embedding model: adopt the collection as it is now
            # and build the commit again (texts this Memory embedded are embedded again with the
            # model the collection holds now; vectors given by the caller are checked against it).
            await self._load_states()
            for collection in {w.collection for w in writes if w.embedded}:
                schema = self._schema(collection)
                stale = [w for w in writes if w.embedded and w.collection == collection]
                if schema is not None and any(w.embedding_model != schema.embedding_model for w in stale):
                    for w in stale:
                        w.vectors, w.embedded = {}, False
                    embedder = self.embedder_for(collection)
                    await asyncio.to_thread(embed_missing, stale, embedder)
            events, expected = await self._build_events(writes, idempotency_key)
            recorded = await self._append(events, expected) if events else []
        if idempotency_key is not None:  # another process may have used the key at the same moment
            check_recorded(recorded, events, idempotency_key)
        return [e for e in recorded if e.type != "collection.created"]  # what the caller's writes did

    async def _commit_group(self, group: list[Waiting]) -> None:
        """Commit the writes of several callers as one commit and settle each caller with its own
        events or error.

        Only independent commits share it: a caller's commit that creates a collection, erases a
        namespace or touches a memory an earlier member touches is committed alone after it (its
        outcome depends on what the others did). A shared commit the log or a plugin refuses
        (a version conflict, a veto, too large) recorded nothing, so its members are then
        committed one by one, each for its own answer: one bad write never fails its neighbours.
        """
        if len(group) > 1:
            try:
                self._check_writable()
                if any(w.collection not in self._states for member in group for w in member.writes):
                    await self._load_states()
            except Exception as exc:
                for member in group:
                    member.settle(error=exc)
                return
            group = await self._commit_shared(group)
        for member in group:
            try:
                member.settle(await self._commit_alone(member.writes))
            except Exception as exc:
                member.settle(error=exc)

    async def _commit_shared(self, group: list[Waiting]) -> list[Waiting]:
        """The shared commit of :meth:`_commit_group`; returns the members left to commit alone."""
        shared: list[tuple[Waiting, list[Event]]] = []
        alone: list[Waiting] = []
        events: list[Event] = []
        expected: dict[StreamKey, int] = {}
        streams: set[StreamKey] = set()
        for member in group:
            try:
                built, wanted = await self._build_events(member.writes)
            except Exception as exc:
                member.settle(error=exc)
                continue
            touched = {e.stream for e in built}
            if (
                touched & streams
                or any(e.type in _COMMITTED_ALONE for e in built)
                or any(expected.get(key, version) != version for key, version in wanted.items())
            ):
                alone.append(member)
                continue
            streams |= touched
            expected.update(wanted)
            events += built
            shared.append((member, built))
        if not events:  # nothing to record (e.g. deletes in a collection that does not exist)
            for member, _ in shared:
                member.settle([])
            return alone
        try:
            recorded = await self._record(events, expected)
        except (ConcurrencyError, InvalidInputError, AppendVetoedError):
            return [member for member, _ in shared] + alone
        except Exception as exc:  # the log failed (disk, server): it fails every one alike
            for member, _ in shared:
                member.settle(error=exc)
            return alone
        try:
            await self._apply(recorded)
        except Exception as exc:
            for member, _ in shared:
                member.settle(error=exc)
            return alone
        by_id = {e.event_id: e for e in recorded}
        for member, built in shared:
            member.settle([by_id[e.event_id] for e in built if e.event_id in by_id])
        return alone

    async def _load_states(self) -> None:
        """Read every collection's state from the log as it is now (a point-in-time view keeps
        the states of its own position, learnt from the events it applied)."""
        if not self._follow_log:
            return
        created = await self.log.collections()
        keys = [(e.collection, "", "") for e in created]
        heads = await self.log.heads(keys) if keys else {}
        events: list[Event] = list(created)
        for key in keys:
            if heads[key].version > 1:  # re-embedded or switched since it was created
                events += (await self.log.stream(key))[1:]
        states = dict(self._states)
        for event in sorted(events, key=lambda e: e.position):
            advance(states, event)
        self._states = states

    async def _build_events(
        self, writes: Sequence[StagedWrite], idempotency_key: str | None = None
    ) -> tuple[list[Event], dict[StreamKey, int]]:
        events: list[Event] = []
        expected: dict[StreamKey, int] = {}
        schemas = {name: state.schema for name, state in self._states.items()}
        # Deletes of memories that are not alive and erases of empty namespaces are dropped by the
        # log (log/versioning.py decides, inside the commit), so they are built unconditionally.
        for n, w in enumerate(writes):
            key = (w.collection, w.namespace, w.memory_id)
            # A keyed commit's events have ids derived from the key: its retry is found by them.
            if w.kind == "upsert" and w.generated_id and self._dedup(w.collection):
                # Learnt to be a dedup collection only now (created by another process since staging).
                w.memory_id = content_id(w.namespace, w.text)
                key = (w.collection, w.namespace, w.memory_id)
            keyed: dict[str, Any] = {} if idempotency_key is None else {"event_id": event_id(w, idempotency_key, n)}
            if w.kind == "upsert":
                sizes = vector_sizes(w)
                schema = schemas.get(w.collection)
                if schema is None:
                    schema = schemas[w.collection] = CollectionCreated(
                        vectors=sizes, distance=self.settings.distance, embedding_model=w.embedding_model
                    )
                    created = CollectionCreatedEvent(collection=w.collection, data=schema)
                    events.append(created)
                    expected[created.stream] = 0
                check_dimensions(sizes, schema, w.collection, w.memory_id)
                check_model(schema, w.embedding_model, w.collection, f"memory {w.memory_id!r}'s vectors")
                state = self._states.get(w.collection)
                if state is not None:  # written to the space served now, as long as it is served
                    expected[(w.collection, "", "")] = state.version
                data = MemoryUpserted(
                    text=w.text,
                    vectors={name: pack_vector(v) for name, v in w.vectors.items()},
                    metadata=w.metadata,
                    embedding_model=w.embedding_model,
                    space=state.serving if state is not None else 0,
                    origin=w.origin,
                    expires_at=w.expires_at,
                    subject=w.subject,
                )
                events.append(
                    MemoryUpsertedEvent(
                        collection=w.collection, namespace=w.namespace, memory_id=w.memory_id, data=data, **keyed
                    )
                )
                if w.expected_version is not None:
                    expected[key] = w.expected_version
            elif w.kind == "delete":
                if w.collection in schemas:
                    events.append(
                        MemoryDeletedEvent(
                            collection=w.collection,
                            namespace=w.namespace,
                            memory_id=w.memory_id,
                            data=MemoryDeleted(origin=w.origin),
                            **keyed,
                        )
                    )
            elif w.collection in schemas:
                events.append(
                    NamespaceErasedEvent(
                        collection=w.collection,
                        namespace=w.namespace,
                        data=NamespaceErased(origin=w.origin),
                        **keyed,
                    )
                )
        return events, expected

    async def _append(self, events: Sequence[Event], expected: Mapping[StreamKey, int]) -> list[Event]:
        recorded = await self._record(events, expected)
        await self._apply(recorded)
        return recorded

    async def _record(self, events: Sequence[Event], expected: Mapping[StreamKey, int]) -> list[Event]:
        """Append ``events`` to the log (after the plugins' veto); durable when this returns."""
        events = self.plugins.before_append(events)
        started = time.perf_counter()
        recorded = await self.log.append(events, expected)
        self.plugins.timed("append", time.perf_counter() - started, log=kind(self.log.name))
        return recorded

    async def _apply(self, recorded: list[Event]) -> None:
        """What follows a recorded commit: observers, plugins, then the index (or the worker)."""
        self._observe(recorded)
        self.plugins.after_append(recorded)
        if self._external:
            self._last_write = max([self._last_write, *(e.position for e in recorded)])
            if self.projector.started:  # else the index is down: the next read retries it and then waits
                await self._await_worker()
        else:
            await self.projector.project(recorded)

    # -- reading -----------------------------------------------------------------------------

    async def _current_index(self) -> Projection:
        """The index, caught up with writes made by other processes since the last read (external
        projector mode: with this process's own writes, as far as the worker has applied them)."""
        if not self.projector.started:
            await self._engine.own_thread()  # a read that writes (see Engine.run's lend)
            await self._start_index()  # it was down at open (or since): try again now
        elif self._follow_log and not self._external:
            await self._follow_generation()
            head = await self._log_head()
            if head is not None and head > self.projector.position:
                await self._engine.own_thread()
                try:
                    await self.projector.wait_for(head)
                    self.projector.error = None
                except Exception as exc:
                    self.projector.error = exc
        if self._external and self.projector.started:
            # Follows a promoted generation without catching it up (the worker does), and waits
            # until the worker has applied this process's writes: read-your-writes.
            await self._await_worker()
            await self._refresh_states()
        if self.projector.error is not None:
            raise IndexUnavailableError(
                f"the index {self._index_name} is behind the log (at position {self.projector.position}) "
                f"and cannot catch up: {self.projector.error}. Writes are safe in the log; "
                "fix the index and it catches up on the next call, or call rebuild()"
            ) from self.projector.error
        return self.projection

    async def _follow_generation(self) -> None:
        """Move to the index generation another process promoted (a shared server index), once
        it is caught up with the log, so that no read is older than one this process made."""
        if self._rebuild_lock.locked():
            return  # this process is switching generations itself
        try:
            successor = await self.projection.follow()
        except Exception as exc:
            logger.warning("could not check for a newer index generation: %s", exc)
            return
        if successor is None:
            return
        await self._engine.own_thread()
        async with self._rebuild_lock:
            projector = self._projector(successor)
            try:
                await self._resume(projector)
            except Exception as exc:  # keep serving the generation this process has
                logger.warning("could not move to index %s yet: %s", successor.name, exc)
                await successor.close()
                return
            except BaseException:
                await successor.close()
                raise
            replaced, self.projection, self.projector = self.projection, successor, projector
            await successor.take_over(replaced)
            logger.info("now serving index %s (promoted by another process)", successor.name)

    async def _refresh_states(self) -> None:
        """External projector mode: this process applies nothing, so it learns a switch of
        embedding space made elsewhere by comparing the collections' stream versions."""
        keys = [(name, "", "") for name in self._states]
        if keys:
            heads = await self.log.heads(keys)
            if any(heads[k].version != self._states[k[0]].version for k in keys if k in heads):
                await self._load_states()

    async def _log_head(self) -> int | None:
        """The log's last position, or None if the log does not answer promptly: reads then go on
        from the index as it is (a log outage must not stop searches)."""
        try:
            if self.log.local:
                return await self.log.last_position()
            return await asyncio.wait_for(self.log.last_position(), self.settings.read_wait_seconds)
        except Exception:
            return None

    async def _lag_seconds(self) -> float | None:
        """How old the oldest event not yet in the index is."""
        try:
            async for batch in self.log.read(self.projector.position, until=self.projector.position + 1, batch=1):
                recorded = batch[0].recorded_at
                return (datetime.now(UTC) - recorded).total_seconds() if recorded else None
        except Exception:
            return None
        return None

    def _search(
        self,
        vector: VectorsInput | None = None,
        *,
        text: str | None = None,
        filter: Mapping[str, Any] | None = None,
        limit: int = 10,
        namespace: str | None = None,
        collection: str | None = None,
        score_threshold: float | None = None,
        with_vectors: bool = False,
        exact: bool = False,
        mode: SearchMode = "dense",
        fusion: Fusion = "rrf",
        candidates: int | tuple[int, int] | None = None,
        weights: tuple[float, float] | None = None,
        mmr: bool = False,
        diversity: float = 0.5,
        embedding_model: str | None = None,
    ) -> Coroutine[Any, Any, list[MemoryRecord]]:
        """Best memories for a query within one namespace, best first, with ``score`` set.

        ``mode`` chooses what ranks them:

        * ``"dense"`` (default): the nearest vectors to ``vector``, or to the embedding of ``text``.
          ``vector`` may be a list (the default vector ``"dense"``) or ``{"name": [...]}``.
        * ``"sparse"``: BM25 over the memories' texts, for ``text`` (exact words, names, numbers),
          with IDF computed over this namespace only. No embedder needed.
        * ``"hybrid"``: both, fused by ``fusion``: ``"rrf"`` (reciprocal rank, default) or
          ``"dbsf"`` (distribution-based score fusion). Each side brings its best ``candidates``
          (default 4 x ``limit``, at least 20; a pair ``(dense, sparse)`` to give each its own). ``vector`` is optional if an embedder embeds ``text``.
          ``weights=(dense, sparse)`` weighs the two sides of an RRF fusion (e.g. ``(3, 1)``: three
          dense hits count as much as one sparse hit; ``(1, 0)`` ranks by the dense side alone).

        ``mmr=True`` (dense mode) re-ranks the ``candidates`` nearest (default 4 x ``limit``, at
        least 20) by maximal marginal relevance, for results that do not repeat each other:
        ``diversity`` 0 keeps the nearest, 1 picks the most different (default 0.5). Scores stay
        the similarity to the query. Cosine and dot collections only.

        ``filter`` uses the metadata filter syntax of :mod:`omega_memory_plugin.filters`;
        ``score_threshold`` applies to the final (in hybrid mode, fused) score. ``embedding_model``
        names the model of a ``vector`` of your own: a collection that records another model
        raises :class:`~omega_memory_plugin.errors.EmbeddingModelError` (text is embedded by the
        collection's embedder, whose model is known).

        Example::

            memory.search(text="order ORD-2291", mode="hybrid", namespace="ada", limit=5)
        """
        namespace, collection = self._scope(namespace, collection)
        node = parse_filter(filter)
        check_count(limit, "limit")
        pools = None
        if candidates is not None:
            pair = candidates if isinstance(candidates, tuple) else (candidates, candidates)
            if len(pair) != 2:
                raise InvalidInputError(
                    f"candidates is a count, or a pair (dense, sparse) of counts, got {candidates!r}"
                )
            pools = (check_count(pair[0], "candidates"), check_count(pair[1], "candidates"))
        if mode not in ("dense", "sparse", "hybrid"):
            raise InvalidInputError(f"mode is 'dense', 'sparse' or 'hybrid', got {mode!r}")
        if fusion not in ("rrf", "dbsf"):
            raise InvalidInputError(f"fusion is 'rrf' or 'dbsf', got {fusion!r}")
        if weights is not None:
            weights = check_fusion_weights(weights, mode, fusion)
        if mmr:
            if mode != "dense":
                raise InvalidInputError("mmr=True re-ranks a dense search: use mode='dense'")
            if isinstance(diversity, bool) or not isinstance(diversity, int | float) or not 0 <= diversity <= 1:
                raise InvalidInputError(
                    f"diversity is a number from 0 (the nearest) to 1 (the most different), got {diversity!r}"
                )
        terms = None
        if mode != "dense":
            if text is None:
                raise InvalidInputError(f"a {mode} search matches words: pass text=...")
            terms = query_terms(check_string(text, "text"))
        using, array = DEFAULT_VECTOR, None
        embedded = False  # the query's vector was made here from text (so it can be made again)
        if embedding_model is not None:
            check_string(embedding_model, "embedding_model")
        if mode != "sparse":
            if vector is None:
                if text is None:
                    raise InvalidInputError("search needs a vector or a text to embed")
                embedder = self.embedder_for(collection)
                if embedder is None:
                    raise InvalidVectorError(
                        "search by text needs an embedder; pass vector=..., open with embedder=, or search "
                        "with mode='sparse'"
                    )
                vector, embedding_model, embedded = embedder.embed([text])[0], embedder.name, True
            named = named_vectors(vector)
            if len(named) != 1:
                raise InvalidVectorError(f"search takes one vector, got {sorted(named)}")
            ((using, array),) = named.items()

        async def run() -> list[MemoryRecord]:
            index = await self._current_index()
            if collection not in self._states:
                await self._load_states()  # another process may have created it since this one opened
            schema = self._schema(collection)
            if schema is None:
                return []  # nothing was ever written there
            nonlocal array, embedding_model
            if embedded and text is not None and schema.embedding_model not in (None, embedding_model):
                # Switched to another model (by another process) since the text was embedded.
                again = self.embedder_for(collection)
                if again is not None and again.name == schema.embedding_model:
                    array = check_vector(using, (await asyncio.to_thread(again.embed, [text]))[0], again.dimension)
                    embedding_model = again.name
            if array is not None:
                check_dimensions({using: int(array.size)}, schema, collection)
                check_model(schema, embedding_model, collection, "the query's vector")
            if mmr and schema.distance == Distance.EUCLID:
                raise InvalidInputError(
                    f"collection {collection!r} compares vectors by euclid distance; MMR weighs similarities "
                    "(cosine or dot collections): search without mmr, or re-rank the hits yourself"
                )
            if mode == "hybrid" and fusion == "dbsf" and schema.distance == Distance.EUCLID:
                # DBSF normalises each side's scores as "higher is better"; euclid scores are distances.
                raise InvalidInputError(
                    f"collection {collection!r} compares vectors by euclid distance, which DBSF would rank "
                    "upside down: use fusion='rrf' (ranks, not scores)"
                )
            query = SearchQuery(
                self._physical(collection),
                namespace,
                array,
                using,
                limit,
                unexpired(node, self._now()),
                score_threshold,
                with_vectors,
                exact,
                mode=mode,
                terms=terms,
                fusion=fusion,
                candidates=pools,
                weights=weights,
                diversity=float(diversity) if mmr else None,
            )
            started = time.perf_counter()
            hits = await index.search(query)
            self.plugins.timed("search", time.perf_counter() - started, index=kind(index.name), mode=mode)
            self._index_wanted()
            return self._logical(hits, collection)

        return run()

    search, asearch = twins(_search, lend=True)

    def _get(
        self,
        ids: str | Sequence[str],
        *,
        namespace: str | None = None,
        collection: str | None = None,
        with_vectors: bool = False,
        include_expired: bool = False,
    ) -> Coroutine[Any, Any, list[MemoryRecord]]:
        """The memories with these ids, in the order asked; missing ids are left out, and so are
        expired ones unless ``include_expired`` (for sweeps and audits)."""
        namespace, collection = self._scope(namespace, collection)
        wanted = [check_id(i) for i in ([ids] if isinstance(ids, str) else ids)]

        async def run() -> list[MemoryRecord]:
            index = await self._current_index()
            found = await index.get(self._physical(collection), namespace, wanted, with_vectors)
            if not include_expired:
                found = [r for r in found if not expired(r, self._now())]
            return self._logical(found, collection)

        return run()

    get, aget = twins(_get, lend=True)

    def _scan(
        self,
        *,
        filter: Mapping[str, Any] | None = None,
        limit: int | None = 100,
        offset: int = 0,
        namespace: str | None = None,
        collection: str | None = None,
        include_expired: bool = False,
    ) -> Coroutine[Any, Any, list[MemoryRecord]]:
        """Memories matching ``filter`` (no vector), ordered by id, ``limit`` from ``offset``
        (``limit=None``: all of them); expired ones too with ``include_expired`` (for sweeps and
        audits: ``record.expires_at`` says when each expires)."""
        namespace, collection = self._scope(namespace, collection)
        node = parse_filter(filter)
        if limit is not None:
            check_count(limit, "limit")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidInputError(f"offset must be an integer >= 0, got {offset!r}")

        async def run() -> list[MemoryRecord]:
            index = await self._current_index()
            found = await index.scan(
                self._physical(collection),
                namespace,
                node if include_expired else unexpired(node, self._now()),
                limit,
                offset,
            )
            self._index_wanted()
            return self._logical(found, collection)

        return run()

    scan, ascan = twins(_scan, lend=True)

    def _count(
        self,
        *,
        filter: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        collection: str | None = None,
        all_namespaces: bool = False,
    ) -> Coroutine[Any, Any, int]:
        """How many memories match, in one namespace (or in all, for administration)."""
        namespace, collection = self._scope(namespace, collection)
        node = parse_filter(filter)

        async def run() -> int:
            index = await self._current_index()
            scope = None if all_namespaces else namespace
            counted = await index.count(self._physical(collection), scope, unexpired(node, self._now()))
            self._index_wanted()
            return counted

        return run()

    count, acount = twins(_count, lend=True)

    def _history(
        self, memory_id: str, *, namespace: str | None = None, collection: str | None = None
    ) -> Coroutine[Any, Any, list[Event]]:
        """Every event that affected one memory, oldest first, read from the log: its own writes
        and deletes, and each ``namespace.erased`` that erased it while it was alive."""
        namespace, collection = self._scope(namespace, collection)
        key = (collection, namespace, check_id(memory_id))

        async def run() -> list[Event]:
            return memory_history(await self.log.stream(key), await self.log.stream((collection, namespace, "")))

        return run()

    history, ahistory = twins(_history)

    def _explain(
        self,
        memory: MemoryRecord | str,
        *,
        namespace: str | None = None,
        collection: str | None = None,
    ) -> Coroutine[Any, Any, Explanation]:
        """Why a memory is what it is: the events that produced its current state (the upsert of
        its version, and the re-embedding that made the vectors served, if any), each with its id,
        position, time, embedding model and the origin that wrote it (an adapter, the provider,
        the MCP server, the CLI, or ``"python"``); its whole history; and the ``as_of`` positions
        from which it shows. ``memory`` is a hit or record (from ``search``, ``get``, ``scan``),
        or an id (then ``namespace``/``collection`` as for ``history``; a deleted memory is
        explained too: its history says how it ended).

        Example::

            hit = memory.search(text="tea", namespace="ada")[0]
            lineage = memory.explain(hit)
            lineage.origin, lineage.visible_since, [e.type for e in lineage.events]
        """
        if isinstance(memory, MemoryRecord):
            memory_id, namespace, collection = memory.id, memory.namespace, memory.collection
        else:
            memory_id = memory
        namespace, collection = self._scope(namespace, collection)
        key = (collection, namespace, check_id(memory_id))

        async def run() -> Explanation:
            history = memory_history(await self.log.stream(key), await self.log.stream((collection, namespace, "")))
            state = self._states.get(collection)
            serving = state.serving if state is not None else 0
            current = history[-1] if history and history[-1].type == "memory.upserted" else None
            reembedded: list[MemoryReembeddedEvent] = []
            if isinstance(current, MemoryUpsertedEvent) and current.data.space != serving:
                # Only then were the vectors served made by a re-embedding: read its stream.
                reembedded = [
                    e
                    for e in await self.log.stream((collection, "", REEMBED_STREAM))
                    if isinstance(e, MemoryReembeddedEvent)
                ]
            return explain(memory_id, namespace, collection, history, reembedded, serving)

        return run()

    explain, aexplain = twins(_explain)

    def events(self, *, after: int = 0, until: int | datetime | None = None, batch: int = 1000) -> Iterator[Event]:
        """Every event of the log in position order, from position ``after + 1`` up to ``until``
        (a position or a time; default the end), read ``batch`` at a time, so that a log of any
        length streams in constant memory. For exports and audits; the index is not involved.
        Content comes opened (in clear), without the id of the key that sealed it, which means
        nothing outside this memory; forgotten content stays sealed (``data.forgotten``).

        Example::

            for event in memory.events(until=1200):
                print(event.position, event.type, event.memory_id)
        """
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise InvalidInputError(f"after must be a log position (0 or more), got {after!r}")
        check_count(batch, "batch")
        engine = self._ready_engine()
        batches = self.log.read(after, until=until, batch=batch)  # a naive time means UTC, as in as_of

        async def next_batch() -> list[Event] | None:
            return await anext(batches, None)

        try:
            while (chunk := engine.run(next_batch())) is not None:
                yield from map(portable, chunk)
        finally:  # a reader that stops early ends the read at once (a MongoDB cursor, a SQLite statement)
            close = getattr(batches, "aclose", None)  # every built-in log's read() is an async generator
            if close is not None:
                engine.run(close())

    def import_events(self, events: Iterable[Event], *, keep_times: bool = True) -> ImportReport:
        """Append events read from an export (:meth:`events`, ``omega-memory export``) as they were.

        Each event passes the checks of a write, and events recorded at one time (one commit)
        are appended as one commit. Events the memory already holds (by event id) are not written
        again, so importing the same events twice writes nothing, and an interrupted import is
        finished by running it again. With ``keep_times`` (the default) each commit keeps its
        time: an export imported into an empty memory reproduces it exactly (positions, versions,
        times). Times never go back along a log, so events older than this memory's last one
        raise :class:`~omega_memory_plugin.errors.TimeOrderError`; ``keep_times=False`` records
        them now instead (merging an old export into a memory written since).

        Bad events raise an :class:`~omega_memory_plugin.errors.InvalidInputError` naming the event;
        the commits before it are imported whole, nothing of its own commit is.

        Example::

            from omega_memory_plugin.events import EVENT_ADAPTER

            with open("memory.jsonl") as lines, Memory("./copy") as copy:
                report = copy.import_events(EVENT_ADAPTER.validate_json(line) for line in lines)
            print(report)  # imported 1200 events (0 already there)
        """
        self._check_writable()
        engine = self._ready_engine()
        report = ImportReport()
        for commit in commits(events):
            imported = engine.run(self._import_commit(commit, keep_times))
            report.imported += imported
            report.unchanged += len(commit) - imported
        return report

    async def _import_commit(self, events: Sequence[Event], keep_times: bool) -> int:
        self._check_writable()
        if any(e.collection not in self._states for e in events):
            await self._load_states()  # another process may have created it since this one opened
        states = dict(self._states)
        pending = [
            p
            for e in events
            if (p := pending_event(e, states, max_text_bytes=self.settings.max_text_bytes, keep_time=keep_times))
        ]
        if not pending:
            return 0
        # What this commit records lies past the log's end as it was just before: anything at or
        # below it was there already (another writer may append in between; counts only).
        end = await self.log.last_position()
        recorded = await self._append(pending, {e.stream: 0 for e in pending if e.type == "collection.created"})
        return sum(e.position > end for e in recorded)

    # -- maintenance ---------------------------------------------------------------------------

    def _rebuild(self, *, progress: bool = True) -> Coroutine[Any, Any, int]:
        """Replay the whole log into a fresh index and swap it in; return the position reached.

        The live index keeps answering reads (and taking writes) while the new one is built: an
        embedded index is built on a worker thread. Cancelling (Ctrl-C, an exception, a cancelled
        task) drops the half-built index and leaves the live one in place.

        In external projector mode this raises :class:`~omega_memory_plugin.errors.ProjectorModeError`:
        the worker is the index's one writer. Run ``omega-memory replay`` instead (it applies
        inline); the worker and every external-mode process follow the new generation once it is
        promoted.
        """

        async def run() -> int:
            self._check_writable()
            self._check_applies("rebuild()")
            async with self._rebuild_lock:
                return await self._replay_into_fresh(progress=progress, offload=True)

        return run()

    rebuild, arebuild = twins(_rebuild)

    async def _replay_into_fresh(self, *, progress: bool | None, offload: bool) -> int:
        fresh = await self.projection.fresh(events=await self.log.last_position())
        return await self._build_and_swap(fresh, 0, progress=progress, offload=offload)

    async def _build_and_swap(self, fresh: Projection, position: int, *, progress: bool | None, offload: bool) -> int:
        """Bring ``fresh`` (holding the log up to ``position``: nothing, or a copy of the live
        index) up to the log, optimize it, and swap it in for the live index."""
        projector = self._projector(fresh, offload=offload)
        try:
            await fresh.open()
            # What it records at flush, or the next open would replay the log into it from 0.
            fresh.applied_position = max(fresh.applied_position, position)
            projector.position = position
            projector.started = True
            await projector.catch_up(progress=progress)
            # Build its search structures before it serves (a rebuilt 100k index searched in 5.2 ms
            # against 3.7 ms optimized); meanwhile the old index keeps answering and taking writes,
            # which the new one then applies from the log, as those made while the bar was drawing.
            await projector._run(fresh.optimize)
            await projector.catch_up()
            await projector.checkpoint()
        except BaseException:
            projector.stop_worker()
            await fresh.drop()
            raise
        # Swap first (reads move to the new index at once), then make it the one future opens use
        # and drop the old one, on the worker: dropping a large index takes a while.
        replaced, self.projection, self.projector = self.projection, fresh, projector
        try:
            await projector._run(lambda: fresh.promote(replaced))
        finally:
            projector.stop_worker()
        return projector.position

    def as_of(self, until: int | datetime, *, progress: bool = False) -> Memory:
        """A read-only view of the memory as it was at log position ``until`` (inclusive) or at
        time ``until``, built by replaying the log into an exact in-memory index. A naive datetime
        means UTC (as on the command line). The view writes nothing anywhere.

        Example: ``with memory.as_of(yesterday) as past: past.search(...)``
        """
        view = object.__new__(Memory)
        view.__dict__.update(self.__dict__)
        view._owns_engine = False
        view._follow_log = False
        view._indexing = None  # the live Memory's background work is not the view's
        view._external = False  # it applies the log to its own in-memory index, up to `until`
        view._read_only = f"this is a point-in-time view (as of {until}); write to the live Memory instead"
        view.projection = InMemoryProjection()
        view.projector = self._projector(view.projection, persist=False)
        view.projector.started = True
        view._states = {}  # learnt from the events it applies: the collections as they were then
        view.projector.observe = view._observe

        self._ready_engine().run(view.projector.catch_up(until=until, progress=progress))
        # Reads of the view decide expiry at its time, as the live memory did then.
        view._at = as_utc(until) if isinstance(until, datetime) else self._ready_engine().run(self._time_at(until))
        return view

    def _now(self) -> float:
        """The time reads decide expiry at: now, or a point-in-time view's time."""
        return (self._at or datetime.now(UTC)).timestamp()

    async def _time_at(self, position: int) -> datetime:
        """When the event at ``position`` (or the last one before it) was recorded."""
        last = min(position, await self.log.last_position())
        if last > 0:
            async for batch in self.log.read(last - 1, until=last, batch=1):
                if batch and batch[0].recorded_at is not None:
                    return batch[0].recorded_at
        return datetime.now(UTC)

    def _logical(self, records: list[MemoryRecord], collection: str) -> list[MemoryRecord]:
        """Records read from an embedding space, named by their collection."""
        if records and records[0].collection != collection:
            return [dataclasses.replace(r, collection=collection) for r in records]
        return records

    def _reembed(
        self,
        embedder: str | Embedder,
        *,
        collection: str | None = None,
        batch_size: int = 256,
        progress: bool = True,
    ) -> Coroutine[Any, Any, ReembedReport]:
        """Re-embed every memory of a collection with another model, then switch the collection to it.

        The new vectors are recorded in the log (so a rebuild, ``as_of()`` and every other process
        find them), built while the current model keeps serving searches and taking writes;
        memories written meanwhile are re-embedded too. Then one event switches the collection,
        and from there on searches and text writes use ``embedder``. Interrupted (a crash,
        Ctrl-C), it resumes when called again, without embedding again what it already did.
        ``as_of()`` a time before the switch still answers with the old model;
        :meth:`rollback_embedding` goes back to it. See :mod:`omega_memory_plugin.reembedding`.

        Example::

            report = memory.reembed("openai:text-embedding-3-small")
            print(report)  # collection 'default': 'hash:384' -> 'openai:...' (space 1); 1200 embedded, ...
        """
        chosen = self.plugins.embedder(embedder) if isinstance(embedder, str) else embedder
        collection = self.collection if collection is None else check_collection(collection)

        async def run() -> ReembedReport:
            self._check_writable()
            async with self._rebuild_lock:  # one re-embedding or rebuild at a time in this process
                report = await reembed(self, chosen, collection, batch_size, progress)
            self._embedders[chosen.name] = chosen
            if collection == self.collection:
                self.embedder = chosen
            return report

        return run()

    reembed, areembed = twins(_reembed)

    def _rollback_embedding(
        self, *, collection: str | None = None, embedder: str | Embedder | None = None, progress: bool = True
    ) -> Coroutine[Any, Any, ReembedReport]:
        """Switch a collection back to the model it used before its last :meth:`reembed`,
        embedding with it only the memories written since (``embedder``: the old model's
        embedder, found by its recorded name if omitted)."""
        collection = self.collection if collection is None else check_collection(collection)
        state = self._states.get(collection)
        if state is None or state.previous is None:
            raise InvalidInputError(
                f"collection {collection!r} was never switched to another model: nothing to roll back"
            )
        model = state.spaces[state.previous].embedding_model
        if embedder is None:
            if model is None:
                raise InvalidInputError(
                    f"collection {collection!r} used vectors of an unrecorded model before; pass embedder=..."
                )
            embedder = self._embedders.get(model) or self.plugins.embedder(model)
        chosen = self.plugins.embedder(embedder) if isinstance(embedder, str) else embedder
        if model is not None and chosen.name != model:
            raise EmbeddingModelError(
                f"collection {collection!r} used {model!r} before its last re-embedding; this embedder is {chosen.name!r}"
            )
        return self._reembed(chosen, collection=collection, progress=progress)

    rollback_embedding, arollback_embedding = twins(_rollback_embedding)

    def _flush(self) -> Coroutine[Any, Any, None]:
        """Make the index durable now and save the projector's checkpoint."""
        return self.projector.checkpoint()

    flush, aflush = twins(_flush)

    def _verify(self, *, repair: bool = False) -> Coroutine[Any, Any, VerifyReport]:
        """Compare the log's live memories with the index, per namespace (counts and a digest of
        ids and versions); with ``repair=True``, re-project what differs.

        Example::

            report = memory.verify()
            if not report.ok:
                print(report)            # which namespaces drifted, and how
                memory.verify(repair=True)
        """

        async def run() -> VerifyReport:
            if repair:
                self._check_writable()
                self._check_applies("verify(repair=True)")
            index = await self._current_index()
            await self._load_states()  # with the collections other processes created
            async with self.projector._lock:  # no write reaches the index while both sides are read
                served = {name: self._physical(name) for name in self._states}
                return await verify(self.log, index, self.projector.position, served, repair=repair)

        return run()

    verify, averify = twins(_verify)

    def _optimize(self) -> Coroutine[Any, Any, None]:
        """Build the index's search structures now (quantized vectors and graphs after a bulk load),
        returning once they serve.

        A large embedded index (20,000 events and more) is optimized on a copy, by a child
        process, while it keeps answering searches and taking writes (qdrant-edge-py holds the GIL
        while it optimizes, so optimizing in place stops every call of this process: 50 s at 1M
        memories). The copy then applies the writes made meanwhile and is swapped in, as
        :meth:`rebuild` does. A smaller one is optimized in place, which takes about a second.
        """

        async def run() -> None:
            if not self.projection.blocking or self._external:
                return await self.projection.optimize()  # a server optimizes in its own process
            self._check_writable()
            await self._optimize_on_a_copy()

        return run()

    optimize, aoptimize = twins(_optimize)

    async def _optimize_on_a_copy(self, *, if_indexes_wanted: bool = False) -> None:
        """Optimize a copy of the (embedded) index while it serves and swap the copy in; in place
        if the projection makes no copy (a small index). ``if_indexes_wanted``: only if the index
        still wants payload indexes once its turn comes (a rebuild meanwhile starts afresh)."""
        async with self._rebuild_lock:
            if if_indexes_wanted and not self.projection.wanted_indexes:
                return
            async with self.projector._lock:  # nothing is applied between the flush and the copy
                await self.projection.flush()
                position = self.projector.position
                copy = self.projection.copy
                copying = asyncio.ensure_future(asyncio.to_thread(lambda: asyncio.run(copy(events=position))))
                try:
                    copied = await asyncio.shield(copying)
                except asyncio.CancelledError:
                    # A thread copying files cannot be stopped: drop the copy once it is made.
                    with contextlib.suppress(Exception):
                        made = await copying
                        if made is not None:
                            await made.drop()
                    raise
            if copied is None:
                return await self.projection.optimize()
            await self._build_and_swap(copied, position, progress=False, offload=True)

    def _index_wanted(self) -> None:
        """Build the payload indexes this read asked for in the background, on a copy of the
        index swapped in once built (see Projection.wanted_indexes), unless that runs already."""
        if self.projection.wanted_indexes and self._indexing is None:
            self._indexing = asyncio.get_running_loop().create_task(self._index_on_a_copy())

    async def _index_on_a_copy(self) -> None:
        try:
            # Again while searches asked for more during the last copy (promote() carries them over).
            while self.projection.wanted_indexes:
                await self._optimize_on_a_copy(if_indexes_wanted=True)
        except Exception as exc:  # searches answer without the indexes meanwhile, as exactly
            logger.warning(
                "could not build the payload indexes searches asked for on a copy of %s; the next searches "
                "that ask build them in place instead: %s",
                self._index_name,
                exc,
            )
            self.projection.index_on_copies = False
        finally:
            self._indexing = None

    def _health(self) -> Coroutine[Any, Any, dict[str, Any]]:
        """Both sides' state and the projection lag, for monitoring. In external projector mode
        ``index.applied_position`` is the worker's checkpoint, and the lag is the log's distance
        from it."""

        async def run() -> dict[str, Any]:
            if self._external and self.projector.started:  # lag is measured against the worker's checkpoint
                with contextlib.suppress(Exception):  # a log that does not answer is reported just below
                    await asyncio.wait_for(refresh(self.projector), self.settings.read_wait_seconds)
            log: dict[str, Any] = {"name": self.log.name, "ok": True, "position": None, "error": None}
            try:
                log["position"] = await asyncio.wait_for(self.log.last_position(), self.settings.read_wait_seconds)
            except Exception as exc:
                log.update(ok=False, error=str(exc) or type(exc).__name__)
            error = self.projector.error
            lag = None if log["position"] is None else log["position"] - self.projector.position
            index = {
                "name": self._index_name,
                "projector": "external" if self._external else "inline",
                "started": self.projector.started,
                "ok": error is None,
                "applied_position": self.projector.position,
                "checkpoint": self.projector.checkpointed,
                "lag_events": lag,
                "lag_seconds": await self._lag_seconds() if lag else 0.0 if lag == 0 else None,
                "error": None if error is None else str(error),
            }
            return {"log": log, "index": index, "observers": self.plugins.observer_failures.as_dict()}

        return run()

    health, ahealth = twins(_health)

    def close(self) -> None:
        """Flush the index, save the checkpoint and release files. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        _OPEN.discard(self)
        if not self._owns_engine:
            return
        try:
            self._engine.run(self._shutdown())
        finally:
            self._engine.stop()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        _OPEN.discard(self)
        if self._owns_engine:
            await self._engine.arun(self._shutdown())
            self._engine.stop()

    async def _shutdown(self) -> None:
        if self._indexing is not None:  # a copy being indexed is dropped; it would be swapped in a closed Memory
            self._indexing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._indexing
        try:
            if self.projector.error is None and self.projector.started:
                await self.projector.checkpoint()
        except Exception as exc:  # closing must release resources; the next open re-applies a little
            logger.warning("could not save the checkpoint of %s on close: %s", self.projection.name, exc)
        finally:
            await self.projection.close()
            await self.log.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Memory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def _index_name(self) -> str:
        try:
            return self.projection.name
        except Exception:  # a server index knows its name only once it answered
            return "(index not opened)"

    @property
    def read_only(self) -> str | None:
        """Why this Memory refuses writes (a read-only open or a point-in-time view), else None."""
        return self._read_only

    def __repr__(self) -> str:
        return f"Memory(log={self.log.name!r}, index={self._index_name!r})"
