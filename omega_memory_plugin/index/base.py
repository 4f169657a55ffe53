"""The Projection contract: a searchable view of the log, rebuildable at any time.

A projection is fed events in position order by the projector and answers reads. It may be
dropped and rebuilt from the log whenever needed, so it holds nothing the log does not.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

from ..events import Event
from ..filters import Node
from ..records import MemoryRecord
from .batching import WriteOp, plan_repairs, plan_writes
from .bm25 import Terms
from .payload import LAYOUT


@dataclass(frozen=True, slots=True)
class IndexState:
    """What an index records about itself each time it flushes: the log position it durably
    reflects and the point layout it was built with (see :data:`~omega_memory_plugin.index.payload.LAYOUT`).

    A Memory compares it with the log's checkpoint at open: an index that recorded nothing while
    the checkpoint says it should hold events was lost, one behind its checkpoint is stale, one of
    another layout addresses points differently; each is rebuilt from the log, never served."""

    position: int
    layout: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One memory as the index holds it, for :meth:`Projection.entries` (``verify``)."""

    namespace: str
    memory_id: str
    version: int


SearchMode: TypeAlias = Literal["dense", "sparse", "hybrid"]
Fusion: TypeAlias = Literal["rrf", "dbsf"]

#: The constant of reciprocal rank fusion: a hit at rank r (from 0) of each side adds 1 / (k + r).
#: 60, as in the paper that introduced it and in Qdrant's examples (Qdrant's own default is 2).
RRF_K = 60


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search. ``namespace`` is mandatory: tenant scope is never optional.

    ``mode`` says what ranks the memories: ``"dense"`` the nearest vectors to ``vector`` (in the
    named vector ``using``), ``"sparse"`` BM25 over the texts with ``terms`` (from
    :func:`~.bm25.query_terms`, IDF over the namespace), ``"hybrid"`` both, each side bringing its
    best ``candidates`` to a fusion (``"rrf"``: reciprocal rank with :data:`RRF_K`, each side
    weighted by ``weights`` = (dense, sparse) if given; ``"dbsf"``: each side's scores normalised
    by mean +- 3 sample standard deviations, then summed).
    ``score_threshold`` applies to the final score (the fused one in hybrid mode).

    ``diversity`` (dense mode only) re-ranks the best ``candidates`` by maximal marginal relevance,
    as Qdrant does: the most similar first, then each time the candidate maximising
    ``(1 - diversity) * similarity to the query - diversity * its highest similarity to those
    already chosen``; hits keep their similarity to the query as their score.
    """

    collection: str
    namespace: str
    vector: np.ndarray | None
    using: str
    limit: int = 10
    filter: Node | None = None
    score_threshold: float | None = None
    with_vectors: bool = False
    exact: bool = False
    mode: SearchMode = "dense"
    terms: Terms | None = None
    fusion: Fusion = "rrf"
    candidates: tuple[int, int] | None = None
    weights: tuple[float, float] | None = None
    diversity: float | None = None

    @property
    def pools(self) -> tuple[int, int]:
        """How many hits (dense, sparse) bring to a hybrid fusion: ``candidates``, else 4 x
        ``limit`` each (at least 20), so that a memory ranked well by one side only still reaches
        the fusion."""
        return self.candidates or (max(4 * self.limit, 20),) * 2


class Projection(abc.ABC):
    """Contract (checked by :mod:`omega_memory_plugin.testing.projection_conformance`):

    * ``apply`` applies events in the order given; events at or below ``applied_position`` are
      ignored, so applying an event twice gives the same state and an older event never
      overwrites a newer one.
    * ``flush`` makes everything applied durable; the projector saves its checkpoint only after.
    * reads see every applied event (read-your-writes), flushed or not.
    * a collection appears when its ``collection.created`` event is applied.
    """

    #: Names this projection's checkpoint in the log; unique per generation of the index.
    name: str = "projection"
    applied_position: int = 0
    #: True when the methods do their work in the calling thread (an embedded engine) and hold no
    #: event-loop state: a rebuild may then run ``apply``/``flush`` of a fresh projection on a
    #: worker thread (each call inside its own short-lived loop), so reads keep answering.
    blocking: bool = False
    #: The point layout this projection writes (recorded in :class:`IndexState` at flush).
    layout: int = LAYOUT
    #: True when a deleted point's payload stays in the engine's storage files until the engine
    #: compacts them (Qdrant's segments do): ``Memory.forget`` then rebuilds the index, so that
    #: no file holds a forgotten memory's text.
    keeps_deleted: bool = False
    #: Set by a Memory that builds the payload indexes searches ask for on a copy (see
    #: :attr:`wanted_indexes`); False: a projection builds them when a search first asks.
    index_on_copies: bool = False

    @property
    def wanted_indexes(self) -> bool:
        """True when searches asked for payload indexes this projection left to a :meth:`copy`
        (only while :attr:`index_on_copies`): ``Memory`` then optimizes a copy, which builds
        them, and swaps it in; meanwhile those searches answer without the index, as exactly."""
        return False

    @property
    def rebuild_flush_every(self) -> int | None:
        """A rebuild on a worker thread (a :attr:`blocking` projection) flushes the new projection
        every so many events; None: only once it is built."""
        return None

    async def apply(self, events: Sequence[Event]) -> None:
        """Apply events in position order, skipping those at or below ``applied_position``."""
        fresh = [e for e in events if e.position > self.applied_position]
        await self.write(plan_writes(fresh, self.held))
        if fresh:
            self.applied_position = fresh[-1].position

    async def repair(self, events: Sequence[Event]) -> None:
        """Write the effect of these ``memory.upserted`` / ``memory.deleted`` events whatever the
        index holds (no position check, ``applied_position`` unchanged): ``verify(repair=True)``
        uses it to re-project memories that drifted."""
        await self.write(plan_repairs(events, self.held))

    @abc.abstractmethod
    def held(self, collection: str) -> Iterable[str]:
        """The names of the physical collections this index holds that may belong to
        ``collection`` (itself and its embedding spaces, :mod:`omega_memory_plugin.spaces`; any
        superset will do, the planner picks them out)."""

    @abc.abstractmethod
    async def write(self, ops: Iterable[WriteOp]) -> None:
        """Carry out write plans in order (:mod:`.batching`): the one write routine that
        :meth:`apply` and :meth:`repair` share; whether to write was decided by them."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Make everything applied durable, then record :class:`IndexState` (``applied_position``
        and the current layout) in the index's own storage."""

    @abc.abstractmethod
    async def state(self) -> IndexState | None:
        """The state recorded by the last ``flush``, or ``None`` if this index never recorded one
        (new, lost, or built by a version that did not record it)."""

    @abc.abstractmethod
    async def entries(self, collection: str) -> list[Entry]:
        """Every memory of ``collection`` in every namespace, with the version the index holds."""

    @abc.abstractmethod
    async def search(self, query: SearchQuery) -> list[MemoryRecord]: ...

    @abc.abstractmethod
    async def get(
        self, collection: str, namespace: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[MemoryRecord]:
        """The memories with these ids that exist, in the order of ``ids``."""

    @abc.abstractmethod
    async def scan(
        self, collection: str, namespace: str, filter: Node | None = None, limit: int | None = 100, offset: int = 0
    ) -> list[MemoryRecord]:
        """Memories matching ``filter``, ordered by memory id; ``limit=None`` returns all of them."""

    @abc.abstractmethod
    async def count(self, collection: str, namespace: str | None = None, filter: Node | None = None) -> int: ...

    @abc.abstractmethod
    async def fresh(self, *, events: int = 0) -> Projection:
        """A new, empty projection of the same kind and settings, not yet the current one.
        ``events``: about how many events it will be built from (an embedded index builds a large
        one in a child process)."""

    async def copy(self, *, events: int = 0) -> Projection | None:
        """A new projection holding what this one held at its last flush, not yet the current one
        (``Memory.optimize()`` optimizes it while this one serves, then swaps it in); the caller
        flushes first and applies nothing until this returns. The copy also builds the
        :attr:`wanted_indexes`. ``events``: about how many events it holds. None: ``optimize()``
        works in place (not supported, or not worth a copy)."""
        return None

    @abc.abstractmethod
    async def promote(self, replaced: Projection) -> None:
        """Make this projection the one future opens use, and drop ``replaced``."""

    async def follow(self) -> Projection | None:
        """For an index shared by several processes: the generation another process promoted
        since this one was opened (opened, not yet caught up), or None. The Memory then catches it
        up from the log and serves it instead. An index only this process uses returns None."""
        return None

    async def take_over(self, replaced: Projection) -> None:
        """Serve instead of ``replaced`` in this process (after :meth:`follow`): release it without
        dropping it (other processes may still read it)."""
        await replaced.close()

    async def optimize(self) -> None:
        """Build search indexes now (e.g. after a bulk load). A no-op where nothing is deferred."""

    @abc.abstractmethod
    async def drop(self) -> None:
        """Delete everything this projection stores."""

    async def open(self) -> None:
        """Connect and prepare storage (create tables, indexes). Called once before any other
        method; a no-op for backends that are ready on construction."""

    @abc.abstractmethod
    async def close(self) -> None: ...
