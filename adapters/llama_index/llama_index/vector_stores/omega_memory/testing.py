"""The OmegaMemoryVectorStore contract as tests, shipped so any Memory backend can be checked.

Subclass :class:`VectorStoreConformance` and provide a ``memory`` fixture yielding an open, empty
:class:`~omega_memory_plugin.Memory`; every test then runs against that backend::

    class TestMyBackend(VectorStoreConformance):
        @pytest.fixture
        def memory(self, tmp_path):
            with Memory(log_url=..., index_url=...) as memory:
                yield memory

Filter expectations are written out by hand (not computed by a reference evaluator), so the suite
also pins down what each LlamaIndex operator means for this store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, IndexNode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn

from omega_memory_plugin import Memory
from omega_memory_plugin.errors import FilterError, InvalidIdError, InvalidMetadataError, InvalidVectorError

from .base import OmegaMemoryVectorStore
from .embeddings import OmegaHashEmbedding

Op = FilterOperator
DIM = 4

# Ids are deliberately not UUIDs: any string is a node id.
GREEN, COFFEE, ICED, WATER, NOTE, BARE = "tea:green", "coffee/black #1", "tea iced", "wäter 💧", "note-22", "bare"
ALL_IDS = {GREEN, COFFEE, ICED, WATER, NOTE, BARE}
NODE_DATA: list[tuple[str, str, dict[str, Any], str | None]] = [
    (
        GREEN,
        "green tea from Japan",
        {"topic": "tea", "year": 2021, "score": 4.5, "tags": ["green", "hot"], "author": "ada"},
        "doc-1",
    ),
    (
        COFFEE,
        "black coffee, strong",
        {"topic": "coffee", "year": 2019, "score": 3.0, "tags": ["hot"], "author": "bob"},
        "doc-1",
    ),
    (ICED, "iced tea with lemon", {"topic": "tea", "year": 2024, "tags": [], "author": "Ada Lovelace"}, "doc-2"),
    (WATER, "a glass of water", {"topic": "water", "year": 2020, "score": None, "title": "Water"}, "doc-2"),
    (NOTE, "a note without a topic", {"year": 2022, "note": "no topic", "title": ""}, "doc-3"),
    (BARE, "nothing but text", {}, None),
]


def _f(key: str, value: Any, op: FilterOperator = Op.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


def _all(
    *filters: MetadataFilter | MetadataFilters, condition: FilterCondition = FilterCondition.AND
) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


# (filters, ids expected): each operator with cases that select and cases that select nothing.
FILTER_CASES: list[tuple[MetadataFilters, set[str]]] = [
    (_all(_f("topic", "tea")), {GREEN, ICED}),
    (_all(_f("topic", "juice")), set()),
    (_all(_f("year", 2021)), {GREEN}),
    (_all(_f("score", 4.5)), {GREEN}),
    (_all(_f("topic", "tea", Op.NE)), {COFFEE, WATER, NOTE, BARE}),  # a missing key is "not equal"
    (_all(_f("year", 1900, Op.NE)), ALL_IDS),
    (_all(_f("year", 2021, Op.GT)), {ICED, NOTE}),
    (_all(_f("year", 2024, Op.GT)), set()),
    (_all(_f("year", 2021, Op.GTE)), {GREEN, ICED, NOTE}),
    (_all(_f("year", 2020, Op.LT)), {COFFEE}),
    (_all(_f("year", 2019, Op.LT)), set()),
    (_all(_f("year", 2020, Op.LTE)), {COFFEE, WATER}),
    (_all(_f("score", 3.5, Op.LTE)), {COFFEE}),
    (_all(_f("topic", ["tea", "water"], Op.IN)), {GREEN, ICED, WATER}),
    (_all(_f("topic", ["juice"], Op.IN)), set()),
    (_all(_f("year", [2019, 2024], Op.IN)), {COFFEE, ICED}),
    (_all(_f("topic", ["tea", "water"], Op.NIN)), {COFFEE, NOTE, BARE}),
    (_all(_f("tags", ["green", "cold"], Op.ANY)), {GREEN}),
    (_all(_f("tags", ["cold"], Op.ANY)), set()),
    (_all(_f("tags", ["green", "hot"], Op.ALL)), {GREEN}),
    (_all(_f("tags", ["hot"], Op.ALL)), {GREEN, COFFEE}),
    (_all(_f("tags", ["green", "cold"], Op.ALL)), set()),
    (_all(_f("tags", "hot", Op.CONTAINS)), {GREEN, COFFEE}),
    (_all(_f("tags", "cold", Op.CONTAINS)), set()),
    (_all(_f("tags", "ho", Op.CONTAINS)), set()),  # an element equal to the value, not a substring
    (_all(_f("author", "Love", Op.CONTAINS)), {ICED}),  # a string field: a substring (Python's `in`)
    (_all(_f("author", "ada", Op.CONTAINS)), {GREEN}),
    (_all(_f("year", 2020, Op.CONTAINS)), {WATER}),
    (_all(_f("author", "Ada", Op.TEXT_MATCH)), {ICED}),  # case-sensitive substring
    (_all(_f("author", "ada", Op.TEXT_MATCH)), {GREEN}),
    (_all(_f("note", "o top", Op.TEXT_MATCH)), {NOTE}),  # not whole words: a substring
    (_all(_f("author", "zed", Op.TEXT_MATCH)), set()),
    (_all(_f("author", "ADA", Op.TEXT_MATCH_INSENSITIVE)), {GREEN, ICED}),  # either case
    (_all(_f("note", "O TOP", Op.TEXT_MATCH_INSENSITIVE)), {NOTE}),
    (_all(_f("author", "zed", Op.TEXT_MATCH_INSENSITIVE)), set()),
    (_all(_f("tags", None, Op.IS_EMPTY)), {ICED, WATER, NOTE, BARE}),  # missing or []
    (_all(_f("score", None, Op.IS_EMPTY)), {ICED, WATER, NOTE, BARE}),  # missing or null
    (_all(_f("topic", None, Op.IS_EMPTY)), {NOTE, BARE}),
    (_all(_f("title", None, Op.IS_EMPTY)), {GREEN, COFFEE, ICED, NOTE, BARE}),  # "" is empty too
    (_all(_f("topic", "tea"), _f("year", 2022, Op.LT)), {GREEN}),
    (_all(_f("topic", "coffee"), _f("year", 2022, Op.GTE), condition=FilterCondition.OR), {COFFEE, ICED, NOTE}),
    (_all(_f("topic", "tea"), _f("year", 2020, Op.LT), condition=FilterCondition.NOT), {WATER, NOTE, BARE}),
    (
        _all(
            _f("topic", "tea"),
            _all(_f("year", 2022, Op.GT), _f("author", "ad", Op.TEXT_MATCH), condition=FilterCondition.OR),
        ),
        {GREEN, ICED},
    ),
    (
        _all(
            _all(_f("topic", "tea"), _f("topic", "water"), condition=FilterCondition.OR),
            _all(_f("tags", None, Op.IS_EMPTY), condition=FilterCondition.NOT),
        ),
        {GREEN},
    ),
    (_all(), ALL_IDS),  # no filters: everything
]


def simple_selection(filters: MetadataFilters) -> set[str]:
    """The ids ``SimpleVectorStore`` selects with ``filters`` from the nodes of :data:`NODE_DATA`."""
    metadata = {node_id: data for node_id, _, data, _ in NODE_DATA}
    keep = build_metadata_filter_fn(metadata.__getitem__, filters)
    return {node_id for node_id in metadata if keep(node_id)}


def _simple_answers(filters: MetadataFilters) -> bool:
    """Whether the reference answers (it takes no nested filters, and raises on some type mixes)."""
    if any(isinstance(f, MetadataFilters) for f in filters.filters):
        return False
    try:
        simple_selection(filters)
    except (TypeError, ValueError):
        return False
    return True


def label(filters: MetadataFilters) -> str:
    """A short test id: ``AND(topic == tea, year < 2022)``."""
    parts = [
        label(f) if isinstance(f, MetadataFilters) else f"{f.key} {f.operator.value} {f.value!r}"
        for f in filters.filters
    ]
    return f"{(filters.condition or FilterCondition.AND).name}({', '.join(parts)})"


# The cases the reference evaluates: each answer must be LlamaIndex's own.
SIMPLE_CASES = [(f, expected) for f, expected in FILTER_CASES if _simple_answers(f)]

# Filters the store cannot honour, and what the error must name.
BAD_FILTERS: list[tuple[MetadataFilters, str]] = [
    (_all(_f("author", "", Op.TEXT_MATCH_INSENSITIVE)), "TEXT_MATCH_INSENSITIVE"),
    (_all(_f("date", "2024-01-01", Op.GT)), "date"),
    (_all(_f("topic", "tea", Op.IN)), "IN"),
    (_all(_f("topic", [], Op.NIN)), "NIN"),
    (_all(_f("tags", [], Op.ALL)), "ALL"),
    (_all(_f("topic", ["tea"], Op.EQ)), "topic"),
    (_all(_f("author", "", Op.TEXT_MATCH)), "TEXT_MATCH"),
    (_all(_f("topic", "tea"), _all(_f("x", 3, Op.TEXT_MATCH_INSENSITIVE))), "TEXT_MATCH_INSENSITIVE"),
]


def vector(seed: int, dim: int = DIM) -> list[float]:
    values = np.random.default_rng(seed).normal(size=dim)
    return [float(x) for x in values / np.linalg.norm(values)]


def make_nodes() -> list[TextNode]:
    nodes = []
    for i, (node_id, text, metadata, doc) in enumerate(NODE_DATA):
        relationships = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc)} if doc else {}
        nodes.append(
            TextNode(id_=node_id, text=text, metadata=metadata, relationships=relationships, embedding=vector(i))
        )
    return nodes


def log_position(memory: Memory) -> int:
    return memory._engine.run(memory.log.last_position())


def ids(result: VectorStoreQueryResult) -> list[str]:
    return list(result.ids or [])


def same_nodes(got: Sequence[BaseNode], expected: Sequence[BaseNode]) -> bool:
    """Equal as LlamaIndex serialises them; embeddings equal to float32 precision (as stored)."""
    if [n.model_dump(exclude={"embedding"}) for n in got] != [n.model_dump(exclude={"embedding"}) for n in expected]:
        return False
    return all(
        (a.embedding is None) == (b.embedding is None)
        and (a.embedding is None or np.allclose(a.embedding, b.embedding or [], atol=1e-6))
        for a, b in zip(got, expected, strict=True)
    )


class VectorStoreConformance:
    """Subclasses provide a ``memory`` fixture yielding an open, empty Memory."""

    @pytest.fixture
    def store(self, memory: Memory) -> OmegaMemoryVectorStore:
        return OmegaMemoryVectorStore(memory, namespace="tests")

    @pytest.fixture
    def loaded(self, store: OmegaMemoryVectorStore) -> OmegaMemoryVectorStore:
        store.add(make_nodes())
        return store

    def _everything(self, k: int = 20) -> VectorStoreQuery:
        return VectorStoreQuery(query_embedding=vector(0), similarity_top_k=k)

    # -- writing and reading back -----------------------------------------------------------------

    def test_add_keeps_id_text_metadata_and_relationships(self, store: OmegaMemoryVectorStore) -> None:
        nodes = make_nodes()
        assert store.add(nodes) == [n.node_id for n in nodes]
        got = store.get_nodes(node_ids=[WATER, GREEN, "missing"])
        assert same_nodes(got, [nodes[3], nodes[0]])  # embeddings included, as LlamaIndex's Qdrant store does
        assert got[1].ref_doc_id == "doc-1" and got[1].metadata == NODE_DATA[0][2]
        (filtered,) = store.get_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="author", value="ada")]))
        assert filtered.embedding is not None and np.allclose(filtered.embedding, nodes[0].embedding or [], atol=1e-6)

    async def test_async_add_and_sync_reads_see_the_same_data(self, store: OmegaMemoryVectorStore) -> None:
        nodes = make_nodes()
        assert await store.async_add(nodes[:3]) == [n.node_id for n in nodes[:3]]
        store.add(nodes[3:])
        assert same_nodes(store.get_nodes(node_ids=[GREEN, BARE]), [nodes[0], nodes[5]])
        assert same_nodes(await store.aget_nodes(node_ids=[BARE, GREEN]), [nodes[5], nodes[0]])
        query = self._everything()
        sync, async_ = store.query(query), await store.aquery(query)
        assert ids(sync) == ids(async_) and set(ids(sync)) == ALL_IDS
        assert sync.similarities == pytest.approx(async_.similarities)

    def test_stored_metadata_is_the_users_keys_plus_what_rebuilds_the_node(
        self, loaded: OmegaMemoryVectorStore
    ) -> None:
        (record,) = loaded.memory.get(GREEN, namespace="tests", collection=loaded.collection)
        assert record.text == "green tea from Japan"
        assert {k: record.metadata[k] for k in NODE_DATA[0][2]} == NODE_DATA[0][2]
        assert record.metadata[loaded.NODE_ID_KEY] == GREEN and record.metadata[loaded.REF_DOC_ID_KEY] == "doc-1"

    def test_readding_a_node_replaces_it(self, loaded: OmegaMemoryVectorStore) -> None:
        loaded.add([TextNode(id_=GREEN, text="matcha", metadata={"topic": "tea"}, embedding=vector(7))])
        (node,) = loaded.get_nodes(node_ids=[GREEN])
        assert (node.get_content(), node.metadata) == ("matcha", {"topic": "tea"})
        assert len(loaded.get_nodes()) == len(ALL_IDS)

    def test_nodes_without_text_round_trip(self, store: OmegaMemoryVectorStore) -> None:
        blank = [
            IndexNode(id_="index-node", text="", index_id="sub-index", embedding=vector(1)),
            TextNode(id_="spaces", text="   ", metadata={"k": 1}, embedding=vector(2)),
        ]
        store.add(blank)
        got = store.get_nodes(node_ids=["index-node", "spaces"])
        assert same_nodes(got, blank)
        assert isinstance(got[0], IndexNode) and got[0].index_id == "sub-index"
        result = store.query(VectorStoreQuery(query_embedding=vector(1), similarity_top_k=1))
        assert ids(result) == ["index-node"] and result.nodes is not None and result.nodes[0].get_content() == ""

    def test_memories_written_without_the_adapter_read_as_text_nodes(self, store: OmegaMemoryVectorStore) -> None:
        store.memory.upsert(
            "plain memory",
            id="m1",
            vectors=vector(3),
            metadata={"k": "v"},
            namespace="tests",
            collection=store.collection,
        )
        (node,) = store.get_nodes(node_ids=["m1"])
        assert isinstance(node, TextNode) and (node.node_id, node.text, node.metadata) == (
            "m1",
            "plain memory",
            {"k": "v"},
        )

    def test_namespaces_are_separate_stores(self, loaded: OmegaMemoryVectorStore) -> None:
        other = OmegaMemoryVectorStore(loaded.memory, namespace="someone-else")
        assert ids(other.query(self._everything())) == [] and other.get_nodes() == []
        other.add([TextNode(id_=GREEN, text="theirs", embedding=vector(0))])
        loaded.clear()
        assert [n.get_content() for n in other.get_nodes()] == ["theirs"]

    # -- querying ---------------------------------------------------------------------------------

    def test_query_returns_nearest_first_with_nodes_and_scores(self, loaded: OmegaMemoryVectorStore) -> None:
        result = loaded.query(VectorStoreQuery(query_embedding=vector(2), similarity_top_k=3))
        assert ids(result)[0] == ICED and len(ids(result)) == 3
        assert result.similarities is not None and result.similarities[0] == pytest.approx(1.0, abs=1e-5)
        assert result.similarities == sorted(result.similarities, reverse=True)
        assert result.nodes is not None and [n.node_id for n in result.nodes] == ids(result)
        assert result.nodes[0].get_content() == "iced tea with lemon" and result.nodes[0].ref_doc_id == "doc-2"

    async def test_query_on_an_empty_store_is_empty(self, store: OmegaMemoryVectorStore) -> None:
        for result in (store.query(self._everything()), await store.aquery(self._everything())):
            assert (result.ids, result.similarities, result.nodes) == ([], [], [])
        OmegaMemoryVectorStore(store.memory, namespace="elsewhere").add(make_nodes()[:1])
        assert ids(store.query(self._everything())) == []  # the collection exists, this namespace is empty

    @pytest.mark.parametrize(("filters", "expected"), FILTER_CASES, ids=[label(f) for f, _ in FILTER_CASES])
    async def test_filter(self, loaded: OmegaMemoryVectorStore, filters: MetadataFilters, expected: set[str]) -> None:
        query = VectorStoreQuery(query_embedding=vector(0), similarity_top_k=20, filters=filters)
        assert set(ids(loaded.query(query))) == expected
        assert set(ids(await loaded.aquery(query))) == expected
        assert {n.node_id for n in loaded.get_nodes(filters=filters)} == expected
        assert {n.node_id for n in await loaded.aget_nodes(filters=filters)} == expected

    @pytest.mark.parametrize("filters, expected", SIMPLE_CASES, ids=[label(f) for f, _ in SIMPLE_CASES])
    def test_flat_filters_select_what_simple_vector_store_selects(
        self, loaded: OmegaMemoryVectorStore, filters: MetadataFilters, expected: set[str]
    ) -> None:
        """LlamaIndex's own semantics (``SimpleVectorStore``'s filter function) is the reference."""
        assert {n.node_id for n in loaded.get_nodes(filters=filters)} == expected == simple_selection(filters)

    @pytest.mark.parametrize(("filters", "named"), BAD_FILTERS, ids=[n for _, n in BAD_FILTERS])
    async def test_filters_the_store_cannot_honour_raise(
        self, loaded: OmegaMemoryVectorStore, filters: MetadataFilters, named: str
    ) -> None:
        before = log_position(loaded.memory)
        query = VectorStoreQuery(query_embedding=vector(0), similarity_top_k=5, filters=filters)
        with pytest.raises(FilterError, match=named):
            loaded.query(query)
        with pytest.raises(FilterError, match=named):
            await loaded.aquery(query)
        with pytest.raises(FilterError, match=named):
            loaded.get_nodes(filters=filters)
        with pytest.raises(FilterError, match=named):
            loaded.delete_nodes(filters=filters)
        with pytest.raises(FilterError, match=named):
            await loaded.adelete_nodes(node_ids=[GREEN], filters=filters)
        assert log_position(loaded.memory) == before and len(loaded.get_nodes()) == len(ALL_IDS)

    async def test_node_ids_and_doc_ids_restrict_a_query(self, loaded: OmegaMemoryVectorStore) -> None:
        tea = _all(_f("topic", "tea"))
        cases = [
            (VectorStoreQuery(query_embedding=vector(0), similarity_top_k=9, node_ids=[GREEN, WATER]), {GREEN, WATER}),
            (
                VectorStoreQuery(query_embedding=vector(0), similarity_top_k=9, node_ids=[GREEN, WATER], filters=tea),
                {GREEN},
            ),
            (VectorStoreQuery(query_embedding=vector(0), similarity_top_k=9, doc_ids=["doc-2"]), {ICED, WATER}),
            (
                VectorStoreQuery(
                    query_embedding=vector(0), similarity_top_k=9, doc_ids=["doc-2", "doc-3"], filters=tea
                ),
                {ICED},
            ),
            (VectorStoreQuery(query_embedding=vector(0), similarity_top_k=9, doc_ids=["doc-9"]), set()),
            (
                VectorStoreQuery(query_embedding=vector(0), similarity_top_k=9, node_ids=[NOTE], doc_ids=["doc-1"]),
                set(),
            ),
            # LlamaIndex's retriever passes node_ids=[] to mean "no restriction"
            (VectorStoreQuery(query_embedding=vector(0), similarity_top_k=9, node_ids=[]), ALL_IDS),
        ]
        for query, expected in cases:
            assert set(ids(loaded.query(query))) == expected, query
            assert set(ids(await loaded.aquery(query))) == expected, query

    def test_similarity_top_k_limits_the_answer(self, loaded: OmegaMemoryVectorStore) -> None:
        assert len(ids(loaded.query(self._everything(k=2)))) == 2

    async def test_semantic_hybrid_is_not_supported(self, loaded: OmegaMemoryVectorStore) -> None:
        mode = VectorStoreQueryMode.SEMANTIC_HYBRID  # Azure AI Search's own re-ranker
        query = VectorStoreQuery(query_embedding=vector(0), query_str="tea", similarity_top_k=2, mode=mode)
        with pytest.raises(NotImplementedError, match=mode.value):
            loaded.query(query)
        with pytest.raises(NotImplementedError, match=mode.value):
            await loaded.aquery(query)

    @pytest.mark.parametrize("mode", [VectorStoreQueryMode.SPARSE, VectorStoreQueryMode.TEXT_SEARCH])
    async def test_sparse_and_text_search_rank_by_the_words(
        self, loaded: OmegaMemoryVectorStore, mode: VectorStoreQueryMode
    ) -> None:
        query = VectorStoreQuery(query_str="iced tea with lemon", similarity_top_k=5, mode=mode)  # no embedding
        result = loaded.query(query)
        assert ids(result) == [ICED, GREEN]  # every word of the iced tea; "tea" only of the green one
        assert result.similarities is not None and result.similarities[0] > result.similarities[1] > 0
        assert ids(await loaded.aquery(query)) == ids(result)
        one = VectorStoreQuery(query_str="iced tea", similarity_top_k=5, sparse_top_k=1, mode=mode)
        assert ids(loaded.query(one)) == [ICED]  # sparse_top_k, as LlamaIndex defines it
        ada = _all(_f("author", "ada"))
        assert ids(loaded.query(VectorStoreQuery(query_str="tea", similarity_top_k=5, mode=mode, filters=ada))) == [
            GREEN
        ]

    async def test_hybrid_fuses_the_words_and_the_embedding(self, loaded: OmegaMemoryVectorStore) -> None:
        hybrid = VectorStoreQueryMode.HYBRID

        def query(**options: Any) -> VectorStoreQuery:
            defaults: dict[str, Any] = {"query_embedding": vector(3), "query_str": "iced tea", "similarity_top_k": 2}
            return VectorStoreQuery(mode=hybrid, **(defaults | options))

        fused = ids(loaded.query(query()))
        # The embedding ranks the water (its own) then the green tea; the words, the iced tea then the
        # green tea: in both lists, the green tea comes first; the other two tie for second.
        assert fused[0] == GREEN and fused[1] in (WATER, ICED) and len(fused) == 2
        assert set(ids(await loaded.aquery(query()))) <= {GREEN, WATER, ICED}
        dense = ids(loaded.query(VectorStoreQuery(query_embedding=vector(3), similarity_top_k=2)))
        assert ids(loaded.query(query(alpha=1.0))) == dense  # alpha 1: the embedding alone
        assert ids(loaded.query(query(alpha=0.0))) == [ICED, GREEN]  # alpha 0: the words alone
        assert len(ids(loaded.query(query(hybrid_top_k=4)))) == 3  # 2 dense and 2 sparse, one in both
        assert ids(loaded.query(query(hybrid_top_k=1))) == [GREEN]
        with pytest.raises(ValueError, match="query_str"):
            loaded.query(query(query_str=None))
        with pytest.raises(ValueError, match="alpha"):
            loaded.query(query(alpha=1.5))

    def test_bad_queries_raise(self, loaded: OmegaMemoryVectorStore) -> None:
        with pytest.raises(InvalidVectorError, match="query_embedding"):
            loaded.query(VectorStoreQuery(query_str="tea", similarity_top_k=2))
        with pytest.raises(InvalidVectorError, match="dimension"):
            loaded.query(VectorStoreQuery(query_embedding=[1.0, 0.0], similarity_top_k=2))
        with pytest.raises(ValueError, match="similarity_top_k"):
            loaded.query(VectorStoreQuery(query_embedding=vector(0), similarity_top_k=0))

    # -- MMR --------------------------------------------------------------------------------------

    async def test_mmr_prefers_diverse_results(self, store: OmegaMemoryVectorStore) -> None:
        # a-twin is nearly a copy of a; b is a little less relevant but different; c is unrelated
        vectors = {
            "a": [0.95, 0.31, 0.0, 0.0],
            "a-twin": [0.94, 0.34, 0.0, 0.0],
            "b": [0.9, -0.1, 0.42, 0.0],
            "c": [0.0, 0.0, 0.0, 1.0],
        }
        store.add([TextNode(id_=k, text=k, embedding=v) for k, v in vectors.items()])
        q = [1.0, 0.0, 0.0, 0.0]
        default = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=2))
        assert ids(default) == ["a", "a-twin"]
        mmr = VectorStoreQuery(query_embedding=q, similarity_top_k=2, mode=VectorStoreQueryMode.MMR, mmr_threshold=0.5)
        expected_scores, expected_ids = get_top_k_mmr_embeddings(
            q, list(vectors.values()), similarity_top_k=2, embedding_ids=list(vectors), mmr_threshold=0.5
        )
        for result in (store.query(mmr), await store.aquery(mmr)):
            assert ids(result) == expected_ids == ["a", "b"]
            assert result.similarities == pytest.approx(expected_scores, abs=1e-5)
        # the threshold also comes as a query kwarg (VectorIndexRetriever's vector_store_kwargs)
        relevance_only = VectorStoreQuery(query_embedding=q, similarity_top_k=2, mode=VectorStoreQueryMode.MMR)
        assert ids(store.query(relevance_only, mmr_threshold=1.0)) == ["a", "a-twin"]

    def test_mmr_with_filters_and_on_an_empty_store(self, store: OmegaMemoryVectorStore) -> None:
        mmr = VectorStoreQuery(
            query_embedding=vector(0),
            similarity_top_k=3,
            mode=VectorStoreQueryMode.MMR,
            filters=_all(_f("topic", "tea")),
        )
        assert ids(store.query(mmr)) == []
        store.add(make_nodes())
        assert set(ids(store.query(mmr))) == {GREEN, ICED}

    # -- deleting ---------------------------------------------------------------------------------

    async def test_delete_by_ref_doc_id(self, loaded: OmegaMemoryVectorStore) -> None:
        before = log_position(loaded.memory)
        loaded.delete("doc-1")
        assert {n.node_id for n in loaded.get_nodes()} == ALL_IDS - {GREEN, COFFEE}
        events = [e for batch in [loaded.history(GREEN), loaded.history(COFFEE)] for e in batch[-1:]]
        assert {e.type for e in events} == {"memory.deleted"}
        assert sorted(e.position for e in events) == [before + 1, before + 2]  # one commit: adjacent
        await loaded.adelete("doc-2")
        assert {n.node_id for n in await loaded.aget_nodes()} == {NOTE, BARE}
        position = log_position(loaded.memory)
        loaded.delete("no-such-doc")
        assert log_position(loaded.memory) == position  # nothing to delete, nothing written

    async def test_delete_nodes_by_ids_filters_or_both(self, loaded: OmegaMemoryVectorStore) -> None:
        loaded.delete_nodes(node_ids=[GREEN, "missing"])
        assert GREEN not in {n.node_id for n in loaded.get_nodes()}
        await loaded.adelete_nodes(filters=_all(_f("topic", "tea")))
        assert {n.node_id for n in loaded.get_nodes()} == {COFFEE, WATER, NOTE, BARE}
        loaded.delete_nodes(node_ids=[COFFEE, WATER], filters=_all(_f("year", 2020, Op.LT)))  # both: the intersection
        assert {n.node_id for n in loaded.get_nodes()} == {WATER, NOTE, BARE}
        position = log_position(loaded.memory)
        loaded.delete_nodes(node_ids=[])  # no ids: nothing, never "everything"
        assert log_position(loaded.memory) == position
        loaded.delete_nodes()
        assert loaded.get_nodes() == []

    async def test_clear_is_one_event(self, loaded: OmegaMemoryVectorStore) -> None:
        before = log_position(loaded.memory)
        loaded.clear()
        assert log_position(loaded.memory) == before + 1
        assert ids(loaded.query(self._everything())) == [] and loaded.get_nodes() == []
        loaded.add(make_nodes()[:2])
        await loaded.aclear()
        assert await loaded.aget_nodes() == []

    async def test_get_nodes_by_ids_and_filters(self, loaded: OmegaMemoryVectorStore) -> None:
        tea = _all(_f("topic", "tea"))
        assert [n.node_id for n in loaded.get_nodes(node_ids=[ICED, COFFEE, GREEN], filters=tea)] == [ICED, GREEN]
        assert [n.node_id for n in await loaded.aget_nodes(node_ids=[GREEN, ICED], filters=tea)] == [GREEN, ICED]
        assert loaded.get_nodes(node_ids=[]) == [] and await loaded.aget_nodes(node_ids=[], filters=tea) == []
        assert len(loaded.get_nodes()) == len(ALL_IDS)

    # -- bad input: typed errors naming the problem, nothing written ------------------------------------

    async def test_a_node_without_embedding_writes_nothing(self, store: OmegaMemoryVectorStore) -> None:
        before = log_position(store.memory)
        nodes = make_nodes()
        nodes[2].embedding = None
        with pytest.raises(InvalidVectorError, match="tea iced.*no embedding"):
            store.add(nodes)
        with pytest.raises(InvalidVectorError, match="tea iced"):
            await store.async_add(nodes)
        assert log_position(store.memory) == before and store.get_nodes() == []

    async def test_a_wrong_dimension_writes_nothing(self, loaded: OmegaMemoryVectorStore) -> None:
        before = log_position(loaded.memory)
        batch = [
            TextNode(id_="ok", text="fine", embedding=vector(9)),
            TextNode(id_="wide", text="x", embedding=[0.1] * (DIM + 1)),
        ]
        with pytest.raises(InvalidVectorError, match="'wide'.*dimension 5.*dimension 4"):
            loaded.add(batch)
        with pytest.raises(InvalidVectorError, match="'wide'"):
            await loaded.async_add(batch)
        assert log_position(loaded.memory) == before and not loaded.get_nodes(node_ids=["ok"])

    def test_mixed_dimensions_in_a_first_batch_write_nothing(self, store: OmegaMemoryVectorStore) -> None:
        before = log_position(store.memory)
        with pytest.raises(InvalidVectorError, match="'b'.*dimension 3"):
            store.add(
                [
                    TextNode(id_="a", text="a", embedding=[1.0, 0.0]),
                    TextNode(id_="b", text="b", embedding=[1.0, 0.0, 0.0]),
                ]
            )
        assert log_position(store.memory) == before and store.memory.collections().get(store.collection) is None

    def test_bad_vectors_and_ids_name_the_node(self, store: OmegaMemoryVectorStore) -> None:
        before = log_position(store.memory)
        with pytest.raises(InvalidVectorError, match="'nan-node'.*non-finite"):
            store.add([TextNode(id_="nan-node", text="x", embedding=[float("nan"), 0.0, 0.0, 0.0])])
        with pytest.raises(InvalidIdError, match="limit is 512"):
            store.add([TextNode(id_="x" * 600, text="x", embedding=vector(0))])
        with pytest.raises(ValueError, match="nodes"):
            store.add(["not a node"])  # type: ignore[list-item]
        assert log_position(store.memory) == before

    @pytest.mark.parametrize(
        "metadata, message",
        [
            ({"score": float("nan")}, "must be finite"),
            ({"score": float("inf")}, "must be finite"),
            ({"who": "ada\ud800"}, "lone surrogate"),
            ({"\udfff": 1}, "lone surrogate"),
            ({"big": 2**64}, "64-bit"),
        ],
    )
    def test_metadata_the_core_refuses_is_refused_before_serialising(
        self, store: OmegaMemoryVectorStore, metadata: dict[str, Any], message: str
    ) -> None:
        # issue 9: NaN / inf were turned into null inside _node_content and written; surrogates bricked the index
        before = log_position(store.memory)
        with pytest.raises(InvalidMetadataError, match=f"'bad'.*{message}"):
            store.add(
                [
                    TextNode(id_="ok", text="x", embedding=vector(0)),
                    TextNode(id_="bad", text="y", metadata=metadata, embedding=vector(1)),
                ]
            )
        assert log_position(store.memory) == before

    # -- the log: history and replay ----------------------------------------------------------------

    def test_every_write_is_an_event_and_history_shows_it(self, loaded: OmegaMemoryVectorStore) -> None:
        loaded.add([TextNode(id_=GREEN, text="matcha", embedding=vector(0))])
        loaded.delete_nodes(node_ids=[GREEN])
        history = loaded.history(GREEN)
        assert [(e.type, e.version) for e in history] == [
            ("memory.upserted", 1),
            ("memory.upserted", 2),
            ("memory.deleted", 3),
        ]
        assert [e.data.text for e in history[:2]] == ["green tea from Japan", "matcha"]  # type: ignore[union-attr]

    async def test_replay_reproduces_the_store(self, loaded: OmegaMemoryVectorStore) -> None:
        loaded.add([TextNode(id_=WATER, text="sparkling water", metadata={"topic": "water"}, embedding=vector(11))])
        loaded.delete("doc-3")
        queries = [
            self._everything(),
            VectorStoreQuery(query_embedding=vector(3), similarity_top_k=3, filters=_all(_f("year", 2020, Op.GTE))),
            VectorStoreQuery(query_embedding=vector(1), similarity_top_k=2, mode=VectorStoreQueryMode.MMR),
        ]
        before = [loaded.query(q) for q in queries]
        nodes = loaded.get_nodes()
        assert len(await loaded.ahistory(WATER)) == 2
        loaded.memory.rebuild(progress=False)
        after = [await loaded.aquery(q) for q in queries]
        assert [ids(r) for r in after] == [ids(r) for r in before]
        assert [r.similarities for r in after] == [pytest.approx(r.similarities, abs=1e-5) for r in before]
        assert same_nodes(loaded.get_nodes(), nodes)

    def test_a_point_in_time_view_reads_the_past(self, store: OmegaMemoryVectorStore) -> None:
        store.add(make_nodes())
        position = log_position(store.memory)
        store.clear()
        with store.memory.as_of(position) as past:
            assert {n.node_id for n in OmegaMemoryVectorStore(past, namespace="tests").get_nodes()} == ALL_IDS
        assert store.get_nodes() == []

    # -- LlamaIndex end to end ----------------------------------------------------------------------

    def _documents(self) -> list[Document]:
        return [
            Document(
                id_="tea.md",
                text="Green tea is steeped at 80 degrees. Black tea takes boiling water.",
                metadata={"topic": "tea", "year": 2021},
            ),
            Document(
                id_="coffee.md",
                text="Espresso is coffee pressed through fine grounds.",
                metadata={"topic": "coffee", "year": 2023},
            ),
            Document(id_="water.md", text="Water is best served cold.", metadata={"topic": "water", "year": 2019}),
        ]

    def test_vector_store_index_end_to_end(self, store: OmegaMemoryVectorStore) -> None:
        embed = OmegaHashEmbedding(DIM * 16)
        context = StorageContext.from_defaults(vector_store=store)
        index = VectorStoreIndex.from_documents(self._documents(), storage_context=context, embed_model=embed)
        hits = index.as_retriever(similarity_top_k=1).retrieve("espresso coffee")
        assert [h.node.ref_doc_id for h in hits] == ["coffee.md"]
        recent = MetadataFilters(filters=[MetadataFilter(key="year", value=2020, operator=Op.GTE)])
        again = VectorStoreIndex.from_vector_store(store, embed_model=embed)
        assert {
            h.node.ref_doc_id for h in again.as_retriever(similarity_top_k=5, filters=recent).retrieve("water")
        } == {"tea.md", "coffee.md"}
        mmr = again.as_retriever(
            similarity_top_k=2, vector_store_query_mode="mmr", vector_store_kwargs={"mmr_threshold": 0.5}
        )
        assert len(mmr.retrieve("tea")) == 2

        changed = self._documents()
        changed[0].set_content("Oolong tea is partly oxidised.")
        assert index.refresh_ref_docs(changed) == [True, False, False]
        assert [h.node.get_content() for h in again.as_retriever(similarity_top_k=1).retrieve("oolong")] == [
            "Oolong tea is partly oxidised."
        ]
        index.delete_ref_doc("water.md")
        assert {n.ref_doc_id for n in store.get_nodes()} == {"tea.md", "coffee.md"}

    async def test_ingestion_pipeline_upserts_by_document_hash(self, store: OmegaMemoryVectorStore) -> None:
        embed = OmegaHashEmbedding(DIM * 16)

        def pipeline(docstore: SimpleDocumentStore) -> IngestionPipeline:
            return IngestionPipeline(
                transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embed],
                vector_store=store,
                docstore=docstore,
                docstore_strategy=DocstoreStrategy.UPSERTS,
            )

        docstore = SimpleDocumentStore()
        assert len(pipeline(docstore).run(documents=self._documents())) == 3
        position = log_position(store.memory)
        assert pipeline(docstore).run(documents=self._documents()) == []  # same hashes: nothing to do
        assert log_position(store.memory) == position
        changed = self._documents()
        changed[1].set_content("Filter coffee drips slowly.")
        assert len(await pipeline(docstore).arun(documents=changed)) == 1
        contents = {n.ref_doc_id: n.get_content() for n in store.get_nodes()}
        assert contents["coffee.md"] == "Filter coffee drips slowly." and len(contents) == 3
        retriever = VectorStoreIndex.from_vector_store(store, embed_model=embed).as_retriever(similarity_top_k=1)
        assert [h.node.ref_doc_id for h in await retriever.aretrieve("filter coffee")] == ["coffee.md"]
