"""A LangChain ``VectorStore`` whose every write is an event in an omega memory log.

Documents are memories: ``Document.id`` is the memory id, ``page_content`` its text and
``metadata`` its metadata, stored and returned exactly as given. Searches read the memory's
Qdrant index; the log can rebuild it at any time (``memory.rebuild()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal, TypedDict

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from omega_memory_plugin import Memory, MemoryRecord
from omega_memory_plugin.errors import InvalidInputError, InvalidVectorError
from omega_memory_plugin.events import Distance
from omega_memory_plugin.origin import writes_as
from omega_memory_plugin.staging import DEFAULT_VECTOR
from omega_memory_plugin.transaction import Transaction
from omega_memory_plugin.validation import check_text

ORIGIN = "langchain-omega-memory"  # the writer its events record (memory.explain)

DEFAULT_COLLECTION = "langchain"


class RetrievalMode(StrEnum):
    """What ranks a text query, by the names langchain-qdrant users know."""

    DENSE = "dense"  # the nearest embeddings
    SPARSE = "sparse"  # BM25 over the documents' texts: exact words, names, numbers (no embedding)
    HYBRID = "hybrid"  # both, fused (hybrid_fusion: "rrf" or "dbsf")


class _Scope(TypedDict):
    """Where a store reads and writes, as keyword arguments of the Memory's calls."""

    namespace: str
    collection: str


class OmegaMemoryVectorStore(VectorStore):
    """LangChain vector store over an event-sourced :class:`~omega_memory_plugin.Memory`.

    Args:
        memory: the Memory to read and write (embedded, or Mongo log + Qdrant server).
        embedding: any LangChain ``Embeddings``; all documents of a collection must share its
            dimension.
        namespace: the tenant scope of this store (an agent, user or session); defaults to the
            Memory's namespace. A store never sees another namespace's documents.
        collection: the memory collection (default ``"langchain"``).
        retrieval_mode: what ranks the text searches (``similarity_search`` and the retrievers):
            ``"dense"`` (default), ``"sparse"`` (BM25 over the texts) or ``"hybrid"`` (both,
            fused by ``hybrid_fusion``, ``"rrf"`` or ``"dbsf"``). Searches by vector and MMR are
            always dense. Sparse and hybrid scores are raw (BM25, fused), not relevance in [0, 1].

    Example::

        from omega_memory_plugin import Memory
        from langchain_omega_memory import OmegaMemoryVectorStore

        store = OmegaMemoryVectorStore(Memory(".omega-memory"), embeddings, namespace="user-7")
        store.add_texts(["likes green tea"], metadatas=[{"topic": "drinks"}], ids=["pref-1"])
        store.similarity_search("what does the user drink?", k=1, filter={"topic": "drinks"})
        store.as_retriever(search_type="mmr", search_kwargs={"k": 3})
        words = OmegaMemoryVectorStore(memory, embeddings, retrieval_mode="hybrid")  # finds "ORD-2291" too
    """

    def __init__(
        self,
        memory: Memory,
        embedding: Embeddings,
        *,
        namespace: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        owns_memory: bool = False,
        retrieval_mode: RetrievalMode | str = RetrievalMode.DENSE,
        hybrid_fusion: Literal["rrf", "dbsf"] = "rrf",
    ) -> None:
        self.memory = memory
        self.embedding = embedding
        self.namespace, self.collection = memory._scope(namespace, collection)
        try:
            self.retrieval_mode = RetrievalMode(retrieval_mode)
        except ValueError:
            raise InvalidInputError(
                f"retrieval_mode is 'dense', 'sparse' or 'hybrid', got {retrieval_mode!r}"
            ) from None
        if hybrid_fusion not in ("rrf", "dbsf"):
            raise InvalidInputError(f"hybrid_fusion is 'rrf' or 'dbsf', got {hybrid_fusion!r}")
        self.hybrid_fusion = hybrid_fusion
        self._owns_memory = owns_memory
        self._model_id = model_id(embedding)

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    def close(self) -> None:
        """Close the Memory if this store opened it (``from_texts`` without ``memory=``)."""
        if self._owns_memory:
            self.memory.close()

    # -- writing -------------------------------------------------------------------------------

    @writes_as(ORIGIN)
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store texts as one atomic commit; return their ids.

        Ids are kept as given (any string); ``None`` entries get a new id; an existing id is
        overwritten (a new version of that memory, its history kept in the log). With
        ``idempotency_key=...``, calling again with the same texts (a retry) writes nothing and
        returns the same ids.
        """
        key = kwargs.pop("idempotency_key", None)
        texts, aligned, given = self._align(texts, metadatas, ids, kwargs)
        if not texts:
            return []
        vectors = _check_embedded(self.embedding.embed_documents(texts), len(texts))
        tx, filled = self._staged(texts, aligned, given, vectors, key)
        tx.commit()
        return filled

    @writes_as(ORIGIN)
    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        key = kwargs.pop("idempotency_key", None)
        texts, aligned, given = self._align(texts, metadatas, ids, kwargs)
        if not texts:
            return []
        vectors = _check_embedded(await self.embedding.aembed_documents(texts), len(texts))
        tx, filled = self._staged(texts, aligned, given, vectors, key)
        await tx.acommit()
        return filled

    def _staged(
        self,
        texts: list[str],
        metadatas: list[dict[str, Any]],
        ids: list[str | None],
        vectors: list[list[float]],
        idempotency_key: str | None,
    ) -> tuple[Transaction, list[str]]:
        # Every write is checked while staged, so a bad document raises before anything is appended.
        # Ids not given are made by the transaction (derived from the key, if there is one).
        tx = self.memory.transaction(idempotency_key=idempotency_key)
        filled = [
            tx.upsert(
                text, id=memory_id, vectors=vector, metadata=metadata, embedding_model=self._model_id, **self._scope
            )
            for text, metadata, memory_id, vector in zip(texts, metadatas, ids, vectors, strict=True)
        ]
        return tx, filled

    @writes_as(ORIGIN)
    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete these ids (missing ones are ignored). ``ids`` is required: other LangChain stores
        do nothing or fail without it, so it never means "everything"; :meth:`clear` empties the
        namespace."""
        _no_options(kwargs, "delete")
        self.memory.delete(_check_ids(_required(ids)), **self._scope)
        return True

    @writes_as(ORIGIN)
    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        _no_options(kwargs, "adelete")
        await self.memory.adelete(_check_ids(_required(ids)), **self._scope)
        return True

    @writes_as(ORIGIN)
    def clear(self) -> None:
        """Delete every document of this store's namespace (one ``namespace.erased`` event; the
        history stays in the log)."""
        self.memory.erase_namespace(self.namespace, collection=self.collection)

    @writes_as(ORIGIN)
    async def aclear(self) -> None:
        await self.memory.aerase_namespace(self.namespace, collection=self.collection)

    # -- reading -------------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids; missing ids are left out."""
        return [_document(r) for r in self.memory.get(_check_ids(ids), **self._scope)]

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [_document(r) for r in await self.memory.aget(_check_ids(ids), **self._scope)]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Documents most similar to ``query``; ``filter={"topic": {"$in": [...]}}`` narrows them."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """Documents with the index's raw score (cosine/dot: higher is closer; euclid: a distance;
        sparse: BM25; hybrid: the fused score), ranked by the store's ``retrieval_mode``."""
        if self.retrieval_mode is RetrievalMode.DENSE:
            return self.similarity_search_with_score_by_vector(self.embedding.embed_query(query), k, **kwargs)
        vector = None if self.retrieval_mode is RetrievalMode.SPARSE else self.embedding.embed_query(query)
        records = self.memory.search(vector, **self._text_options(query, k, kwargs))
        return [(_document(r), r.score) for r in records]  # type: ignore[misc]

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        if self.retrieval_mode is RetrievalMode.DENSE:
            vector = await self.embedding.aembed_query(query)
            return await self.asimilarity_search_with_score_by_vector(vector, k, **kwargs)
        dense = None if self.retrieval_mode is RetrievalMode.SPARSE else await self.embedding.aembed_query(query)
        records = await self.memory.asearch(dense, **self._text_options(query, k, kwargs))
        return [(_document(r), r.score) for r in records]  # type: ignore[misc]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, **kwargs)]

    async def asimilarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in await self.asimilarity_search_with_score_by_vector(embedding, k, **kwargs)]

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        records = self.memory.search(embedding, **self._search_options(k, kwargs))
        return [(_document(r), r.score) for r in records]  # type: ignore[misc]

    async def asimilarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        records = await self.memory.asearch(embedding, **self._search_options(k, kwargs))
        return [(_document(r), r.score) for r in records]  # type: ignore[misc]

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """``k`` documents chosen among the ``fetch_k`` closest for relevance and diversity
        (``lambda_mult`` 1 = relevance only, 0 = diversity only)."""
        vector = self.embedding.embed_query(query)
        return self.max_marginal_relevance_search_by_vector(vector, k, fetch_k, lambda_mult, **kwargs)

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        vector = await self.embedding.aembed_query(query)
        return await self.amax_marginal_relevance_search_by_vector(vector, k, fetch_k, lambda_mult, **kwargs)

    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        options = self._search_options(max(fetch_k, k), kwargs)
        return _mmr(embedding, self.memory.search(embedding, with_vectors=True, **options), k, lambda_mult)

    async def amax_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        options = self._search_options(max(fetch_k, k), kwargs)
        return _mmr(embedding, await self.memory.asearch(embedding, with_vectors=True, **options), k, lambda_mult)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self.retrieval_mode is not RetrievalMode.DENSE:
            raise NotImplementedError(
                f"relevance scores in [0, 1] exist for dense retrieval; a {self.retrieval_mode.value} store's scores "
                "are raw (BM25 or fused): use similarity_search_with_score, or a dense store"
            )
        schema = self.memory.collections().get(self.collection)
        distance = schema.distance if schema else Distance(self.memory.settings.distance)
        if distance is Distance.EUCLID:
            return lambda d: _clamp(self._euclidean_relevance_score_fn(d))
        return _clamp  # Qdrant already returns a similarity for cosine and dot

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        memory: Memory | None = None,
        namespace: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        **memory_options: Any,
    ) -> OmegaMemoryVectorStore:
        """A store holding ``texts``. Without ``memory=``, opens one from ``memory_options``
        (``path=``, ``log_url=``, ``index_url=``; the embedded default otherwise) that
        :meth:`close` closes. ``collection_name=`` (langchain-qdrant's word) names the collection.

        Example: ``OmegaMemoryVectorStore.from_texts(texts, embeddings, path="./m", collection_name="docs")``
        """
        store = cls._open(embedding, memory, namespace, collection, memory_options)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: Sequence[str | None] | None = None,
        memory: Memory | None = None,
        namespace: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        **memory_options: Any,
    ) -> OmegaMemoryVectorStore:
        store = cls._open(embedding, memory, namespace, collection, memory_options)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def _open(
        cls,
        embedding: Embeddings,
        memory: Memory | None,
        namespace: str | None,
        collection: str,
        memory_options: dict[str, Any],
    ) -> OmegaMemoryVectorStore:
        name = memory_options.pop("collection_name", None)
        if name is not None:
            if collection != DEFAULT_COLLECTION and collection != name:
                raise InvalidInputError(f"collection={collection!r} and collection_name={name!r} differ: pass one")
            collection = name
        if memory is not None and memory_options:
            raise InvalidInputError(f"pass either memory= or options to open one, not both: {sorted(memory_options)}")
        owns = memory is None
        memory = memory or Memory(**memory_options)
        return cls(memory, embedding, namespace=namespace, collection=collection, owns_memory=owns)

    # -- helpers -------------------------------------------------------------------------------

    def _align(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None,
        ids: Sequence[str | None] | None,
        kwargs: dict[str, Any],
    ) -> tuple[list[str], list[dict[str, Any]], list[str | None]]:
        """Check that texts, metadatas and ids line up, and check the texts before they reach the
        embeddings (which would fail on a non-string in their own way)."""
        _no_options(kwargs, "add_texts")
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a list of strings, not one string; wrap it: [text]")
        max_bytes = self.memory.settings.max_text_bytes
        texts = [check_text(text, max_bytes) for text in texts]
        if metadatas is None:
            metadatas = [{} for _ in texts]
        if len(metadatas) != len(texts):
            raise InvalidInputError(
                f"got {len(texts)} texts but {len(metadatas)} metadatas; give one metadata per text"
            )
        if ids is None:
            ids = [None] * len(texts)
        if isinstance(ids, str) or len(ids) != len(texts):
            raise InvalidInputError(f"got {len(texts)} texts but {len(ids)} ids; give one id (or None) per text")
        _check_ids([i for i in ids if i is not None])
        return texts, list(metadatas), list(ids)

    @property
    def _scope(self) -> _Scope:
        return {"namespace": self.namespace, "collection": self.collection}

    def _text_options(self, query: str, k: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        mode = self.retrieval_mode.value
        return {"text": query, "mode": mode, "fusion": self.hybrid_fusion, **self._search_options(k, kwargs)}

    def _search_options(self, k: int, kwargs: dict[str, Any]) -> dict[str, Any]:
        options = {"limit": k, "filter": kwargs.pop("filter", None), **self._scope}
        if "score_threshold" in kwargs:
            options["score_threshold"] = kwargs.pop("score_threshold")
        _no_options(kwargs, "search")
        return options


def model_id(embeddings: Embeddings) -> str:
    """What every event records as its embedding model: the class, and the model name if it has one
    (``langchain:OpenAIEmbeddings:text-embedding-3-small``), so a replay knows what to re-embed."""
    name = f"langchain:{type(embeddings).__name__}"
    for attribute in ("model", "model_name", "model_id", "deployment"):
        value = getattr(embeddings, attribute, None)
        if isinstance(value, str) and value:
            return f"{name}:{value}"
    return name


def _document(record: MemoryRecord) -> Document:
    return Document(id=record.id, page_content=record.text, metadata=record.metadata)


def _clamp(score: float) -> float:
    # float32 rounding puts an identical vector at 1.0000002, and opposite ones score below 0:
    # relevance is documented as [0, 1], which thresholds rely on.
    return min(1.0, max(0.0, score))


def _mmr(query: list[float], records: list[MemoryRecord], k: int, lambda_mult: float) -> list[Document]:
    if not records:
        return []
    candidates = [r.vectors[DEFAULT_VECTOR] for r in records]  # type: ignore[index]
    chosen = maximal_marginal_relevance(np.asarray(query, dtype=np.float32), candidates, lambda_mult, k)
    return [_document(records[i]) for i in chosen]


def _required(ids: list[str] | None) -> list[str]:
    if ids is None:
        raise InvalidInputError(
            "delete() needs the ids of the documents to delete; to delete every document of this store's "
            "namespace, call clear()"
        )
    return ids


def _check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str):
        raise InvalidInputError("ids must be a list of strings, not one string; wrap it: [id]")
    return list(ids)  # each id is checked by the Memory, before anything is written


def _check_embedded(vectors: Sequence[Sequence[float]], expected: int) -> list[list[float]]:
    vectors = list(vectors)
    if len(vectors) != expected:
        raise InvalidVectorError(f"the embeddings returned {len(vectors)} vectors for {expected} texts")
    return vectors  # type: ignore[return-value]


def _no_options(kwargs: Mapping[str, Any], method: str) -> None:
    if kwargs:
        raise TypeError(f"{method}() got options it does not support: {sorted(kwargs)}")
