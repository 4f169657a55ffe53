"""Bad input to the LangChain adapter: a ValueError naming the problem, and nothing written."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from conftest import log_position
from langchain_omega_memory import OmegaHashEmbeddings, OmegaMemoryVectorStore
from omega_memory_plugin import Memory


class GrowingEmbeddings(Embeddings):
    """An embeddings object whose dimension changes between calls (a swapped model, say)."""

    def __init__(self) -> None:
        self.size = 8

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.size += 1
        return OmegaHashEmbeddings(self.size).embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return OmegaHashEmbeddings(self.size).embed_query(text)


class ShortEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return OmegaHashEmbeddings(8).embed_documents(texts[:-1])

    def embed_query(self, text: str) -> list[float]:
        return OmegaHashEmbeddings(8).embed_query(text)


ADD_CASES: dict[str, tuple[Callable[[OmegaMemoryVectorStore], Any], str]] = {
    "more ids than texts": (lambda s: s.add_texts(["a", "b"], ids=["1", "2", "3"]), "2 texts but 3 ids"),
    "fewer metadatas than texts": (lambda s: s.add_texts(["a", "b"], metadatas=[{}]), "2 texts but 1 metadatas"),
    "one string as texts": (lambda s: s.add_texts("abc"), "not one string"),
    "an empty id": (lambda s: s.add_texts(["a"], ids=[""]), "non-empty string"),
    "a datetime in metadata": (
        lambda s: s.add_texts(["a", "b"], metadatas=[{}, {"at": datetime.datetime(2026, 1, 1)}]),
        "not JSON",
    ),
    "NaN in metadata": (lambda s: s.add_texts(["a"], metadatas=[{"x": float("nan")}]), "must be finite"),
    # issue 9: these were appended (surrogates, bricking the index) or failed inside the embeddings
    "a lone surrogate in metadata": (lambda s: s.add_texts(["a"], metadatas=[{"who": "\ud800"}]), "lone surrogate"),
    "a lone surrogate in a metadata key": (lambda s: s.add_texts(["a"], metadatas=[{"\udfff": 1}]), "lone surrogate"),
    "a lone surrogate in text": (lambda s: s.add_texts(["tea \ud83d"]), "lone surrogate"),
    "a number as text": (lambda s: s.add_texts([42]), "text must be a string, got int"),
    "None as text": (lambda s: s.add_texts(["ok", None]), "got NoneType"),
    "a non-string metadata key": (lambda s: s.add_texts(["a"], metadatas=[{1: "x"}]), "keys must be strings"),
    "empty text": (
        lambda s: s.add_documents([Document(page_content="ok"), Document(page_content=" ")]),
        "text is empty",
    ),
    "an unknown option": (lambda s: s.add_texts(["a"], batch_size=3), "does not support"),
}


@pytest.mark.parametrize("case", list(ADD_CASES))
def test_bad_adds_write_nothing(store: OmegaMemoryVectorStore, case: str) -> None:
    store.add_texts(["already here"], ids=["kept"])
    before = log_position(store.memory)
    call, message = ADD_CASES[case]
    with pytest.raises((ValueError, TypeError), match=message):
        call(store)
    assert log_position(store.memory) == before
    assert [d.id for d in store.similarity_search("already here a b", k=10)] == ["kept"]


async def test_bad_async_add_writes_nothing(store: OmegaMemoryVectorStore) -> None:
    before = log_position(store.memory)
    with pytest.raises(ValueError, match="2 texts but 1 ids"):
        await store.aadd_texts(["a", "b"], ids=["1"])
    with pytest.raises(ValueError, match="not JSON"):
        await store.aadd_texts(["a"], metadatas=[{"s": {1, 2}}])
    with pytest.raises(ValueError, match="text must be a string"):
        await store.aadd_texts([42])  # checked before the embeddings see it
    assert log_position(store.memory) == before


def test_embeddings_whose_dimension_changes(memory: Memory) -> None:
    store = OmegaMemoryVectorStore(memory, GrowingEmbeddings())
    store.add_texts(["first"])  # creates the collection at dimension 9
    before = log_position(memory)
    with pytest.raises(ValueError, match="has dimension 10, but collection 'langchain' stores dimension 9"):
        store.add_texts(["second"])
    assert log_position(memory) == before


def test_embeddings_that_return_too_few_vectors(memory: Memory) -> None:
    store = OmegaMemoryVectorStore(memory, ShortEmbeddings())
    with pytest.raises(ValueError, match="returned 1 vectors for 2 texts"):
        store.add_texts(["a", "b"])
    assert log_position(memory) == 0


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"year": {"$regex": "^20"}}, "unknown filter operator '\\$regex'"),
        ({"$nor": [{"a": 1}]}, "\\$nor"),
        ({"year": {"$gt": "2020"}}, "needs a number"),
        ({"tag": {"$in": "a"}}, "needs a non-empty list"),
    ],
)
async def test_unknown_or_malformed_filters_raise(store: OmegaMemoryVectorStore, where: dict, message: str) -> None:
    store.add_texts(["x"], metadatas=[{"year": 2021}])
    with pytest.raises(ValueError, match=message):
        store.similarity_search("x", filter=where)
    with pytest.raises(ValueError, match=message):
        await store.amax_marginal_relevance_search("x", filter=where)


def test_unknown_search_option_raises(store: OmegaMemoryVectorStore) -> None:
    with pytest.raises(TypeError, match="does not support: \\['where'\\]"):
        store.similarity_search("x", where={"a": 1})


def test_from_texts_refuses_a_memory_and_options(memory: Memory, tmp_path) -> None:
    with pytest.raises(ValueError, match="either memory= or options"):
        OmegaMemoryVectorStore.from_texts(["a"], OmegaHashEmbeddings(8), memory=memory, path=tmp_path)
