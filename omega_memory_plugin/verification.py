"""``Memory.verify()``: does the index hold exactly the log's live memories?

The log is the truth. Its live state (which memories are alive, at which version) is folded from
the event envelopes with the one stream-state rule of :mod:`omega_memory_plugin.log.versioning`,
and compared with what the index holds, namespace by namespace: first by count and a digest of
the sorted ``(id, version)`` pairs, then, for a namespace whose digests differ, memory by memory.
With ``repair=True`` the memories that differ are re-projected from their latest event.

Other processes may write while it runs (a shared log and Qdrant server): the index can then hold
states newer than the position compared at. A difference is reported only for a memory that no
event after that position touched (read from the log after the index was read); the others are
in flight, counted in :attr:`VerifyReport.in_flight`, and left for a later run. This process's
own projector has applied everything up to the position, and index writes never move a memory
back, so the index cannot be legitimately *behind* the position.

Example::

    report = memory.verify()
    print(report)  # "ok: 1,204 memories in 3 namespaces match the log at position 5,120"
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import Event, MemoryDeletedEvent, MemoryUpsertedEvent
from .index.base import Projection
from .log.base import EventLog
from .log.versioning import LiveState
from .spaces import space_name

Scope = tuple[str, str]  # (collection, namespace)


@dataclass(frozen=True, slots=True)
class Drift:
    """How one namespace of the index differs from the log."""

    collection: str
    namespace: str
    log_count: int
    index_count: int
    missing: list[str] = field(default_factory=list)  # alive in the log, absent from the index
    extra: list[str] = field(default_factory=list)  # in the index, not alive in the log
    stale: list[tuple[str, int, int]] = field(default_factory=list)  # (id, log version, index version)

    def __str__(self) -> str:
        parts = [f"{self.collection}/{self.namespace}: log {self.log_count}, index {self.index_count}"]
        for label, items in (("missing", self.missing), ("extra", self.extra), ("stale", self.stale)):
            if items:
                shown = ", ".join(map(str, items[:5])) + (" ..." if len(items) > 5 else "")
                parts.append(f"{len(items)} {label} ({shown})")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    position: int  #: the log position both sides were compared at
    namespaces: int  #: namespaces with live memories, in the log or the index
    memories: int  #: live memories in the log
    drift: list[Drift]
    repaired: int  #: memories re-projected (``repair=True``)
    seconds: float
    in_flight: int = 0  #: differences left out: another process wrote those memories meanwhile

    @property
    def ok(self) -> bool:
        """True when the index matched the log (before any repair)."""
        return not self.drift

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "position": self.position,
            "namespaces": self.namespaces,
            "memories": self.memories,
            "repaired": self.repaired,
            "in_flight": self.in_flight,
            "seconds": round(self.seconds, 3),
            "drift": [
                {
                    "collection": d.collection,
                    "namespace": d.namespace,
                    "log_count": d.log_count,
                    "index_count": d.index_count,
                    "missing": d.missing,
                    "extra": d.extra,
                    "stale": [list(s) for s in d.stale],
                }
                for d in self.drift
            ],
        }

    def __str__(self) -> str:
        head = f"{self.memories:,} memories in {self.namespaces:,} namespaces, log position {self.position:,}"
        if self.ok:
            return f"ok: the index matches the log ({head})"
        lines = [f"DRIFT in {len(self.drift)} namespace(s) ({head}):", *(f"  {d}" for d in self.drift)]
        if self.repaired:
            lines.append(f"repaired: {self.repaired} memories re-projected from the log")
        return "\n".join(lines)


def digest(versions: Mapping[str, int]) -> str:
    """A digest of a namespace's ``(id, version)`` pairs, independent of their order."""
    h = hashlib.blake2b(digest_size=16)
    for memory_id in sorted(versions):
        h.update(memory_id.encode())
        h.update(b"\x00")
        h.update(str(versions[memory_id]).encode())
        h.update(b"\x00")
    return h.hexdigest()


async def live_state(log: EventLog, until: int) -> dict[Scope, dict[str, int]]:
    state = LiveState()
    async for batch in log.envelopes(until=until):
        state.apply(batch)
    return state.alive


async def indexed_state(index: Projection, collections: Mapping[str, str]) -> dict[Scope, dict[str, int]]:
    """What the index serves of each collection (name -> the index collection of its served
    embedding space, :mod:`omega_memory_plugin.spaces`)."""
    held: dict[Scope, dict[str, int]] = {}
    for collection, served in collections.items():
        for entry in await index.entries(served):
            held.setdefault((collection, entry.namespace), {})[entry.memory_id] = entry.version
    return held


def compare(expected: Mapping[Scope, Mapping[str, int]], actual: Mapping[Scope, Mapping[str, int]]) -> list[Drift]:
    drift = []
    for scope in sorted(set(expected) | set(actual)):
        want, have = expected.get(scope, {}), actual.get(scope, {})
        if len(want) == len(have) and digest(want) == digest(have):
            continue
        drift.append(
            Drift(
                collection=scope[0],
                namespace=scope[1],
                log_count=len(want),
                index_count=len(have),
                missing=sorted(set(want) - set(have)),
                extra=sorted(set(have) - set(want)),
                stale=sorted((i, want[i], have[i]) for i in set(want) & set(have) if want[i] != have[i]),
            )
        )
    return drift


async def touched_after(log: EventLog, position: int) -> tuple[set[tuple[str, str, str]], set[Scope]]:
    """The memories written and the namespaces erased after ``position``, as the log has them now."""
    memories: set[tuple[str, str, str]] = set()
    erased: set[Scope] = set()
    async for batch in log.envelopes(position):
        for e in batch:
            if e.type == "namespace.erased":
                erased.add((e.collection, e.namespace))
            elif e.type in ("memory.upserted", "memory.deleted"):
                memories.add((e.collection, e.namespace, e.memory_id))
    return memories, erased


def settled(drift: Sequence[Drift], memories: set[tuple[str, str, str]], erased: set[Scope]) -> tuple[list[Drift], int]:
    """``drift`` without the memories in flight; and how many were left out."""
    kept: list[Drift] = []
    left_out = 0
    for d in drift:

        def still(memory_id: str, d: Drift = d) -> bool:
            return (d.collection, d.namespace) not in erased and (d.collection, d.namespace, memory_id) not in memories

        missing = [i for i in d.missing if still(i)]
        extra = [i for i in d.extra if still(i)]
        stale = [s for s in d.stale if still(s[0])]
        left_out += len(d.missing) + len(d.extra) + len(d.stale) - len(missing) - len(extra) - len(stale)
        if missing or extra or stale:
            kept.append(Drift(d.collection, d.namespace, d.log_count, d.index_count, missing, extra, stale))
    return kept, left_out


async def verify(
    log: EventLog, index: Projection, position: int, collections: Mapping[str, str], *, repair: bool = False
) -> VerifyReport:
    """Compare the index with the log at ``position``, up to which the caller's projector has
    applied the log (no write of the caller's own reaches the index meanwhile). ``collections``
    maps each collection to the index collection that serves it."""
    started = time.perf_counter()
    expected = await live_state(log, position)
    drift = compare(expected, await indexed_state(index, collections))
    in_flight = 0
    if drift:  # read after the index: covers every write the index could already reflect
        drift, in_flight = settled(drift, *await touched_after(log, position))
    repaired = await _repair(log, index, drift, position, collections) if repair and drift else 0
    return VerifyReport(
        position=position,
        namespaces=len({s for s, ids in expected.items() if ids} | {(d.collection, d.namespace) for d in drift}),
        memories=sum(len(ids) for ids in expected.values()),
        drift=drift,
        repaired=repaired,
        seconds=time.perf_counter() - started,
        in_flight=in_flight,
    )


async def _repair(
    log: EventLog, index: Projection, drift: Sequence[Drift], position: int, collections: Mapping[str, str]
) -> int:
    """Re-project each memory that differs: its latest upsert, or a delete for an extra point
    (dated at the compared position: an index shared with other processes never lets a repair
    replace a state newer than what it is based on). An upsert whose vectors belong to another
    embedding space than the one served is left to ``Memory.reembed``, which computes them."""
    events: list[Event] = []
    for d in drift:
        for memory_id in [*d.missing, *(s[0] for s in d.stale)]:
            stream = await log.stream((d.collection, d.namespace, memory_id))
            last = stream[-1]  # alive in the log, so its last event is the upsert
            if (
                isinstance(last, MemoryUpsertedEvent)
                and space_name(d.collection, last.data.space) == collections[d.collection]
            ):
                events.append(last)
        events += [
            MemoryDeletedEvent(collection=d.collection, namespace=d.namespace, memory_id=i, position=position)
            for i in d.extra
        ]
    await index.repair(events)
    await index.flush()
    return len(events)
