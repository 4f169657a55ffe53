"""A LlamaIndex vector store whose every write is an event in an omega memory log.

Nodes are memories (see :mod:`.nodes`): adding, deleting and clearing append events to the log,
queries read the memory's Qdrant index, and ``memory.rebuild()`` replays the log into a fresh
index with the same answers. Sync and async methods share one translation of each call (the
``_Search`` and ``_Selection`` plans below); only the call to the memory differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypedDict

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from omega_memory_plugin import Event, Memory, MemoryRecord
from omega_memory_plugin.errors import InvalidInputError, InvalidVectorError
from omega_memory_plugin.origin import writes_as
from omega_memory_plugin.staging import DEFAULT_VECTOR
from omega_memory_plugin.transaction import Transaction
from omega_memory_plugin.validation import check_count

from . import nodes
from .embeddings import OmegaHashEmbedding
from .filters import Spec, restricted, to_filter
from .nodes import NodeWrite, to_node, to_write

ORIGIN = "llama-index-vector-stores-omega-memory"  # the writer its events record (memory.explain)

DEFAULT_COLLECTION = "llama_index"
# Modes that rank by the words of query.query_str (BM25 over the nodes' texts).
_WORD_MODES = {VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.TEXT_SEARCH}
_SUPPORTED = {VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR, VectorStoreQueryMode.HYBRID, *_WORD_MODES}


class _Scope(TypedDict):
    namespace: str
    collection: str


class OmegaMemoryVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store over an event-sourced :class:`~omega_memory_plugin.Memory`.

    Args:
        memory: the Memory to read and write (embedded, or a Mongo log + Qdrant server).
        namespace: the tenant scope of this store (an agent, user or session); defaults to the
            Memory's namespace. A store never sees another namespace's nodes.
        collection: the memory collection (default ``"llama_index"``). All nodes of a collection
            share one embedding dimension.
        mmr_prefetch_factor: an MMR query reranks ``similarity_top_k * mmr_prefetch_factor``
            nearest nodes (override per query with ``mmr_prefetch_k`` / ``mmr_prefetch_factor``).
        embed_model: the model that makes the nodes' embeddings (a ``BaseEmbedding``, or its
            name), recorded in every event and by the collection, so that another model's
            vectors are refused instead of mixed and a replay knows what made each vector.
            ``OmegaHashEmbedding(384)`` records ``"hash:384"``, which omega can embed with itself.

    Example::

        from llama_index.core import StorageContext, VectorStoreIndex
        from omega_memory_plugin import Memory
        from llama_index.vector_stores.omega_memory import OmegaMemoryVectorStore

        store = OmegaMemoryVectorStore(Memory(".omega-memory"), namespace="user-7")
        index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
        index.as_retriever(similarity_top_k=3).retrieve("what does the user drink?")
    """

    stores_text: bool = True
    flat_metadata: bool = False
    namespace: str = Field(description="Tenant scope of this store's nodes.")
    collection: str = Field(default=DEFAULT_COLLECTION, description="Memory collection holding the nodes.")
    mmr_prefetch_factor: float = Field(default=4.0, gt=0, description="Candidates per result an MMR query reranks.")
    embedding_model: str | None = Field(default=None, description="Model of the nodes' embeddings, when known.")

    # Where each part of a node lives in a memory's metadata (see nodes.py).
    NODE_ID_KEY: ClassVar[str] = nodes.NODE_ID_KEY
    NODE_CONTENT_KEY: ClassVar[str] = nodes.NODE_CONTENT_KEY
    REF_DOC_ID_KEY: ClassVar[str] = nodes.REF_DOC_ID_KEY
    TEXT_IN_CONTENT_KEY: ClassVar[str] = nodes.TEXT_IN_CONTENT_KEY

    _memory: Memory = PrivateAttr()

    def __init__(
        self,
        memory: Memory | None = None,
        *,
        namespace: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        mmr_prefetch_factor: float = 4.0,
        embed_model: BaseEmbedding | str | None = None,
        path: str | Path | None = None,
        collection_name: str | None = None,
        **memory_options: Any,
    ) -> None:
        if collection_name is not None:
            if collection != DEFAULT_COLLECTION and collection != collection_name:
                raise InvalidInputError(
                    f"collection={collection!r} and collection_name={collection_name!r} differ: pass one"
                )
            collection = collection_name
        if memory is None:
            # What LlamaIndex users type first: a path (or log_url= / index_url=), as for its own stores.
            memory = Memory(path, **memory_options)
        elif path is not None or memory_options:
            raise InvalidInputError(
                f"pass either memory= or options to open one, not both: {sorted({*memory_options, *(['path'] if path else [])})}"
            )
        namespace, collection = memory._scope(namespace, collection)  # checks both names now
        super().__init__(
            stores_text=True,
            namespace=namespace,
            collection=collection,
            mmr_prefetch_factor=mmr_prefetch_factor,
            embedding_model=model_name(embed_model),
        )
        self._memory = memory

    @classmethod
    def class_name(cls) -> str:
        return "OmegaMemoryVectorStore"

    @property
    def client(self) -> Memory:
        """The Memory behind this store."""
        return self._memory

    @property
    def memory(self) -> Memory:
        return self._memory

    @property
    def _where(self) -> _Scope:
        return _Scope(namespace=self.namespace, collection=self.collection)

    # -- writing -------------------------------------------------------------------------------

    @writes_as(ORIGIN)
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Write nodes (with their embeddings) as one atomic commit; return their ids.

        A node id that is already stored is replaced (a new version of that memory). With
        ``idempotency_key=...``, adding the same nodes again (a retry) writes nothing.
        """
        writes = [to_write(node) for node in nodes]
        if writes:
            with self._memory.transaction(idempotency_key=add_kwargs.get("idempotency_key")) as tx:
                self._stage(tx, writes)
        return [w.id for w in writes]

    @writes_as(ORIGIN)
    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        writes = [to_write(node) for node in nodes]
        if writes:
            async with self._memory.transaction(idempotency_key=kwargs.get("idempotency_key")) as tx:
                self._stage(tx, writes)
        return [w.id for w in writes]

    def _stage(self, tx: Transaction, writes: Sequence[NodeWrite]) -> None:
        """Stage every write; the first bad node raises (naming it) and the commit never happens.

        Dimensions are checked by the commit itself, against the collection (or, for a new one,
        against the first node), and that error names the node too.
        """
        for w in writes:
            try:
                tx.upsert(
                    w.text,
                    id=w.id,
                    vectors=w.vector,
                    metadata=w.metadata,
                    embedding_model=self.embedding_model,
                    **self._where,
                )
            except InvalidInputError as exc:
                raise type(exc)(f"node {w.id!r}: {exc}") from exc

    @writes_as(ORIGIN)
    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of document ``ref_doc_id``, in one commit."""
        ids = [r.id for r in self._scan({self.REF_DOC_ID_KEY: ref_doc_id})]
        if ids:
            self._memory.delete(ids, **self._where)

    @writes_as(ORIGIN)
    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        ids = [r.id for r in await self._ascan({self.REF_DOC_ID_KEY: ref_doc_id})]
        if ids:
            await self._memory.adelete(ids, **self._where)

    @writes_as(ORIGIN)
    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        """Delete the nodes with these ids and/or matching these filters, in one commit.

        With neither, every node of the store is deleted (as in LlamaIndex's SimpleVectorStore).
        """
        selection = _Selection.of(node_ids, filters)
        if not selection.any:
            return
        ids = selection.ids_known or [r.id for r in self._scan(selection.spec)]
        if ids:
            self._memory.delete(ids, **self._where)

    @writes_as(ORIGIN)
    async def adelete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        selection = _Selection.of(node_ids, filters)
        if not selection.any:
            return
        ids = selection.ids_known or [r.id for r in await self._ascan(selection.spec)]
        if ids:
            await self._memory.adelete(ids, **self._where)

    @writes_as(ORIGIN)
    def clear(self) -> None:
        """Erase every node of this store's namespace: one ``namespace.erased`` event."""
        self._memory.erase_namespace(self.namespace, collection=self.collection)

    @writes_as(ORIGIN)
    async def aclear(self) -> None:
        await self._memory.aerase_namespace(self.namespace, collection=self.collection)

    # -- reading -------------------------------------------------------------------------------

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """The nodes with these ids (in that order) and/or matching these filters, with their
        embeddings (as LlamaIndex's Qdrant store returns them); all nodes without either."""
        selection = _Selection.of(node_ids, filters)
        if not selection.any:
            return []
        ids = selection.ids_known or [r.id for r in self._scan(selection.spec)]
        return selection.nodes(self._memory.get(ids, with_vectors=True, **self._where)) if ids else []

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        selection = _Selection.of(node_ids, filters)
        if not selection.any:
            return []
        ids = selection.ids_known or [r.id for r in await self._ascan(selection.spec)]
        return selection.nodes(await self._memory.aget(ids, with_vectors=True, **self._where)) if ids else []

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The best nodes for ``query``, best first, by its mode:

        * ``DEFAULT`` / ``MMR``: nearest to ``query.query_embedding`` (MMR re-ranks for diversity);
        * ``SPARSE`` / ``TEXT_SEARCH``: BM25 over the nodes' texts for ``query.query_str``
          (``sparse_top_k`` or ``similarity_top_k`` of them);
        * ``HYBRID``: both, fused by reciprocal rank: the dense side brings ``similarity_top_k``
          nodes, the sparse side ``sparse_top_k`` (default ``similarity_top_k``), ``hybrid_top_k``
          (default ``similarity_top_k``) are returned, and ``alpha`` weighs the dense side against
          the sparse one (1: dense only, 0: sparse only; default: even).
        """
        search = _Search.of(query, kwargs, self.mmr_prefetch_factor)
        return search.result(
            self._memory.search(search.vector, **search.options, embedding_model=self.embedding_model, **self._where)
        )

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        search = _Search.of(query, kwargs, self.mmr_prefetch_factor)
        return search.result(
            await self._memory.asearch(
                search.vector, **search.options, embedding_model=self.embedding_model, **self._where
            )
        )

    def history(self, node_id: str) -> list[Event]:
        """Every event of one node, oldest first (its audit trail, read from the log)."""
        return self._memory.history(node_id, **self._where)

    async def ahistory(self, node_id: str) -> list[Event]:
        return await self._memory.ahistory(node_id, **self._where)

    def _scan(self, spec: Spec | None) -> list[MemoryRecord]:
        return self._memory.scan(filter=spec, limit=None, **self._where)

    async def _ascan(self, spec: Spec | None) -> list[MemoryRecord]:
        return await self._memory.ascan(filter=spec, limit=None, **self._where)


@dataclass(frozen=True, slots=True)
class _Selection:
    """Which nodes a get or delete means.

    ``ids_known``: the ids alone decide (read them by id). Otherwise ``spec`` selects them in a scan,
    and ``order`` (the ids asked for, if any) orders what the scan found. ``any`` is False when
    nothing can match: ``node_ids=[]`` means no node here, never every node.
    """

    any: bool
    ids_known: list[str] | None = None
    spec: Spec | None = None
    order: list[str] | None = None

    @staticmethod
    def of(node_ids: Sequence[str] | None, filters: MetadataFilters | None) -> _Selection:
        spec = to_filter(filters)  # a bad filter raises even when the answer is known to be empty
        if node_ids is not None and not isinstance(node_ids, (list, tuple)):
            raise InvalidInputError(f"node_ids must be a list of node ids, got {type(node_ids).__name__}")
        ids = None if node_ids is None else list(node_ids)
        if ids is not None and not ids:
            return _Selection(any=False)
        if spec is None and ids is not None:
            return _Selection(any=True, ids_known=ids)
        return _Selection(any=True, spec=restricted(spec, node_ids=ids), order=ids)

    def nodes(self, records: Sequence[MemoryRecord]) -> list[BaseNode]:
        if self.order is not None:
            rank = {node_id: i for i, node_id in enumerate(self.order)}
            records = sorted(records, key=lambda r: rank[r.id])
        return [to_node(r) for r in records]


@dataclass(frozen=True, slots=True)
class _Search:
    """One query, checked and translated: what to ask the memory, and how to shape the answer."""

    vector: list[float] | None
    options: dict[str, Any]  # the rest of Memory.search's arguments
    top_k: int
    mmr: bool
    mmr_threshold: float | None

    @staticmethod
    def of(query: VectorStoreQuery, kwargs: dict[str, Any], prefetch_factor: float) -> _Search:
        mode = VectorStoreQueryMode(query.mode)
        if mode not in _SUPPORTED:
            raise NotImplementedError(
                f"query mode {mode.value!r} is not supported by OmegaMemoryVectorStore; use 'default', 'mmr', "
                "'sparse', 'text_search' or 'hybrid'"
            )
        top_k = check_count(query.similarity_top_k, "similarity_top_k")
        spec = to_filter(query.filters)
        # An empty list means "no restriction" here, as in LlamaIndex's other stores: the index's
        # retriever passes node_ids=[] whenever the vector store keeps the nodes itself.
        options: dict[str, Any] = {
            "filter": restricted(spec, node_ids=query.node_ids or None, doc_ids=query.doc_ids or None),
            "limit": top_k,
        }
        if mode != VectorStoreQueryMode.HYBRID and mode not in _WORD_MODES:
            options["mode"] = "dense"
        elif not isinstance(query.query_str, str) or not query.query_str.strip():
            raise InvalidInputError(f"query mode {mode.value!r} matches words: it needs query.query_str")
        else:
            options["text"] = query.query_str
        sparse_k = check_count(query.sparse_top_k or top_k, "sparse_top_k")
        if mode in _WORD_MODES:
            return _Search(None, options | {"mode": "sparse", "limit": sparse_k}, top_k, False, None)
        if query.query_embedding is None:
            raise InvalidVectorError("OmegaMemoryVectorStore needs query.query_embedding (it stores no embed model)")
        if mode == VectorStoreQueryMode.HYBRID:
            options |= {
                "mode": "hybrid",
                "limit": check_count(query.hybrid_top_k or top_k, "hybrid_top_k"),
                "candidates": (top_k, sparse_k),
                "weights": None if query.alpha is None else _alpha_weights(query.alpha),
            }
            return _Search(list(query.query_embedding), options, top_k, False, None)
        mmr = mode == VectorStoreQueryMode.MMR
        if mmr:
            factor = kwargs.get("mmr_prefetch_factor", prefetch_factor)
            options["limit"] = max(top_k, int(kwargs.get("mmr_prefetch_k") or top_k * factor))
            options["with_vectors"] = True
        threshold = kwargs.get("mmr_threshold", query.mmr_threshold)
        return _Search(list(query.query_embedding), options, top_k, mmr, threshold)

    def result(self, records: Sequence[MemoryRecord]) -> VectorStoreQueryResult:
        if self.mmr and records and self.vector is not None:
            scores, ids = get_top_k_mmr_embeddings(
                self.vector,
                [(r.vectors or {})[DEFAULT_VECTOR] for r in records],
                similarity_top_k=self.top_k,
                embedding_ids=[r.id for r in records],
                mmr_threshold=self.mmr_threshold,
            )
            by_id = {r.id: r for r in records}
            records = [by_id[i] for i in ids]
        else:
            scores = [r.score if r.score is not None else 0.0 for r in records]
        return VectorStoreQueryResult(
            nodes=[to_node(r) for r in records], similarities=[float(s) for s in scores], ids=[r.id for r in records]
        )


def _alpha_weights(alpha: object) -> tuple[float, float]:
    """LlamaIndex's ``alpha`` (1: dense only, 0: sparse only) as the fusion's (dense, sparse) weights."""
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 <= alpha <= 1:
        raise InvalidInputError(f"alpha weighs dense against sparse: a number from 0 to 1, got {alpha!r}")
    return (float(alpha), 1.0 - float(alpha))


def model_name(embed_model: BaseEmbedding | str | None) -> str | None:
    """What the events record for ``embed_model``: omega's own name for the hash embedding (so
    omega can embed text the same way), else ``llama_index:<class>:<model_name>``."""
    if embed_model is None or isinstance(embed_model, str):
        return embed_model
    if isinstance(embed_model, OmegaHashEmbedding):
        return f"hash:{embed_model.dimension}"
    name = f"llama_index:{type(embed_model).__name__}"
    return f"{name}:{embed_model.model_name}" if embed_model.model_name else name
