"""An exact, in-process index in plain Python and numpy: for tests and as the reference the Qdrant
indexes are compared against. Selected by the URL ``memory://``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..events import Distance, vector_array
from ..filters import Node, matches
from ..hookspecs import hookimpl
from ..records import MemoryRecord
from ..settings import Settings
from ..urls import scheme
from .base import RRF_K, Entry, Fusion, IndexState, Projection, SearchQuery
from .batching import WriteOp
from .bm25 import document_terms, idf
from .payload import EXPIRES_AT, LAYOUT, MEMORY_ID, METADATA, NAMESPACE, VERSION, point_id, to_payload, to_record


@dataclass(slots=True)
class _Point:
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray]
    terms: dict[int, float]  # the text's BM25 weights (bm25.document_terms), without IDF


@dataclass(slots=True)
class _Collection:
    distance: Distance
    # keyed by payload.point_id, like a Qdrant index, so identity is decided in one place
    points: dict[str, _Point] = field(default_factory=dict)


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _score(distance: Distance, stored: np.ndarray, query: np.ndarray) -> float:
    # Cosine vectors are stored normalised, as Qdrant stores them, so the score is a dot product.
    if distance == Distance.COSINE:
        return float(stored @ _normalised(query))
    if distance == Distance.DOT:
        return float(stored @ query)
    return float(np.linalg.norm(stored - query))


class InMemoryProjection(Projection):
    def __init__(self) -> None:
        self.name = f"memory:{uuid.uuid4().hex[:12]}"
        self.applied_position = 0
        self._collections: dict[str, _Collection] = {}
        self._state: IndexState | None = None

    def held(self, collection: str) -> Iterable[str]:
        return list(self._collections)

    async def write(self, ops: Iterable[WriteOp]) -> None:
        for op in ops:
            if op.kind == "create":
                self._collections.setdefault(op.collection, _Collection(op.distance))
                continue
            collection = self._collections[op.collection]
            points = collection.points
            if op.kind == "upsert":
                for pid, event in op.by_point.items():
                    vectors = {name: vector_array(raw).astype(np.float32) for name, raw in event.data.vectors.items()}
                    if collection.distance == Distance.COSINE:
                        vectors = {name: _normalised(v) for name, v in vectors.items()}
                    indices, values = document_terms(event.data.text)
                    # float32, as Qdrant stores sparse weights, so that scores agree to float32 precision
                    weights = dict(zip(indices, np.asarray(values, np.float32).tolist(), strict=True))
                    points[pid] = _Point(to_payload(event), vectors, weights)
            elif op.kind == "delete":
                for pid in op.point_ids:
                    points.pop(pid, None)
            else:
                for pid in [pid for pid, p in points.items() if p.payload[NAMESPACE] == op.namespace]:
                    del points[pid]

    async def flush(self) -> None:
        # Nothing to make durable: the state is recorded so that the contract reads the same
        # on every index (a Memory checks it at open).
        self._state = IndexState(self.applied_position, LAYOUT)

    async def state(self) -> IndexState | None:
        return self._state

    async def entries(self, collection: str) -> list[Entry]:
        found = self._collections.get(collection)
        if found is None:
            return []
        return [Entry(p.payload[NAMESPACE], p.payload[MEMORY_ID], p.payload[VERSION]) for p in found.points.values()]

    def _matching(self, collection: str, namespace: str | None, node: Node | None) -> list[_Point]:
        found = self._collections.get(collection)
        if found is None:
            return []
        return [
            p
            for p in found.points.values()
            if (namespace is None or p.payload[NAMESPACE] == namespace)
            and matches(node, p.payload[METADATA], p.payload.get(EXPIRES_AT))
        ]

    async def search(self, query: SearchQuery) -> list[MemoryRecord]:
        found = self._collections.get(query.collection)
        if found is None:
            return []
        candidates = self._matching(query.collection, query.namespace, query.filter)
        ascending = query.mode == "dense" and found.distance == Distance.EUCLID
        if query.mode == "dense" and query.diversity is not None:
            pool = self._dense(found.distance, candidates, query)[: query.pools[0]]
            scored = _mmr(pool, query)
        elif query.mode == "dense":
            scored = self._dense(found.distance, candidates, query)
        elif query.mode == "sparse":
            scored = self._sparse(query, candidates)
        else:
            sides = [self._dense(found.distance, candidates, query), self._sparse(query, candidates)]
            scored = fuse(
                [side[:pool] for pool, side in zip(query.pools, sides, strict=True)], query.fusion, query.weights
            )
        if query.score_threshold is not None:
            limit = query.score_threshold
            scored = [(s, p) for s, p in scored if (s <= limit if ascending else s >= limit)]
        return [
            to_record(query.collection, p.payload, score, _as_lists(p) if query.with_vectors else None)
            for score, p in scored[: query.limit]
        ]

    @staticmethod
    def _dense(distance: Distance, points: list[_Point], query: SearchQuery) -> list[tuple[float, _Point]]:
        """Best first: highest similarity, or lowest distance (euclid)."""
        assert query.vector is not None
        scored = [
            (_score(distance, p.vectors[query.using], query.vector), p) for p in points if query.using in p.vectors
        ]
        scored.sort(key=lambda sp: sp[0], reverse=distance != Distance.EUCLID)
        return scored

    def _sparse(self, query: SearchQuery, points: list[_Point]) -> list[tuple[float, _Point]]:
        """BM25 with IDF over the query's namespace (not the filter's subset): the tenant's corpus."""
        indices, values = query.terms or ([], [])
        corpus = self._matching(query.collection, query.namespace, None)
        weights = {}
        for term, value in zip(indices, values, strict=True):
            containing = sum(term in p.terms for p in corpus)
            if containing:
                weights[term] = idf(len(corpus), containing) * value
        scored = [
            (sum(w * p.terms[t] for t, w in weights.items() if t in p.terms), p)
            for p in points
            if any(t in p.terms for t in weights)
        ]
        scored.sort(key=lambda sp: sp[0], reverse=True)
        return scored

    async def get(
        self, collection: str, namespace: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[MemoryRecord]:
        found = self._collections.get(collection)
        if found is None:
            return []
        points = [found.points.get(point_id(collection, namespace, i)) for i in ids]
        return [to_record(collection, p.payload, None, _as_lists(p) if with_vectors else None) for p in points if p]

    async def scan(
        self, collection: str, namespace: str, filter: Node | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[MemoryRecord]:
        records = [to_record(collection, p.payload) for p in self._matching(collection, namespace, filter)]
        records.sort(key=lambda r: r.id)
        return records[offset:] if limit is None else records[offset : offset + limit]

    async def count(self, collection: str, namespace: str | None = None, filter: Node | None = None) -> int:
        return len(self._matching(collection, namespace, filter))

    async def fresh(self, *, events: int = 0) -> InMemoryProjection:
        return InMemoryProjection()

    async def promote(self, replaced: Projection) -> None:
        await replaced.drop()

    async def drop(self) -> None:
        self._collections.clear()
        self._state = None

    async def close(self) -> None:
        pass


def fuse(
    sides: list[list[tuple[float, _Point]]], fusion: Fusion, weights: tuple[float, ...] | None = None
) -> list[tuple[float, _Point]]:
    """Qdrant's fusions over ranked lists (each best first), as the reference computes them.

    RRF: a point at rank r (from 0) of a list of weight w adds 1 / ((r + 1) / w + RRF_K - 1),
    which is 1 / (RRF_K + r) for w = 1, and nothing for w = 0. DBSF: each list's scores are
    normalised by mean +- 3 sample standard deviations (a list of one scores 0.5) and summed over
    the lists a point appears in. Like Qdrant's, DBSF takes every score as "higher is better",
    which is why the Memory refuses it for euclid collections, whose scores are distances."""
    fused: dict[int, float] = {}
    points: dict[int, _Point] = {}
    for side, weight in zip(sides, weights or [1.0] * len(sides), strict=True):
        if fusion == "rrf":
            normalised = [1.0 / ((rank + 1) / weight + RRF_K - 1) if weight > 0 else 0.0 for rank in range(len(side))]
        else:
            normalised = _distribution_normalised(np.asarray([score for score, _ in side], np.float64))
        for value, (_, point) in zip(normalised, side, strict=True):
            fused[id(point)] = fused.get(id(point), 0.0) + value
            points[id(point)] = point
    return sorted(((score, points[key]) for key, score in fused.items()), key=lambda sp: sp[0], reverse=True)


def _mmr(pool: list[tuple[float, _Point]], query: SearchQuery) -> list[tuple[float, _Point]]:
    """Qdrant's maximal marginal relevance over ``pool`` (best first), for cosine and dot vectors:
    similarities between candidates are their dot products (cosine vectors are stored normalised)."""
    if len(pool) < 2:
        return pool
    assert query.diversity is not None
    relevance = 1.0 - query.diversity
    vectors = np.stack([p.vectors[query.using] for _, p in pool])
    similar = vectors @ vectors.T
    chosen = [max(range(len(pool)), key=lambda i: pool[i][0])]
    remaining = [i for i in range(len(pool)) if i != chosen[0]]
    while remaining and len(chosen) < query.limit:
        best = max(
            remaining,
            key=lambda i: relevance * pool[i][0] - query.diversity * max(float(similar[i, j]) for j in chosen),  # type: ignore[operator]
        )
        chosen.append(best)
        remaining.remove(best)
    return [pool[i] for i in chosen]


def _distribution_normalised(scores: np.ndarray) -> list[float]:
    if len(scores) < 2:
        return [0.5] * len(scores)  # no spread to normalise by: the middle of the range
    mean, std = float(scores.mean()), float(scores.std(ddof=1))
    if std == 0:
        return [0.5] * len(scores)
    low, high = mean - 3 * std, mean + 3 * std
    return [float((s - low) / (high - low)) for s in scores]


def _as_lists(point: _Point) -> dict[str, list[float]]:
    return {name: vector.tolist() for name, vector in point.vectors.items()}


@hookimpl
def omega_memory_projection(url: str, settings: Settings) -> Projection | None:
    return InMemoryProjection() if scheme(url) == "memory" else None
