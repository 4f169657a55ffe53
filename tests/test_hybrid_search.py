"""Sparse (BM25) and hybrid search through the Memory, on every backend (conftest.BACKENDS).

The hash embedder is a stand-in, not a semantic model: dense search finds texts that share words
only by chance of hashing. BM25 finds the exact name or number; hybrid keeps both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import open_backend
from omega_memory_plugin import InvalidInputError, InvalidVectorError, Memory

NOTES = {
    "order": "Order ORD-2291 shipped to Lyon on Monday",
    "tea": "Ada prefers green tea in the morning",
    "invoice": "The invoice for ORD-1187 is overdue",
    "standup": "Standup moved to half past nine",
}


def write(memory: Memory) -> None:
    for memory_id, text in NOTES.items():
        memory.upsert(text, id=memory_id, namespace="ada", metadata={"kind": memory_id})
    memory.upsert("ORD-2291 ORD-2291 ORD-2291 appears in Bob's notes too", id="bob-order", namespace="bob")


def test_sparse_finds_the_exact_number_and_stays_in_its_namespace(memory: Memory) -> None:
    write(memory)
    hits = memory.search(text="ORD-2291", mode="sparse", namespace="ada")
    # The word tokenizer splits "ORD-2291" into "ord" and "2291": the invoice of ORD-1187 shares
    # "ord" and comes second; bob's memory, in another namespace, is never seen.
    assert [h.id for h in hits] == ["order", "invoice"]
    assert hits[0].score is not None and hits[0].score > 0
    assert memory.search(text="zyzzyva", mode="sparse", namespace="ada") == []


def test_hybrid_ranks_the_exact_match_first_and_fills_up_with_the_dense_side(memory: Memory) -> None:
    write(memory)
    for fusion in ("rrf", "dbsf"):
        hits = memory.search(text="invoice ORD-1187", mode="hybrid", fusion=fusion, namespace="ada", limit=4)
        assert hits[0].id == "invoice"
        assert len(hits) == 4  # the dense side brings the memories without a matching word
        assert [h.score for h in hits] == sorted([h.score for h in hits], reverse=True)


def test_hybrid_with_filter_threshold_and_candidates(memory: Memory) -> None:
    write(memory)
    everything = memory.search(text="green tea", mode="hybrid", namespace="ada", limit=4, candidates=2)
    assert everything[0].id == "tea"
    some = memory.search(text="green tea", mode="hybrid", namespace="ada", filter={"kind": {"$ne": "tea"}})
    assert "tea" not in {h.id for h in some}
    cut = everything[0].score
    assert cut is not None
    above = memory.search(text="green tea", mode="hybrid", namespace="ada", limit=4, candidates=2, score_threshold=cut)
    assert [h.id for h in above] == ["tea"]


def test_weights_lean_a_hybrid_search_to_one_side(memory: Memory) -> None:
    write(memory)
    words = memory.search(text="ORD-1187 invoice", mode="sparse", namespace="ada", limit=4)
    meaning = memory.search(text="ORD-1187 invoice", namespace="ada", limit=4)
    assert [
        h.id
        for h in memory.search(
            text="ORD-1187 invoice", mode="hybrid", weights=(0, 1), namespace="ada", limit=len(words)
        )
    ] == [h.id for h in words]
    assert [
        h.id for h in memory.search(text="ORD-1187 invoice", mode="hybrid", weights=(1, 0), namespace="ada", limit=4)
    ] == [h.id for h in meaning]


def test_mmr_trades_nearness_for_variety(memory: Memory) -> None:
    near = [1.0, 0.0, 0.0, 0.0]
    for i, vector in enumerate([[1.0, 0.01, 0, 0], [1.0, 0.02, 0, 0], [1.0, 0.03, 0, 0], [0.6, 0.8, 0, 0]]):
        memory.upsert(f"note {i}", id=f"n{i}", vectors=vector, namespace="mmr", collection="plain")
    nearest = [h.id for h in memory.search(near, namespace="mmr", collection="plain", limit=2)]
    assert nearest == ["n0", "n1"]  # two near-duplicates
    varied = memory.search(near, mmr=True, diversity=0.7, namespace="mmr", collection="plain", limit=2)
    assert [h.id for h in varied] == ["n0", "n3"]  # the nearest, then the one unlike it
    assert varied[1].score == pytest.approx(0.6, abs=1e-4)  # its similarity to the query, not an MMR score
    same = memory.search(near, mmr=True, diversity=0.0, namespace="mmr", collection="plain", limit=2)
    assert [h.id for h in same] == nearest


def test_a_point_in_time_view_and_a_rebuild_answer_alike(memory: Memory) -> None:
    write(memory)
    before = [(h.id, h.score) for h in memory.search(text="ORD-2291 green", mode="hybrid", namespace="ada")]
    memory.upsert("Nothing about orders", id="later", namespace="ada")
    with memory.as_of(len(NOTES) + 2) as past:  # collection + 4 notes + bob's
        assert [(h.id, h.score) for h in past.search(text="ORD-2291 green", mode="hybrid", namespace="ada")] == [
            (i, pytest.approx(s, rel=1e-4)) for i, s in before
        ]
    memory.delete("later", namespace="ada")
    memory.rebuild(progress=False)
    after = [(h.id, h.score) for h in memory.search(text="ORD-2291 green", mode="hybrid", namespace="ada")]
    assert [i for i, _ in after] == [i for i, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before], rel=1e-4)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"mode": "sparse"}, InvalidInputError, "pass text"),
        ({"mode": "fuzzy", "text": "x"}, InvalidInputError, "mode is"),
        ({"mode": "hybrid", "text": "x", "fusion": "max"}, InvalidInputError, "fusion is"),
        ({"mode": "hybrid", "text": "x", "candidates": 0}, InvalidInputError, "candidates"),
        ({"mode": "sparse", "text": "\ud800"}, InvalidInputError, "lone surrogate"),
        ({"mode": "hybrid", "text": "x", "weights": (1, 0), "fusion": "dbsf"}, InvalidInputError, "fusion='rrf'"),
        ({"mode": "hybrid", "text": "x", "weights": (0, 0)}, InvalidInputError, "not both 0"),
        ({"mode": "hybrid", "text": "x", "weights": (1, -1)}, InvalidInputError, "0 or more"),
        ({"mode": "hybrid", "text": "x", "weights": (1, float("nan"))}, InvalidInputError, "0 or more"),
        ({"mode": "sparse", "text": "x", "mmr": True}, InvalidInputError, "mode='dense'"),
        ({"text": "x", "mmr": True, "diversity": 1.5}, InvalidInputError, "diversity"),
    ],
)
def test_bad_search_options_say_what_to_do(
    memory: Memory, options: dict[str, object], error: type, message: str
) -> None:
    write(memory)
    with pytest.raises(error, match=message):
        memory.search(namespace="ada", **options)  # type: ignore[arg-type]


def test_sparse_needs_no_embedder_and_hybrid_says_it_needs_one(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with open_backend("embedded", tmp_path, request) as memory:
        memory.upsert("Order ORD-2291 shipped", id="order", vectors=[1.0, 0.0, 0.0, 0.0])
        assert [h.id for h in memory.search(text="ORD-2291", mode="sparse")] == ["order"]
        with pytest.raises(InvalidVectorError, match="mode='sparse'"):
            memory.search(text="ORD-2291", mode="hybrid")
        hits = memory.search([1.0, 0.0, 0.0, 0.0], text="ORD-2291", mode="hybrid")  # a vector of one's own
        assert [h.id for h in hits] == ["order"]


def test_dbsf_and_mmr_are_refused_for_euclid_distances(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as memory:
        memory.create_collection("far", 4, distance="euclid")
        memory.upsert("Order ORD-2291", id="order", vectors=[1.0, 0.0, 0.0, 0.0], collection="far")
        with pytest.raises(InvalidInputError, match="fusion='rrf'"):
            memory.search([1.0, 0.0, 0.0, 0.0], text="ORD-2291", mode="hybrid", fusion="dbsf", collection="far")
        with pytest.raises(InvalidInputError, match="MMR weighs similarities"):
            memory.search([1.0, 0.0, 0.0, 0.0], mmr=True, collection="far")
        hits = memory.search([1.0, 0.0, 0.0, 0.0], text="ORD-2291", mode="hybrid", collection="far")
        assert [h.id for h in hits] == ["order"]


def test_vector_names_starting_with_an_underscore_are_kept_for_the_index(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as memory:
        with pytest.raises(InvalidVectorError, match="'_bm25'"):
            memory.upsert("x", id="a", vectors={"_bm25": [1.0, 0.0]})
        with pytest.raises(InvalidVectorError, match="starts with '_'"):
            memory.create_collection("c", {"_mine": 4})
        assert memory.health()["log"]["position"] == 0
