"""``OmegaStore``: LangGraph's long-term memory (``BaseStore``) on an omega event log.

Every put and delete is an event in the log, so the store has a history, survives a crash, and
its index can be rebuilt (``store.memory.rebuild()``). Items and their embedded texts are records
of :mod:`.store_records`; filters mean what they mean in LangGraph's ``InMemoryStore``
(:mod:`.json_fields`); a TTL is an expiry time written into the item's event, so a replay (or
``memory.as_of(...)``) answers as the live store did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
)

from omega_memory_plugin import Memory
from omega_memory_plugin.errors import InvalidInputError, InvalidVectorError
from omega_memory_plugin.log.base import as_utc
from omega_memory_plugin.origin import writes_as
from omega_memory_plugin.records import MemoryRecord

from . import store_records as records
from .json_fields import translate
from .opening import ORIGIN, memory_for


class OmegaStore(BaseStore):
    """A LangGraph store whose items live in an omega memory.

    Example::

        from langgraph_omega_memory import OmegaStore

        store = OmegaStore(path="./agent-memory", index={"dims": 384, "embed": embeddings, "fields": ["text"]})
        store.put(("users", "ada"), "tea", {"text": "Ada likes green tea"})
        store.search(("users",), query="what does Ada drink?", limit=3)

    ``memory`` is an open :class:`~omega_memory_plugin.Memory` (the store does not close it), or
    pass ``path=`` / ``log_url=`` / ``index_url=`` and other ``Memory`` options to open one that
    :meth:`close` closes. Everything the store writes goes to omega namespace ``namespace``
    (collections ``collection`` and ``collection + "_vectors"``): LangGraph's tuple namespaces are
    fields inside it. ``index`` is LangGraph's ``{"dims", "embed", "fields"}``; ``ttl`` is its
    ``{"default_ttl", "refresh_on_read"}`` (minutes).
    """

    supports_ttl = True

    def __init__(
        self,
        memory: Memory | None = None,
        *,
        path: str | Path | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        namespace: str = "langgraph",
        collection: str = "langgraph_store",
        **memory_options: Any,
    ) -> None:
        self.memory, self._owns_memory = memory_for(memory, path, memory_options)
        self.namespace = namespace
        self.items = collection
        self.vectors = f"{collection}_vectors"
        self.ttl_config = ttl
        self.index_config = index
        self.embeddings = ensure_embeddings(index.get("embed")) if index else None
        self._fields = [(p, tokenize_path(p) if p != "$" else p) for p in ((index or {}).get("fields") or ["$"])]
        self._at: datetime | None = None  # a point-in-time view's time (None: now)

    def close(self) -> None:
        """Close the memory if this store opened it."""
        if self._owns_memory:
            self.memory.close()

    def as_of(self, when: datetime) -> OmegaStore:
        """A read-only view of the store as it was at ``when`` (a naive datetime is UTC), replayed
        from the log: items written since are absent, deleted ones present, and an item with a TTL
        is expired exactly when it was for the live store at that time.

        Example: ``with store.as_of(yesterday) as past: past.search(("users", "ada"))``
        """
        view = OmegaStore(self.memory.as_of(when), index=self.index_config, ttl=self.ttl_config)
        view.namespace, view.items, view.vectors = self.namespace, self.items, self.vectors
        view._owns_memory = True  # closes the replayed view, never the live memory
        view._at = as_utc(when)
        return view

    def __enter__(self) -> OmegaStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- BaseStore ---------------------------------------------------------------------------

    @writes_as(ORIGIN)
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return self.memory.run(self._batch(list(ops)))

    @writes_as(ORIGIN)
    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self.memory.arun(self._batch(list(ops)))

    @writes_as(ORIGIN)
    def sweep_ttl(self) -> int:
        """Delete the expired items (events in the log, like any delete); return how many."""
        return self.memory.run(self._sweep())

    @writes_as(ORIGIN)
    async def asweep_ttl(self) -> int:
        return await self.memory.arun(self._sweep())

    # -- one implementation of each operation (on the memory's engine) -------------------------

    async def _batch(self, ops: list[Op]) -> list[Result]:
        """Reads first, against the state before the batch; then every put of the batch (the last
        one per key) and the TTL refreshes the reads asked for, as one commit (InMemoryStore's order)."""
        results: list[Result] = [None] * len(ops)
        now = self._at or records.now()
        # Items read whose TTL the read asked to refresh (each op's refresh_ttl, which BaseStore
        # resolves from ttl={"refresh_on_read": ...}): a refresh is a write, one commit per batch.
        refresh: dict[str, MemoryRecord] = {}
        gets = [(i, op) for i, op in enumerate(ops) if isinstance(op, GetOp)]
        if gets:
            found = await self._items([records.item_id(op.namespace, op.key) for _, op in gets])
            for i, op in gets:
                record = found.get(records.item_id(op.namespace, op.key))
                results[i] = records.to_item(record) if record is not None else None
                if record is not None and op.refresh_ttl:
                    refresh[record.id] = record
        for n, operation in enumerate(ops):
            if isinstance(operation, SearchOp):
                hits = await self._search(operation)
                results[n] = [records.to_search_item(record, score) for record, score in hits]
                if operation.refresh_ttl:
                    refresh.update((record.id, record) for record, _ in hits)
            elif isinstance(operation, ListNamespacesOp):
                results[n] = await self._list_namespaces(operation)
            elif not isinstance(operation, GetOp | PutOp):
                raise InvalidInputError(f"unknown store operation {type(operation).__name__}")
        puts = {(op.namespace, op.key): op for op in ops if isinstance(op, PutOp)}
        await self._write(list(puts.values()), refresh, now)
        return results

    async def _items(self, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """The item records among ``ids`` (expired ones are left out by the memory)."""
        found = await self.memory.aget(list(dict.fromkeys(ids)), namespace=self.namespace, collection=self.items)
        return {r.id: r for r in found}

    def _conditions(self, prefix: tuple[str, ...], spec: dict[str, Any] | None) -> list[dict[str, Any]]:
        conditions = translate(spec, records.VALUE)
        if prefix:
            conditions.append({"prefixes": records.prefix_key(prefix)})
        return conditions

    async def _search(self, op: SearchOp) -> list[tuple[MemoryRecord, float | None]]:
        conditions = self._conditions(op.namespace_prefix, op.filter)
        wanted = op.offset + op.limit
        if not (op.query and self.embeddings):
            return [(r, None) for r in (await self._scan(conditions))[op.offset : wanted]]
        query = await self.embeddings.aembed_query(op.query)
        scored: list[tuple[MemoryRecord, float | None]] = []
        fetch = max(wanted, 10)
        while True:
            hits = await self.memory.asearch(
                vector=query,
                filter=_all(conditions),
                limit=fetch,
                namespace=self.namespace,
                collection=self.vectors,
            )
            best: dict[str, float] = {}
            for hit in hits:  # best first: an item's first hit is its best (max pooling)
                best.setdefault(hit.metadata["item"], hit.score or 0.0)
            items = await self._items(list(best))  # an expired item's vectors find it no more
            scored = [(items[i], score) for i, score in best.items() if i in items]
            if len(scored) >= wanted or len(hits) < fetch:
                break
            fetch *= 2
        kept = scored[op.offset : wanted]
        if len(kept) < op.limit:  # as InMemoryStore: items without vectors fill the page, unscored
            unscored = await self._scan([*conditions, {"vectors": {"$exists": False}}])
            kept += [(r, None) for r in unscored[: op.limit - len(kept)]]
        return kept

    async def _scan(self, conditions: list[dict[str, Any]]) -> list[MemoryRecord]:
        """Every item matching (not expired: the memory leaves those out), the most recently updated first."""
        found = await self.memory.ascan(
            filter=_all(conditions), limit=None, namespace=self.namespace, collection=self.items
        )
        return sorted(found, key=lambda r: (-r.metadata["updated"], r.metadata["key"]))

    async def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        conditions: list[dict[str, Any]] = []
        for condition in op.match_conditions or ():
            if condition.match_type == "prefix" and condition.path and "*" not in condition.path:
                conditions.append({"prefixes": records.prefix_key(condition.path)})
        namespaces = {tuple(r.metadata["ns"]) for r in await self._scan(conditions)}
        matching = [ns for ns in namespaces if all(_matches(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            matching = list({ns[: op.max_depth] for ns in matching})
        return sorted(matching)[op.offset : op.offset + op.limit]

    async def _write(self, puts: list[PutOp], refresh: dict[str, MemoryRecord], now: datetime) -> None:
        if self._at is not None:
            refresh = {}  # a point-in-time view writes nothing
        if not puts and not any("ttl" in r.metadata for r in refresh.values()):
            return
        ids = [records.item_id(op.namespace, op.key) for op in puts]
        # Expired items too: their records are replaced or deleted like any (an expired item's
        # vectors must not outlive it), though a put over one starts a new item (created anew).
        stored = (
            await self.memory.aget(ids, namespace=self.namespace, collection=self.items, include_expired=True)
            if ids
            else []
        )
        before = {r.id: r for r in stored}
        # Each value is checked before anything is embedded (an embedder may choke on bad text).
        values = [records.value_text(op.value) if op.value is not None else "" for op in puts]
        texts: list[str] = []
        paths: list[tuple[int, str]] = []  # (put number, path name) of each text to embed
        for n, op in enumerate(puts):
            if op.value is not None and op.index is not False and self.embeddings is not None:
                fields = self._fields if op.index is None else [(p, tokenize_path(p)) for p in op.index]
                for path, tokens in fields:
                    found = get_text_at_path(op.value, tokens)
                    for i, text in enumerate(found):
                        paths.append((n, f"{path}.{i}" if len(found) > 1 else path))
                        texts.append(text)
        vectors = await self._embed(texts) if texts else []
        by_put: dict[int, list[tuple[str, list[float], str]]] = {}  # put number -> (path, vector, text)
        for (n, path), vector, text in zip(paths, vectors, texts, strict=True):
            by_put.setdefault(n, []).append((path, vector, text))
        transaction = self.memory.transaction()
        for n, (op, iid) in enumerate(zip(puts, ids, strict=True)):
            old = before.get(iid)
            stale = set(old.metadata["vectors"]) if old is not None else set()
            if op.value is None:
                if old is not None:  # expired or not: its records go
                    transaction.delete([iid], collection=self.items, namespace=self.namespace)
            else:
                mine = by_put.get(n, [])
                vector_ids = [f"{iid}:{path}" for path, _, _ in mine]
                metadata = records.item_metadata(
                    op.namespace,
                    op.key,
                    op.value,
                    created=records.created_of(old, now),
                    updated=now,
                    ttl=op.ttl,
                    vector_ids=vector_ids,
                )
                transaction.upsert(
                    values[n],
                    id=iid,
                    vectors=records.ITEM_VECTOR,
                    metadata=metadata,
                    collection=self.items,
                    namespace=self.namespace,
                    expires_at=records.expiry(metadata, now),  # the memory's own expiry decides (omega's)
                )
                for vid, (path, vector, text) in zip(vector_ids, mine, strict=True):
                    transaction.upsert(
                        text if text.strip() else path,
                        id=vid,
                        vectors=vector,
                        metadata=records.vector_metadata(metadata, iid, path),
                        collection=self.vectors,
                        namespace=self.namespace,
                    )
                stale -= set(vector_ids)
            if stale:
                transaction.delete(sorted(stale), collection=self.vectors, namespace=self.namespace)
        for record in refresh.values():
            if "ttl" in record.metadata and record.id not in ids:
                transaction.upsert(
                    record.text,
                    id=record.id,
                    vectors=records.ITEM_VECTOR,
                    metadata=record.metadata,
                    collection=self.items,
                    namespace=self.namespace,
                    expires_at=records.expiry(record.metadata, now),
                )
        await transaction.acommit()

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        assert self.embeddings is not None and self.index_config is not None
        vectors = await self.embeddings.aembed_documents(texts)
        dims = self.index_config.get("dims")
        if len(vectors) != len(texts) or any(len(v) != dims for v in vectors):
            raise InvalidVectorError(
                f"the store's embeddings returned {len(vectors)} vectors of sizes "
                f"{sorted({len(v) for v in vectors})} for {len(texts)} texts; index={{'dims': {dims}}} expects {dims}"
            )
        return [list(v) for v in vectors]

    async def _sweep(self) -> int:
        now = self._at or records.now()
        with_ttl = await self.memory.ascan(
            filter={"ttl": {"$exists": True}},
            limit=None,
            namespace=self.namespace,
            collection=self.items,
            include_expired=True,
        )
        expired = [r for r in with_ttl if r.expires_at is not None and r.expires_at <= now]
        if not expired:
            return 0
        transaction = self.memory.transaction()
        transaction.delete([r.id for r in expired], namespace=self.namespace, collection=self.items)
        vector_ids = [v for r in expired for v in r.metadata["vectors"]]
        if vector_ids:
            transaction.delete(vector_ids, namespace=self.namespace, collection=self.vectors)
        await transaction.acommit()
        return len(expired)


def _all(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """LangGraph's namespace match: a prefix or suffix of labels, ``"*"`` matching any one label."""
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    labels = namespace[: len(path)] if condition.match_type == "prefix" else namespace[len(namespace) - len(path) :]
    if condition.match_type not in ("prefix", "suffix"):
        raise InvalidInputError(f"match_type is 'prefix' or 'suffix', got {condition.match_type!r}")
    return all(p == "*" or p == label for p, label in zip(path, labels, strict=True))
