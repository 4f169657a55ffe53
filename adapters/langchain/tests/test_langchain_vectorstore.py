"""Behaviour of OmegaMemoryVectorStore beyond the standard suite: filters, MMR, retrievers,
namespaces, native async, and the event log underneath."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from conftest import log_position
from langchain_omega_memory import (
    LangChainEmbedder,
    OmegaChatMessageHistory,
    OmegaHashEmbeddings,
    OmegaMemoryVectorStore,
    RetrievalMode,
)
from langchain_omega_memory.vectorstores import model_id
from omega_memory_plugin import InvalidInputError, Memory

TEAS = [
    Document(id="green", page_content="green tea from japan", metadata={"kind": "tea", "year": 2019, "tags": ["hot"]}),
    Document(
        id="black", page_content="black tea from india", metadata={"kind": "tea", "year": 2021, "tags": ["hot", "milk"]}
    ),
    Document(id="iced", page_content="iced tea with lemon", metadata={"kind": "tea", "year": 2023, "tags": ["cold"]}),
    Document(id="espresso", page_content="espresso coffee from italy", metadata={"kind": "coffee", "year": 2020}),
    Document(
        id="latte", page_content="latte coffee with milk", metadata={"kind": "coffee", "year": 2022, "tags": ["milk"]}
    ),
]


def ids_of(docs: list[Document]) -> set[str]:
    return {d.id for d in docs}  # type: ignore[misc]


FILTERS = [
    ({"kind": "coffee"}, {"espresso", "latte"}),
    ({"kind": {"$eq": "tea"}}, {"green", "black", "iced"}),
    ({"kind": {"$ne": "tea"}}, {"espresso", "latte"}),
    ({"year": {"$gt": 2021}}, {"iced", "latte"}),
    ({"year": {"$gte": 2021}}, {"black", "iced", "latte"}),
    ({"year": {"$lt": 2020}}, {"green"}),
    ({"year": {"$lte": 2020}}, {"green", "espresso"}),
    ({"kind": {"$in": ["juice", "water"]}}, set()),
    ({"year": {"$in": [2019, 2022]}}, {"green", "latte"}),
    ({"year": {"$nin": [2019, 2022]}}, {"black", "iced", "espresso"}),
    ({"tags": "milk"}, {"black", "latte"}),
    ({"$and": [{"kind": "tea"}, {"year": {"$gte": 2020}}]}, {"black", "iced"}),
    ({"$or": [{"kind": "coffee"}, {"tags": "cold"}]}, {"espresso", "latte", "iced"}),
    ({"kind": "tea", "year": 2021}, {"black"}),
]


@pytest.mark.parametrize(("where", "expected"), FILTERS, ids=[str(f) for f, _ in FILTERS])
def test_filter_operators(store: OmegaMemoryVectorStore, where: dict, expected: set[str]) -> None:
    store.add_documents(TEAS)
    assert ids_of(store.similarity_search("tea coffee", k=10, filter=where)) == expected


@pytest.mark.parametrize(("where", "expected"), FILTERS[:4], ids=[str(f) for f, _ in FILTERS[:4]])
async def test_filter_operators_async(store: OmegaMemoryVectorStore, where: dict, expected: set[str]) -> None:
    await store.aadd_documents(TEAS)
    assert ids_of(await store.asimilarity_search("tea coffee", k=10, filter=where)) == expected


def test_search_ranks_by_similarity_and_scores(store: OmegaMemoryVectorStore) -> None:
    store.add_documents(TEAS)
    (best, score), *rest = store.similarity_search_with_score("iced tea lemon", k=3)
    assert best.id == "iced" and best.page_content == "iced tea with lemon"
    assert best.metadata == {"kind": "tea", "year": 2023, "tags": ["cold"]}  # exactly as stored
    assert all(score >= s for _, s in rest)
    by_vector = store.similarity_search_by_vector(OmegaHashEmbeddings(64).embed_query("iced tea lemon"), k=1)
    assert by_vector[0].id == "iced"


def test_mmr_prefers_diverse_results(store: OmegaMemoryVectorStore) -> None:
    store.add_texts(["tea tea tea", "tea tea tea", "coffee"], ids=["a", "b", "c"])
    plain = store.similarity_search("tea tea tea", k=2)
    diverse = store.max_marginal_relevance_search("tea tea tea", k=2, fetch_k=3, lambda_mult=0.1)
    assert ids_of(plain) == {"a", "b"}
    assert ids_of(diverse) == {"a", "c"} or ids_of(diverse) == {"b", "c"}


async def test_mmr_async_and_with_filter(store: OmegaMemoryVectorStore) -> None:
    await store.aadd_documents(TEAS)
    docs = await store.amax_marginal_relevance_search("tea", k=2, fetch_k=5, filter={"kind": "coffee"})
    assert ids_of(docs) == {"espresso", "latte"}
    vector = OmegaHashEmbeddings(64).embed_query("tea")
    assert ids_of(store.max_marginal_relevance_search_by_vector(vector, k=5, filter={"kind": "tea"})) == {
        "green",
        "black",
        "iced",
    }


@pytest.mark.parametrize(
    ("search_type", "search_kwargs", "expected"),
    [
        ("similarity", {"k": 1}, ["iced"]),
        ("mmr", {"k": 1, "fetch_k": 4}, ["iced"]),
        ("similarity_score_threshold", {"k": 5, "score_threshold": 0.5}, ["iced"]),
        ("similarity", {"k": 5, "filter": {"kind": "coffee"}}, ["espresso", "latte"]),
    ],
)
async def test_retriever_search_types(
    store: OmegaMemoryVectorStore, search_type: str, search_kwargs: dict, expected: list[str]
) -> None:
    store.add_documents(TEAS)
    retriever = store.as_retriever(search_type=search_type, search_kwargs=search_kwargs)
    assert sorted(ids_of(retriever.invoke("iced tea with lemon"))) == sorted(expected)
    assert sorted(ids_of(await retriever.ainvoke("iced tea with lemon"))) == sorted(expected)


def test_relevance_scores_are_between_0_and_1(store: OmegaMemoryVectorStore) -> None:
    store.add_documents(TEAS)
    scored = store.similarity_search_with_relevance_scores("iced tea with lemon", k=5)
    assert scored[0][0].id == "iced" and scored[0][1] == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= s <= 1.0 for _, s in scored)


def test_namespaces_are_isolated(memory: Memory) -> None:
    alice = OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(64), namespace="alice")
    bob = OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(64), namespace="bob")
    alice.add_texts(["alice likes tea"], ids=["pref"])
    bob.add_texts(["bob likes coffee"], ids=["pref"])
    assert [d.page_content for d in alice.similarity_search("likes", k=5)] == ["alice likes tea"]
    assert [d.page_content for d in bob.get_by_ids(["pref"])] == ["bob likes coffee"]
    with pytest.raises(InvalidInputError, match="call clear"):
        bob.delete()  # ids=None never means everything
    assert len(bob.get_by_ids(["pref"])) == 1
    bob.clear()  # bob's whole namespace, and nothing of alice's
    assert bob.similarity_search("likes") == [] and len(alice.get_by_ids(["pref"])) == 1


def test_every_write_is_an_event_and_a_replay_reproduces_the_store(store: OmegaMemoryVectorStore) -> None:
    memory = store.memory
    store.add_documents(TEAS)
    store.add_texts(["green tea, second steeping"], metadatas=[{"kind": "tea", "year": 2024}], ids=["green"])
    store.delete(["espresso"])
    history = memory.history("green", namespace="tests", collection="langchain")
    assert [(e.type, e.version) for e in history] == [("memory.upserted", 1), ("memory.upserted", 2)]
    assert history[1].data.embedding_model == "langchain:OmegaHashEmbeddings:hash:64"  # type: ignore[union-attr]
    assert [e.type for e in memory.history("espresso", namespace="tests", collection="langchain")] == [
        "memory.upserted",
        "memory.deleted",
    ]

    def snapshot() -> list:
        ids = ["green", "black", "iced", "espresso", "latte"]
        got = sorted(store.get_by_ids(ids), key=lambda d: d.id)
        scored = store.similarity_search_with_score("tea with milk", k=10)
        searched = sorted((-round(s, 5), d.id) for d, s in scored)  # equal scores may come in any order
        return [got, searched, ids_of(store.similarity_search("tea", k=3, filter={"year": {"$gte": 2021}}))]

    before = snapshot()
    memory.rebuild(progress=False)
    assert snapshot() == before
    with memory.as_of(log_position(memory)) as replayed:  # a fresh index, replayed from position 0
        view = OmegaMemoryVectorStore(replayed, OmegaHashEmbeddings(64), namespace="tests")
        assert sorted(view.get_by_ids(["green", "black", "iced", "espresso", "latte"]), key=lambda d: d.id) == before[0]


class AsyncOnlyEmbeddings(Embeddings):
    """Fails on the sync path (unless allowed), so the async methods are proven to use the async one."""

    def __init__(self, allow_sync: bool = False) -> None:
        self.inner = OmegaHashEmbeddings(64)
        self.allow_sync = allow_sync

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        assert self.allow_sync, "async method used the sync embeddings"
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        assert self.allow_sync, "async method used the sync embeddings"
        return self.inner.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


async def test_async_methods_use_async_embeddings_and_see_sync_writes(memory: Memory) -> None:
    store = OmegaMemoryVectorStore(memory, AsyncOnlyEmbeddings(), namespace="tests")
    await store.aadd_texts(["green tea"], metadatas=[{"kind": "tea"}], ids=["g"])
    # The same model, written through the sync path (a collection holds one model's vectors).
    OmegaMemoryVectorStore(memory, AsyncOnlyEmbeddings(allow_sync=True), namespace="tests").add_texts(
        ["black tea"], ids=["b"]
    )
    assert ids_of(await store.asimilarity_search("tea", k=5)) == {"g", "b"}
    assert ids_of(await store.amax_marginal_relevance_search("tea", k=2)) == {"g", "b"}
    assert [d.id for d in await store.aget_by_ids(["b", "missing"])] == ["b"]
    await store.adelete(["g", "missing"])
    assert ids_of(await store.asimilarity_search("tea", k=5)) == {"b"}
    assert await store.aadd_texts([]) == []


def test_from_texts_opens_an_embedded_memory(tmp_path: Path) -> None:
    store = OmegaMemoryVectorStore.from_texts(
        ["green tea", "black coffee"],
        OmegaHashEmbeddings(32),
        metadatas=[{"n": 1}, {"n": 2}],
        ids=["t", None],
        path=tmp_path / "m",
    )
    try:
        assert store.similarity_search("tea", k=1)[0] == Document(id="t", page_content="green tea", metadata={"n": 1})
    finally:
        store.close()
    with Memory(tmp_path / "m") as reopened:  # it is all in the log and index on disk
        assert reopened.count(collection="langchain") == 2


async def test_afrom_documents_into_a_given_memory(memory: Memory) -> None:
    store = await OmegaMemoryVectorStore.afrom_documents(TEAS, OmegaHashEmbeddings(64), memory=memory, namespace="n")
    assert len(await store.aget_by_ids([d.id for d in TEAS])) == 5  # type: ignore[misc]
    store.close()  # not its memory: stays open
    assert memory.count(namespace="n", collection="langchain") == 5


ORDERS = [
    Document(id="o1", page_content="order ORD-2291 shipped to Lyon", metadata={"kind": "order"}),
    Document(id="o2", page_content="invoice for ORD-1187 is overdue", metadata={"kind": "invoice"}),
    Document(id="o3", page_content="the team likes green tea", metadata={"kind": "note"}),
]


@pytest.mark.parametrize("mode", ["sparse", "hybrid"])
async def test_retrieval_modes_find_the_exact_words(memory: Memory, mode: str) -> None:
    store = OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(64), namespace="orders", retrieval_mode=mode)
    store.add_documents(ORDERS)
    assert store.retrieval_mode == RetrievalMode(mode)
    docs = store.similarity_search("ORD-2291", k=3)
    assert docs[0].id == "o1"
    assert [d.id for d in await store.asimilarity_search("ORD-2291", k=3)] == [d.id for d in docs]
    assert [d.id for d in store.similarity_search("ORD-2291", k=3, filter={"kind": "invoice"})] == ["o2"]
    retrieved = store.as_retriever(search_kwargs={"k": 1}).invoke("ORD-2291")
    assert [d.id for d in retrieved] == ["o1"]
    with pytest.raises(NotImplementedError, match="similarity_search_with_score"):
        store.similarity_search_with_relevance_scores("ORD-2291")


def test_sparse_needs_no_embedding_and_bad_modes_say_so(memory: Memory) -> None:
    class NoEmbeddings(OmegaHashEmbeddings):
        def embed_query(self, text: str) -> list[float]:
            raise AssertionError("a sparse search embeds nothing")

    store = OmegaMemoryVectorStore(memory, NoEmbeddings(64), namespace="orders", retrieval_mode="sparse")
    store.add_documents(ORDERS)
    assert [d.id for d in store.similarity_search("lyon", k=2)] == ["o1"]
    with pytest.raises(ValueError, match="retrieval_mode"):
        OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(64), retrieval_mode="fuzzy")
    with pytest.raises(ValueError, match="hybrid_fusion"):
        OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(64), retrieval_mode="hybrid", hybrid_fusion="max")  # type: ignore[arg-type]


def test_langchain_embeddings_as_the_memorys_embedder(tmp_path: Path) -> None:
    embeddings = OmegaHashEmbeddings(64)
    with Memory(tmp_path / "m", embedder=LangChainEmbedder(embeddings)) as memory:
        assert memory.embedder is not None and memory.embedder.dimension == 64
        memory.upsert("Ada drinks green tea", id="tea", collection="langchain")
        memory.upsert("Bob runs", id="run", collection="langchain")
        assert memory.get("tea", collection="langchain")[0].embedding_model == model_id(embeddings)
        store = OmegaMemoryVectorStore(memory, embeddings)  # the store and the Memory agree on the model
        store.add_texts(["Cy reads"], ids=["read"])
        assert store.similarity_search("green tea", k=1)[0].id == "tea"


async def test_async_delete_needs_ids_and_aclear_empties_the_namespace(store: OmegaMemoryVectorStore) -> None:
    await store.aadd_documents(TEAS)
    with pytest.raises(InvalidInputError, match="call clear"):
        await store.adelete()
    assert len(await store.aget_by_ids(["green"])) == 1
    await store.aclear()
    assert await store.asimilarity_search("tea") == []


def test_from_texts_opens_a_memory_at_a_path_with_a_collection_name(tmp_path: Path) -> None:
    store = OmegaMemoryVectorStore.from_texts(
        ["green tea"], OmegaHashEmbeddings(64), ids=["a"], path=tmp_path / "m", collection_name="docs"
    )
    try:
        assert store.collection == "docs"
        assert [d.page_content for d in store.get_by_ids(["a"])] == ["green tea"]
        assert store.memory.get("a", namespace=store.namespace, collection="docs")[0].text == "green tea"
    finally:
        store.close()
    with pytest.raises(InvalidInputError, match="differ"):
        OmegaMemoryVectorStore.from_texts(
            ["x"], OmegaHashEmbeddings(64), path=tmp_path / "n", collection="a", collection_name="b"
        )


def test_its_writes_record_the_adapter_as_their_origin(store: OmegaMemoryVectorStore, memory: Memory) -> None:
    store.add_texts(["likes green tea"], ids=["tea"])
    store.delete(["tea"])
    history = memory.explain("tea", namespace="tests", collection=store.collection).history
    assert [e.data.origin for e in history] == ["langchain-omega-memory"] * 2
    chat = OmegaChatMessageHistory("s1", memory)
    chat.add_user_message("hi")
    assert {e.data.origin for e in memory.events() if e.namespace == "s1"} == {"langchain-omega-memory"}
