"""The embedded default index: Qdrant Edge (``qdrant-edge-py``), in-process, one shard per collection.

Selected by ``edge:///relative/dir`` or ``edge:////absolute/dir``. Layout::

    dir/CURRENT              name of the generation in use (replaced atomically on rebuild)
    dir/<generation>/<collection>/   one Edge shard

Edge's own WAL is turned off: the event log already is the write-ahead log, and Edge does not
replay its WAL on load anyway. Data is durable at ``flush()``, which is why the projector saves
its checkpoint only after flushing. One process owns a shard directory at a time.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ..errors import IndexUnavailableError
from ..events import Distance, Event, MemoryUpsertedEvent
from ..filters import Node
from ..records import MemoryRecord
from .base import Projection, SearchQuery
from .batching import plan_writes
from .payload import MEMORY_ID, METADATA, NAMESPACE, metadata_key, point_id, to_payload, to_record, to_vectors
from .payload_indexes import IndexKind, wanted_indexes
from .qdrant_filters import FilterVocabulary, scoped_filter
from ..hookspecs import hookimpl
from ..settings import Settings
from ..urls import scheme, url_path

# Every query is scoped to one namespace, so the graph is built per namespace (payload_m) and not
# globally (m=0), as Qdrant advises for multitenancy. A namespace whose vectors fit under
# full_scan_threshold (KB; 50 MB is ~32k 384-d vectors) is searched exactly: measured on 10k
# random 384-d vectors per namespace, exact search took 1.7 ms at recall 1.0, while the graph
# with default ef found 0.61 of the true top 10 (benchmarks/README.md).
_HNSW = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=50_000, payload_m=16)

# enable_hnsw=False: the graph is built per namespace only; a graph per indexed value as well
# would multiply optimize() time for no gain, since filtered namespaces are searched exactly.
_INDEX_PARAMS: dict[IndexKind, Any] = {
    "keyword": qe.KeywordIndexParams(enable_hnsw=False),
    "float": qe.FloatIndexParams(enable_hnsw=False),
    "bool": qe.KeywordIndexParams(enable_hnsw=False),
}

_DISTANCES = {Distance.COSINE: qe.Distance.Cosine, Distance.DOT: qe.Distance.Dot, Distance.EUCLID: qe.Distance.Euclid}

# qdrant-edge-py 0.9 turns a Python bool in MatchValue into the integer 1 or 0, which never
# matches a stored JSON boolean. So each point also carries its boolean facts as keywords
# ("metadata.path=true") under a reserved key, and boolean equality matches those instead.
_BOOLEANS = "_booleans"


def _boolean_facts(value: Any, path: str) -> list[str]:
    if isinstance(value, bool):
        return [f"{path}={'true' if value else 'false'}"]
    if isinstance(value, dict):
        return [fact for key, item in value.items() for fact in _boolean_facts(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [fact for item in value for fact in _boolean_facts(item, path)]
    return []


def _match_value(key: str, value: str | int | bool) -> qe.FieldCondition:
    if isinstance(value, bool):
        return qe.FieldCondition(_BOOLEANS, match=qe.MatchValue(f"{key}={'true' if value else 'false'}"))
    return qe.FieldCondition(key, match=qe.MatchValue(value))


def _edge_payload(event: MemoryUpsertedEvent) -> dict[str, Any]:
    payload = to_payload(event)
    facts = _boolean_facts(event.data.metadata, METADATA)
    if facts:
        payload[_BOOLEANS] = facts
    return payload


VOCABULARY = FilterVocabulary(
    filter=lambda must=None, should=None, must_not=None: qe.Filter(must=must, should=should, must_not=must_not),
    match_value=_match_value,
    match_any=lambda key, values: qe.FieldCondition(key, match=qe.MatchAny(values)),
    range=lambda key, **bounds: qe.FieldCondition(key, range=qe.RangeFloat(**bounds)),
    is_empty=lambda key: qe.IsEmptyCondition(key),
    match_substring=lambda key, text: qe.FieldCondition(key, match=qe.MatchSubstring(text)),
)


class EdgeProjection(Projection):
    """Qdrant Edge shards under one directory.

    Example::

        index = EdgeProjection("/tmp/memory/index")
    """

    def __init__(self, root: str | Path, generation: str | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        current = self.root / "CURRENT"
        if generation is None:
            generation = current.read_text().strip() if current.exists() else uuid.uuid4().hex[:12]
            if not current.exists():
                _write_atomically(current, generation)
        self.generation = generation
        self.dir = self.root / generation
        self.dir.mkdir(exist_ok=True)
        self.name = f"edge:{self.dir}"
        self.applied_position = 0
        self._shards: dict[str, qe.EdgeShard] = {}
        self._indexed: dict[str, set[str]] = {}  # collection -> payload fields with an index
        for shard_dir in sorted(p for p in self.dir.iterdir() if p.is_dir()):
            self._shards[shard_dir.name] = self._open(lambda d=shard_dir: qe.EdgeShard.load(str(d)), shard_dir)

    @staticmethod
    def _open(opener: Any, where: Path) -> qe.EdgeShard:
        try:
            return opener()
        except Exception as exc:  # the binding raises plain Exception
            if "WouldBlock" in str(exc):
                raise IndexUnavailableError(
                    f"the Qdrant Edge index at {where} is open in another process; Edge serves one "
                    "process at a time (share a memory between processes through a Qdrant server)"
                ) from exc
            raise IndexUnavailableError(f"cannot open the Qdrant Edge index at {where}: {exc}") from exc

    def _shard(self, collection: str) -> qe.EdgeShard:
        return self._shards[collection]

    def _filter(self, collection: str, namespace: str | None, node: Node | None) -> Any:
        """The Qdrant filter for a query, after indexing the metadata keys it uses (see payload_indexes)."""
        wanted = wanted_indexes(node)
        if wanted:
            shard = self._shards[collection]
            indexed = self._indexed.get(collection)
            if indexed is None:
                indexed = self._indexed[collection] = set(shard.info().payload_schema)
            for key, kind in wanted.items():
                field = _BOOLEANS if kind == "bool" else metadata_key(key)
                if field not in indexed:
                    shard.update(qe.UpdateOperation.create_field_index(field, _INDEX_PARAMS[kind]))
                    indexed.add(field)
        return scoped_filter(VOCABULARY, namespace, node)

    async def apply(self, events: Sequence[Event]) -> None:
        fresh = [e for e in events if e.position > self.applied_position]
        for op in plan_writes(fresh):
            if op.kind == "create":
                self._create(op.collection, op.vectors, op.distance)
            elif op.kind == "upsert":
                points = [qe.Point(pid, to_vectors(e), _edge_payload(e)) for pid, e in op.by_point.items()]
                self._shard(op.collection).update(qe.UpdateOperation.upsert_points(points))
            elif op.kind == "delete":
                self._shard(op.collection).update(qe.UpdateOperation.delete_points(op.point_ids))
            else:
                condition = qe.Filter(must=[qe.FieldCondition(NAMESPACE, match=qe.MatchValue(op.namespace))])
                self._shard(op.collection).update(qe.UpdateOperation.delete_points_by_filter(condition))
        if fresh:
            self.applied_position = fresh[-1].position

    def _create(self, collection: str, vectors: dict[str, int], distance: Distance) -> None:
        if collection in self._shards:
            return
        config = qe.EdgeConfig(
            vectors={name: qe.EdgeVectorParams(size=dim, distance=_DISTANCES[distance]) for name, dim in vectors.items()},
            hnsw_config=_HNSW,
            wal_enabled=False,
        )
        where = self.dir / collection
        shard = self._open(lambda: qe.EdgeShard.create(str(where), config), where)
        shard.update(qe.UpdateOperation.create_field_index(NAMESPACE, qe.KeywordIndexParams(is_tenant=True)))
        self._shards[collection] = shard

    async def flush(self) -> None:
        for shard in self._shards.values():
            shard.flush()

    async def optimize(self) -> None:
        for shard in self._shards.values():
            shard.optimize()

    async def search(self, query: SearchQuery) -> list[MemoryRecord]:
        shard = self._shards.get(query.collection)
        if shard is None:
            return []
        hits = shard.query(
            qe.QueryRequest(
                limit=query.limit,
                query=qe.Query.Nearest(query.vector.tolist(), using=query.using),
                filter=self._filter(query.collection, query.namespace, query.filter),
                with_payload=True,
                with_vector=[query.using] if query.with_vectors else False,
                score_threshold=query.score_threshold,
                params=qe.SearchParams(exact=True) if query.exact else None,
            )
        )
        return [to_record(query.collection, hit.payload or {}, hit.score, _vectors(hit.vector)) for hit in hits]

    async def get(
        self, collection: str, namespace: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[MemoryRecord]:
        shard = self._shards.get(collection)
        if shard is None or not ids:
            return []
        records = shard.retrieve([point_id(namespace, i) for i in ids], with_payload=True, with_vector=with_vectors)
        by_id = {r.payload[MEMORY_ID]: r for r in records if r.payload}
        return [
            to_record(collection, by_id[i].payload or {}, None, _vectors(by_id[i].vector)) for i in ids if i in by_id
        ]

    async def scan(
        self, collection: str, namespace: str, filter: Node | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[MemoryRecord]:
        shard = self._shards.get(collection)
        if shard is None:
            return []
        condition = self._filter(collection, namespace, filter)
        records, next_offset = [], None
        while True:
            page, next_offset = shard.scroll(
                qe.ScrollRequest(offset=next_offset, limit=1000, filter=condition, with_payload=True)
            )
            records.extend(to_record(collection, r.payload or {}) for r in page)
            if next_offset is None:
                break
        records.sort(key=lambda r: r.id)
        return records[offset:] if limit is None else records[offset : offset + limit]

    async def count(self, collection: str, namespace: str | None = None, filter: Node | None = None) -> int:
        shard = self._shards.get(collection)
        if shard is None:
            return 0
        return shard.count(qe.CountRequest(exact=True, filter=self._filter(collection, namespace, filter)))

    async def fresh(self) -> EdgeProjection:
        return EdgeProjection(self.root, generation=uuid.uuid4().hex[:12])

    async def promote(self, replaced: Projection) -> None:
        await self.flush()
        _write_atomically(self.root / "CURRENT", self.generation)
        await replaced.drop()

    async def drop(self) -> None:
        await self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def close(self) -> None:
        for shard in self._shards.values():
            shard.close()
        self._shards.clear()
        self._indexed.clear()


def _vectors(raw: Any) -> dict[str, list[float]] | None:
    return dict(raw) if isinstance(raw, dict) and raw else None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@hookimpl
def omega_memory_projection(url: str, settings: Settings) -> Projection | None:
    return EdgeProjection(url_path(url)) if scheme(url) == "edge" else None
