"""The embedded default index: Qdrant Edge (``qdrant-edge-py``), in-process, one shard per collection.

Selected by ``edge:///relative/dir`` or ``edge:////absolute/dir``. Layout::

    dir/.lock                        held (filelock) by the one EdgeProjection that owns dir
    dir/.lock.owner                  who holds it (pid, host, command line, since), for the error
    dir/CURRENT                      name of the generation in use (replaced atomically on rebuild)
    dir/<generation>/STATE.json      IndexState at the last flush, and the collections it held
    dir/<generation>/<collection>/   one Edge shard

Edge's own WAL is turned off: the event log already is the write-ahead log, and Edge does not
replay its WAL on load anyway. Data is durable at ``flush()``, which is why the projector saves
its checkpoint only after flushing, and why ``STATE.json`` is written only after the shards flush.

One owner per directory: opening takes an exclusive lock on ``dir/.lock`` before anything is read,
held until ``close()``, so a second process (or a second EdgeProjection in this one) gets a
:class:`~omega_memory_plugin.errors.DirectoryLockedError` naming the owner instead of writing
beside it. Generations made by :meth:`EdgeProjection.fresh` share their owner's lock. The owner
removes, at open, every generation that is not the current one (left by a rebuild that was killed).

A large new generation is written by a child process (:mod:`.edge_build`) under that same lock:
its shards are the child's until the build is optimized or first read, then this process loads
them. Every write, here or there, goes through :class:`EdgeShards`.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from .. import json_text
from ..errors import DirectoryLockedError, IndexUnavailableError
from ..events import Distance, MemoryUpsertedEvent, vector_array
from ..expiry import without_expiry
from ..filters import Node
from ..hookspecs import hookimpl
from ..records import MemoryRecord
from ..settings import Settings
from ..urls import scheme, url_path
from .base import RRF_K, Entry, IndexState, Projection, SearchQuery
from .batching import WriteOp
from .bm25 import SPARSE, document_terms, own_vectors
from .directory_lock import DirectoryLock, write_atomically
from .edge_build import CHILD_BUILD_AT, EdgeBuild
from .edge_floats import edge_numbers
from .payload import (
    EMBEDDING_MODEL,
    EXPIRES_AT,
    KEY,
    LAYOUT,
    MEMORY_ID,
    METADATA,
    METADATA_JSON,
    NAMESPACE,
    POSITION,
    TEXT,
    VERSION,
    metadata_key,
    point_id,
    to_payload,
    to_record,
)
from .payload_indexes import IndexKind, wanted_indexes
from .qdrant_filters import FilterVocabulary, scoped_filter

logger = logging.getLogger(__name__)

# Every query is scoped to one namespace. Vectors are also kept as int8 (scalar quantization: a
# quarter of their float32 size, built by optimize()), and a search scores its namespace's
# quantized vectors, then rescores the best 2 x limit with the originals. Measured on 100,000
# random 384-d vectors in one namespace (random vectors: the hardest case for a graph): 8.7 ms at
# recall@10 1.000, against 22 ms for exact float32 search; quantizing took 1.6 s in optimize().
# A namespace is searched that way up to full_scan_threshold (KB of float32 vectors: 200 MB is
# ~130k 384-d vectors); only a larger one gets a graph of its own (payload_m; m=0: no global
# graph, as Qdrant advises for multitenancy). Before, namespaces above 32k got graphs: at
# 10 x 100,000 they took 930 s to build on 2 cores and found 0.13 of the true top 10 (benchmarks/README.md).
_HNSW = qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=200_000, payload_m=16)
# Vectors, originals and quantized, are read through mmap (Memory.Cold): the OS page cache holds
# them, not this process's heap. Kept in RAM (always_ram, and Edge's default for originals),
# loading a shard copied them all in while holding the GIL, so every search of this process
# waited: 1.4 s at 100,000 384-d memories, 1.7-2.3 s at 1M, which is the take-over of every
# rebuild and optimize done by a child process. Cold: 0.05 s and 0.3 s. A namespace's first
# search after the load then faults its vectors in (35 ms at 100k, 0.4-0.5 s at 1M in 10
# namespaces), and later searches are as fast (p50 0.98 against 0.96 ms at 100k; 6-9 ms either
# way at 1M, within noise; recall@10 1.000 both; benchmarks/vector_memory.py).
_QUANTIZATION = qe.ScalarQuantizationConfig(qe.ScalarType.Int8, memory=qe.Memory.Cold)
_RESCORED = qe.QuantizationSearchParams(rescore=True, oversampling=2.0)
# A namespace with a graph is searched with ef 128 (Qdrant's default is ef_construct, 100).
# Measured on 150,000 embedding-like vectors in one namespace (a 32-d latent through a random
# 384-d map, plus noise): recall@10 0.947 at the default in 1.04 ms, 0.972 at 128 in 1.05 ms,
# 0.994 at 256 in 1.93 ms. On random Gaussian vectors no graph setting helps (0.09 at the
# default, 0.35 at ef 512), which is why only namespaces past full_scan_threshold get one.
_APPROXIMATE = qe.SearchParams(hnsw_ef=128, quantization=_RESCORED)
_EXACT = qe.SearchParams(exact=True)
# One search thread: a query runs where it is called. Every search of a Memory comes from its
# engine thread one at a time, and a shard has one large optimized segment plus a small appendable
# one, so a pool per segment gained nothing and cost its hand-offs: a top-10 with payloads in a
# 1,000-point tenant took 213 µs with the default pool (one thread per CPU), 167 µs with one;
# in a 100,000-point tenant 8.5 ms and 7.1 ms. Kept in the shard's config from its creation (a
# shard made before keeps its pool: loading with another config needs its vectors restated).
_SEARCH_THREADS = 1

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


def _range(key: str, **bounds: float) -> qe.FieldCondition:
    return qe.FieldCondition(key, range=qe.RangeFloat(**{op: edge_numbers(bound) for op, bound in bounds.items()}))


# Edge's own packing of the shared payload (payload.LAYOUT): what the index only returns, never
# filters on, travels as one JSON string, and empty metadata is left out (a missing object filters
# as an empty one). qdrant-edge-py 0.9 converts a payload entry by entry at about 4 µs each (an
# empty dict included): a point with the shared payload cost 56 µs, packed 30 µs, for a 150 µs apply.
# The memory id and version are packed too (no Edge filter reads them): converting and upserting a
# point went from 67 to 59 µs (medians over 40,000 points, alternating batches).
_RETURNED = "r"
_PACKED = (TEXT, METADATA_JSON, POSITION, EMBEDDING_MODEL, KEY, MEMORY_ID, VERSION)
#: What a read fetches of a point to make its record: not the metadata's filter copies, which
#: Edge would convert to Python for nothing (with 5 metadata keys, 95 µs of a 372 µs search).
_RECORD_FIELDS = [_RETURNED, NAMESPACE, EXPIRES_AT]
#: the shared layout, then Edge's own: 1, the fields of _PACKED in _RETURNED; 2, quantized
#: vectors and graphs only for namespaces above ~130k (see _HNSW), a shard's config being fixed
#: when it is made; 3, the memory id and version packed as well; 4, vectors read through mmap
#: (see _QUANTIZATION)
EDGE_LAYOUT = LAYOUT * 10 + 4


def _edge_payload(event: MemoryUpsertedEvent) -> dict[str, Any]:
    payload = to_payload(event)
    returned = {name: payload.pop(name) for name in _PACKED if name in payload}
    payload[_RETURNED] = json_text.dumps(returned)
    metadata = event.data.metadata
    if metadata:
        payload[METADATA] = edge_numbers(metadata)
        facts = _boolean_facts(metadata, METADATA)
        if facts:
            payload[_BOOLEANS] = facts
    else:
        del payload[METADATA]
    return payload


def _record(
    collection: str, payload: dict[str, Any], score: float | None = None, vectors: dict[str, list[float]] | None = None
) -> MemoryRecord:
    """A record from a point's payload, the packed fields unpacked."""
    packed = payload.get(_RETURNED)
    if packed is None:
        return to_record(collection, payload, score, vectors)
    fields = json_text.loads(packed)  # all but the two fields filters read, kept beside it
    fields[NAMESPACE] = payload[NAMESPACE]
    if EXPIRES_AT in payload:
        fields[EXPIRES_AT] = payload[EXPIRES_AT]
    return to_record(collection, fields, score, vectors)


VOCABULARY = FilterVocabulary(
    filter=lambda must=None, should=None, must_not=None: qe.Filter(must=must, should=should, must_not=must_not),
    match_value=_match_value,
    match_any=lambda key, values: qe.FieldCondition(key, match=qe.MatchAny(values)),
    range=_range,
    is_empty=lambda key: qe.IsEmptyCondition(key),
    match_substring=lambda key, text: qe.FieldCondition(key, match=qe.MatchSubstring(text)),
)


_CURRENT = "CURRENT"
_STATE = "STATE.json"  # a dot: never a collection name (validation.check_collection), so never a shard
# Generation names are made by _new_generation(); only directories named so are ever removed.
_GENERATION = re.compile(r"[0-9a-f]{12}")


#: A write to the shards of one generation, as EdgeProjection.write hands it to EdgeShards here or
#: to a child process building the generation (edge_build.py), hence plain picklable values:
#: ("create", collection, {vector name: dimensions}, Distance), ("upsert", collection, [point
#: parts]), ("delete", collection, [point ids]), ("erase", collection, namespace), ("index",
#: collection, payload field, IndexKind), and the calls ("flush",), ("optimize",), ("close",).
EdgeWrite = tuple[Any, ...]
#: What a point is made of before qdrant-edge-py converts it: the point id, the dense vectors as
#: raw float32 bytes, the text's BM25 terms (indices, values), the payload. Everything but the
#: conversion is done by the writer, so that a child process building a generation does only that.
PointParts = tuple[str, dict[str, bytes], tuple[list[int], list[float]], dict[str, Any]]


def edge_writes(ops: Iterable[WriteOp]) -> Iterator[EdgeWrite]:
    """The writes that carry out ``ops`` (the planner's batches) on Edge shards."""
    for op in ops:
        if op.kind == "create":
            yield ("create", op.collection, op.vectors, op.distance)
        elif op.kind == "upsert":
            parts: list[PointParts] = [
                (pid, e.data.vectors, document_terms(e.data.text), _edge_payload(e)) for pid, e in op.by_point.items()
            ]
            yield ("upsert", op.collection, parts)
        elif op.kind == "delete":
            yield ("delete", op.collection, op.point_ids)
        else:
            yield ("erase", op.collection, op.namespace)


def _point(
    pid: str, vectors: dict[str, bytes], terms: tuple[list[int], list[float]], payload: dict[str, Any]
) -> qe.Point:
    dense: dict[str, Any] = {name: vector_array(raw).tolist() for name, raw in vectors.items()}
    return qe.Point(pid, {**dense, SPARSE: qe.SparseVector(*terms)}, payload)


def _opened(opener: Callable[[], qe.EdgeShard], where: Path) -> qe.EdgeShard:
    try:
        return opener()
    except Exception as exc:  # the binding raises plain Exception
        if "WouldBlock" in str(exc):  # Edge's own lock: a process that does not take ours
            raise DirectoryLockedError(
                f"the Qdrant Edge index at {where} is open in another process; Edge serves one "
                "process at a time: close it there, open it read-only with Memory(path, read_only=True), "
                "or share a memory between processes through a Qdrant server"
            ) from exc
        raise IndexUnavailableError(f"cannot open the Qdrant Edge index at {where}: {exc}") from exc


class EdgeShards:
    """The open shards of one generation directory (one per collection) and the writes to them:
    what an EdgeProjection writes through in its own process, and what a child process building
    a generation runs (edge_build.py)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.shards: dict[str, qe.EdgeShard] = {}
        try:
            for shard_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
                self.shards[shard_dir.name] = _opened(partial(qe.EdgeShard.load, str(shard_dir)), shard_dir)
        except BaseException:
            self.close()
            raise

    def carry_out(self, write: EdgeWrite) -> None:
        kind = write[0]
        if kind == "create":
            self._create(*write[1:])
        elif kind == "upsert":
            points = [_point(*parts) for parts in write[2]]
            self._shard(write[1]).update(qe.UpdateOperation.upsert_points(points))
        elif kind == "delete":
            self._shard(write[1]).update(qe.UpdateOperation.delete_points([*write[2]]))
        elif kind == "erase":
            condition = qe.Filter(must=[qe.FieldCondition(NAMESPACE, match=qe.MatchValue(write[2]))])
            self._shard(write[1]).update(qe.UpdateOperation.delete_points_by_filter(condition))
        elif kind == "index":
            self._shard(write[1]).update(qe.UpdateOperation.create_field_index(write[2], _INDEX_PARAMS[write[3]]))
        elif kind == "flush":
            for shard in self.shards.values():
                shard.flush()
        elif kind == "optimize":
            for shard in self.shards.values():
                shard.optimize()
        elif kind == "close":
            self.carry_out(("flush",))
            self.close()
        else:
            raise ValueError(f"unknown Edge write {kind!r}")

    def close(self) -> None:
        for shard in self.shards.values():
            shard.close()
        self.shards.clear()

    def _shard(self, collection: str) -> qe.EdgeShard:
        """The shard a write goes to. Reads of a collection without one answer empty instead."""
        shard = self.shards.get(collection)
        if shard is None:
            raise IndexUnavailableError(
                f"the Qdrant Edge index at {self.dir} has lost collection {collection!r} (its shard directory "
                "is missing, or it was never flushed): rebuild the index from the log with Memory.rebuild() "
                "or `omega-memory replay`"
            )
        return shard

    def _create(self, collection: str, vectors: dict[str, int], distance: Distance) -> None:
        if collection in self.shards:
            return
        config = qe.EdgeConfig(
            vectors={
                name: qe.EdgeVectorParams(size=dim, distance=_DISTANCES[distance], memory=qe.Memory.Cold)
                for name, dim in vectors.items()
            },
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=_HNSW,
            quantization_config=_QUANTIZATION,
            wal_enabled=False,
            max_search_threads=_SEARCH_THREADS,
        )
        where = self.dir / collection
        shard = _opened(lambda: qe.EdgeShard.create(str(where), config), where)
        shard.update(qe.UpdateOperation.create_field_index(NAMESPACE, qe.KeywordIndexParams(is_tenant=True)))
        # Every search filters on expiry (see _filter): indexed from the start, not by the first
        # search after an open. Points without an expiry are not in it, so writes barely pay.
        shard.update(qe.UpdateOperation.create_field_index(EXPIRES_AT, _INDEX_PARAMS["float"]))
        self.shards[collection] = shard


def _new_generation() -> str:
    return uuid.uuid4().hex[:12]


class EdgeProjection(Projection):
    """Qdrant Edge shards under one directory.

    Example::

        index = EdgeProjection("/tmp/memory/index")
    """

    keeps_deleted = True  # segments keep deleted points until an optimizer rewrites them
    layout = EDGE_LAYOUT

    # Every method works in the calling thread and holds no event-loop state, and Edge shards are
    # not bound to the thread that opened them (tests/test_edge_index.py runs each from a worker).
    blocking = True

    def __init__(
        self,
        root: str | Path,
        generation: str | None = None,
        *,
        child_build_at: int | None = CHILD_BUILD_AT,
        _lock: DirectoryLock | None = None,
    ) -> None:
        """Open (or create) the index at ``root``, taking its lock. ``child_build_at``: from how
        many events on :meth:`fresh` builds a generation in a child process (None: never).
        ``generation`` and ``_lock`` are for :meth:`fresh`: a new generation opened under the lock
        its owner already holds."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock: DirectoryLock | None = _lock.share() if _lock is not None else DirectoryLock.acquire(self.root)
        self._local: EdgeShards  # the shards open here, made once the directory is known
        #: a child process writing this generation (fresh(events=...)); None: written here
        self._build: EdgeBuild | None = None
        #: from this many events on, fresh() builds in a child process (None: never)
        self.child_build_at = child_build_at
        self._indexed: dict[str, set[str]] = {}  # collection -> payload fields with an index
        #: collection -> payload fields searches asked to index, left to a copy (index_on_copies)
        self._wanted: dict[str, dict[str, IndexKind]] = {}
        self._copying = threading.Lock()  # held by copy() while it copies the shards' files
        try:
            current = self.root / _CURRENT
            if generation is None:
                generation = current.read_text().strip() if current.exists() else _new_generation()
                if not current.exists():
                    write_atomically(current, generation)
            self.generation = generation
            if _lock is None:  # a new owner: nothing else of this directory can be in use
                self._remove_orphans(keep={generation, current.read_text().strip()})
            self.dir = self.root / generation
            self.dir.mkdir(exist_ok=True)
            self.name = f"edge:{self.dir}"
            self.applied_position = 0
            self._local = EdgeShards(self.dir)
        except BaseException:  # a failed open leaves the directory as free as it found it
            self._release()
            raise

    def _remove_orphans(self, keep: set[str]) -> None:
        """Remove generations a killed rebuild left behind: only the current one is ever read again."""
        for path in self.root.iterdir():
            if path.is_dir() and _GENERATION.fullmatch(path.name) and path.name not in keep:
                shutil.rmtree(path)

    @property
    def rebuild_flush_every(self) -> int | None:
        # An Edge flush holds the GIL for a time that grows with what it has to write (about 10 ms
        # per 1,000 points of 384 dimensions), so one flush at the end of a 100,000-memory rebuild
        # would stall every search for a third of a second. A child process flushes only its own.
        return None if self._build is not None else 2000

    @property
    def _shards(self) -> dict[str, qe.EdgeShard]:
        """The shards, open in this process: a generation a child process is building is taken
        over first (every read needs them here)."""
        self._take_over()
        return self._local.shards

    def _take_over(self) -> None:
        """End the child's build (it flushes and closes its shards) and load its shards here."""
        build = self._builder()
        if build is not None:
            self._build = None
            build.finish()
            self._local = EdgeShards(self.dir)

    def _builder(self) -> EdgeBuild | None:
        """The child process writing this generation, once it runs. One that could not start (no
        interpreter to run it) has been sent nothing yet: this process writes the generation instead."""
        build = self._build
        if build is not None and not build.started():
            logger.warning(
                "building the Qdrant Edge index in this process: its child process did not start: %s", build.why
            )
            self._build = None
            build.kill()
            self._local.close()
            self._local = EdgeShards(self.dir)  # the shards the child was to load (a copy's)
        return self._build

    def _collections(self) -> set[str]:
        """The collections this generation holds a shard of, wherever it is being written."""
        return set(self._build.collections) if self._build is not None else set(self._local.shards)

    def _filter(self, collection: str, namespace: str | None, node: Node | None) -> Any:
        """The Qdrant filter for a query, after indexing the metadata keys it uses (see payload_indexes)."""
        shard = self._shards[collection]
        expiries = shard.info().payload_schema.get(EXPIRES_AT)  # info() costs about 4 µs
        if expiries is not None and expiries.points == 0:
            # Every read asks for unexpired memories (expiry.py), but a shard that holds no point
            # with an expiry has none to leave out, and the condition is not free: at 1M memories
            # in 10 tenants a search took 15.6-16.8 ms with it, 10.2-10.7 ms without.
            node = without_expiry(node)
        wanted = {
            (_BOOLEANS if kind == "bool" else metadata_key(key)): kind for key, kind in wanted_indexes(node).items()
        }
        if node is not None and expiries is None:
            # A shard made before its collection indexed expiry from the start (_create): from an
            # index, a search costs what it did before expiry existed (0.85 ms at 10k); without
            # one, three times as much.
            wanted[EXPIRES_AT] = "float"
        if wanted:
            indexed = self._indexed.get(collection)
            if indexed is None:
                indexed = self._indexed[collection] = set(shard.info().payload_schema)
            missing = {field: kind for field, kind in wanted.items() if field not in indexed}
            if missing and self._leaves_indexes_to_copies(shard):
                with self._copying:
                    self._wanted.setdefault(collection, {}).update(missing)
            else:
                for field, kind in missing.items():
                    with self._copying:
                        shard.update(qe.UpdateOperation.create_field_index(field, _INDEX_PARAMS[kind]))
                    indexed.add(field)
        return scoped_filter(VOCABULARY, namespace, node)

    def _leaves_indexes_to_copies(self, shard: qe.EdgeShard) -> bool:
        """Whether a payload index this shard lacks is left to a copy built in a child process.
        qdrant-edge-py holds the GIL while it builds one, so building it here stops every call of
        this process (770 ms at 100,000 memories, 8.75 s at 1M); from child_build_at points on,
        searches answer without it (Qdrant then checks each candidate's payload: the same answer)
        until the copy that has it is swapped in."""
        return (
            self.index_on_copies
            and self.child_build_at is not None
            and shard.info().points_count >= self.child_build_at
        )

    @property
    def wanted_indexes(self) -> bool:
        return self.index_on_copies and bool(self._wanted)

    def held(self, collection: str) -> Iterable[str]:
        return sorted(self._collections())

    async def write(self, ops: Iterable[WriteOp]) -> None:
        """The one write routine of apply and repair: whether to write is decided by the caller."""
        build = self._builder()
        for write in edge_writes(ops):
            if build is not None:
                build.send(write)
            else:
                self._local.carry_out(write)

    async def flush(self) -> None:
        build = self._builder()
        if build is not None:
            build.call(("flush",))
        else:
            self._local.carry_out(("flush",))
        # Only after the shards: the state must never claim a position the shards do not hold.
        # Never back: a reopened index starts at applied_position 0 but still holds what it
        # recorded, and a flush before it applies anything must not erase that record.
        # The collections are recorded so that a shard deleted later is noticed (see state()).
        recorded = await self.state()
        position = max(self.applied_position, recorded.position if recorded and recorded.layout == EDGE_LAYOUT else 0)
        state = {"position": position, "layout": EDGE_LAYOUT, "collections": sorted(self._collections())}
        write_atomically(self.dir / _STATE, json.dumps(state))

    async def state(self) -> IndexState | None:
        try:
            recorded = json.loads((self.dir / _STATE).read_text())
            state = IndexState(int(recorded["position"]), int(recorded["layout"]))
            collections = set(recorded["collections"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # Written atomically, so unreadable means damaged: report nothing, which gets the
            # index rebuilt from the log rather than trusted.
            return None
        if not collections <= self._collections():
            return None  # a collection the index held is gone: the index as a whole was lost
        return state

    async def entries(self, collection: str) -> list[Entry]:
        shard = self._shards.get(collection)
        if shard is None:
            return []
        entries = []
        for payload in _scroll(shard, None, [NAMESPACE, _RETURNED]):
            packed = json_text.loads(payload[_RETURNED])
            entries.append(Entry(payload[NAMESPACE], packed[MEMORY_ID], packed[VERSION]))
        return entries

    async def optimize(self) -> None:
        """Build the payload indexes searches asked for (wanted_indexes), then optimize."""
        with self._copying:
            wanted, self._wanted = self._wanted, {}
        held = self._collections()  # a rebuild wants those of the index it replaces, which may hold more
        writes = [
            ("index", c, field, kind) for c, fields in wanted.items() if c in held for field, kind in fields.items()
        ]
        build = self._builder()
        if build is None:
            for write in [*writes, ("optimize",)]:
                self._local.carry_out(write)
            return
        # A build's last step: indexed and optimized in the child, then taken over here to serve.
        for write in writes:
            build.send(write)
        build.call(("optimize",))
        self._take_over()

    async def search(self, query: SearchQuery) -> list[MemoryRecord]:
        shard = self._shards.get(query.collection)
        if shard is None:
            return []
        condition = self._filter(query.collection, query.namespace, query.filter)
        dense = sparse = None
        if query.mode != "sparse":
            assert query.vector is not None
            nearest: Any = (
                qe.Query.Nearest(query.vector.tolist(), using=query.using)
                if query.diversity is None
                else qe.Mmr(query.vector.tolist(), 1.0 - query.diversity, query.pools[0], using=query.using)
            )
            dense = (nearest, _EXACT if query.exact else _APPROXIMATE)
        if query.mode != "dense":
            # IDF over the namespace only: one tenant's words never weigh on another's scores.
            corpus = scoped_filter(VOCABULARY, query.namespace, None)
            indices, values = query.terms or ([], [])
            terms = qe.SparseVector(indices, values)
            sparse = (qe.Query.Nearest(terms, using=SPARSE), qe.SearchParams(idf=qe.IdfParams(corpus=corpus)))
        if dense is not None and sparse is not None:
            weights = list(query.weights) if query.weights else None
            fusion: Any = qe.Fusion.Rrf(k=RRF_K, weights=weights) if query.fusion == "rrf" else qe.Fusion.Dbsf()
            prefetches = [
                qe.Prefetch(limit=pool, query=q, filter=condition, params=p)
                for pool, (q, p) in zip(query.pools, (dense, sparse), strict=True)
            ]
            request = qe.QueryRequest(
                limit=query.limit,
                prefetches=prefetches,
                query=fusion,
                filter=condition,
                with_payload=_RECORD_FIELDS,
                with_vector=[query.using] if query.with_vectors else False,
                score_threshold=query.score_threshold,
            )
        else:
            one, params = dense or sparse  # type: ignore[misc]
            request = qe.QueryRequest(
                limit=query.limit,
                query=one,
                filter=condition,
                with_payload=_RECORD_FIELDS,
                with_vector=[query.using] if query.with_vectors else False,
                score_threshold=query.score_threshold,
                params=params,
            )
        hits = shard.query(request)
        return [_record(query.collection, hit.payload or {}, hit.score, own_vectors(hit.vector)) for hit in hits]

    async def get(
        self, collection: str, namespace: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[MemoryRecord]:
        shard = self._shards.get(collection)
        if shard is None or not ids:
            return []
        records = shard.retrieve(
            [point_id(collection, namespace, i) for i in ids], with_payload=_RECORD_FIELDS, with_vector=with_vectors
        )
        found = [_record(collection, r.payload, None, own_vectors(r.vector)) for r in records if r.payload]
        by_id = {record.id: record for record in found}
        return [by_id[i] for i in ids if i in by_id]

    async def scan(
        self, collection: str, namespace: str, filter: Node | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[MemoryRecord]:
        shard = self._shards.get(collection)
        if shard is None:
            return []
        condition = self._filter(collection, namespace, filter)
        records = [_record(collection, payload) for payload in _scroll(shard, condition, _RECORD_FIELDS)]
        records.sort(key=lambda r: r.id)
        return records[offset:] if limit is None else records[offset : offset + limit]

    async def count(self, collection: str, namespace: str | None = None, filter: Node | None = None) -> int:
        shard = self._shards.get(collection)
        if shard is None:
            return 0
        return shard.count(qe.CountRequest(exact=True, filter=self._filter(collection, namespace, filter)))

    def _generation(self) -> EdgeProjection:
        """A new generation of this index, under the same lock and settings."""
        if self._lock is None:
            raise IndexUnavailableError(f"the Qdrant Edge index at {self.dir} is closed; open it again")
        fresh = EdgeProjection(
            self.root, generation=_new_generation(), child_build_at=self.child_build_at, _lock=self._lock
        )
        fresh.index_on_copies = self.index_on_copies
        return fresh

    def _metadata_indexes(self) -> dict[str, dict[str, IndexKind]]:
        """The payload indexes searches had made on this generation's shards (see _filter)."""
        kinds: dict[Any, IndexKind] = {qe.PayloadSchemaType.Keyword: "keyword", qe.PayloadSchemaType.Float: "float"}
        made: dict[str, dict[str, IndexKind]] = {}
        for collection, shard in self._local.shards.items():
            for field, info in shard.info().payload_schema.items():
                kind: IndexKind | None = "bool" if field == _BOOLEANS else kinds.get(info.data_type)
                if field not in (NAMESPACE, EXPIRES_AT) and kind is not None:
                    made.setdefault(collection, {})[field] = kind
        return made

    async def fresh(self, *, events: int = 0) -> EdgeProjection:
        """A new generation; one to be built from at least ``child_build_at`` events is written by
        a child process (edge_build.py) until its :meth:`optimize` or first read. Its optimize()
        builds the payload indexes searches had made on this one."""
        fresh = self._generation()
        fresh._wanted = self._metadata_indexes()
        if self.child_build_at is not None and events >= self.child_build_at:
            try:
                fresh._build = EdgeBuild.start(fresh.dir)
            except OSError as exc:  # no interpreter to start (an embedded Python): build here
                logger.warning("building the index in this process: cannot start a child process (%s)", exc)
        return fresh

    async def copy(self, *, events: int = 0) -> EdgeProjection | None:
        """A new generation holding this one's shards as last flushed, which a child process
        optimizes while this one serves; None below ``child_build_at`` events: optimized in this
        process, a copy would only add to the wait (Edge holds the GIL optimizing either way, and
        the first flush of a loaded copy took 0.24 s at 3,000 memories that optimized in no time).
        The child also builds the payload indexes searches asked for (wanted_indexes)."""
        if self.child_build_at is None or events < self.child_build_at:
            return None
        fresh = self._generation()
        try:
            with self._copying:  # no search adds a payload index to a shard while its files are copied
                for name in self._shards:
                    shutil.copytree(self.dir / name, fresh.dir / name)
            fresh._build = EdgeBuild.start(fresh.dir)  # which loads the copies
            with self._copying:  # built by the copy's optimize(), in the generation that serves next
                fresh._wanted, self._wanted = self._wanted, {}
        except BaseException:
            await fresh.drop()
            raise
        return fresh

    async def promote(self, replaced: Projection) -> None:
        await self.flush()
        self._take_over()  # it serves from now on
        write_atomically(self.root / _CURRENT, self.generation)
        if isinstance(replaced, EdgeProjection):  # what searches asked for while this one was built
            with replaced._copying:
                wanted, replaced._wanted = replaced._wanted, {}
            for collection, fields in wanted.items():
                shard = self._local.shards.get(collection)
                indexed = set(shard.info().payload_schema) if shard is not None else set()
                missing = {field: kind for field, kind in fields.items() if field not in indexed}
                if missing:
                    self._wanted.setdefault(collection, {}).update(missing)
        await replaced.drop()

    async def drop(self) -> None:
        await self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    async def close(self) -> None:
        if self._build is not None:  # closed while a child builds it: the build is abandoned
            build, self._build = self._build, None
            build.kill()
        self._local.close()
        self._indexed.clear()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()


def _scroll(shard: qe.EdgeShard, condition: Any, with_payload: bool | list[str]) -> Iterator[dict[str, Any]]:
    """The payload of every point matching ``condition``, a page at a time."""
    offset = None
    while True:
        page, offset = shard.scroll(
            qe.ScrollRequest(offset=offset, limit=1000, filter=condition, with_payload=with_payload)
        )
        for record in page:
            yield record.payload or {}
        if offset is None:
            return


@hookimpl
def omega_memory_projection(url: str, settings: Settings) -> Projection | None:
    if scheme(url) != "edge":
        return None
    return EdgeProjection(url_path(url), child_build_at=CHILD_BUILD_AT if settings.edge_build_process else None)
