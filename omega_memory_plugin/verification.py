"""``Memory.verify()``: does the index hold exactly the log's live memories?

The log is the truth. Its live state (which memories are alive, at which version) is folded from
the event envelopes with the one stream-state rule of :mod:`omega_memory_plugin.log.versioning`,
and compared with what the index holds, namespace by namespace: first by count and a digest of
the sorted ``(id, version)`` pairs, then, for a namespace whose digests differ, memory by memory.
With ``repair=True`` the memories that differ are re-projected from their latest event.

Example::

    report = memory.verify()
    print(report)  # "ok: 1,204 memories in 3 namespaces match the log at position 5,120"
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import Event, MemoryDeletedEvent
from .index.base import Projection
from .log.base import EventLog
from .log.versioning import LiveState

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
            "seconds": round(self.seconds, 3),
            "drift": [
                {"collection": d.collection, "namespace": d.namespace, "log_count": d.log_count,
                 "index_count": d.index_count, "missing": d.missing, "extra": d.extra,
                 "stale": [list(s) for s in d.stale]}
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


async def indexed_state(index: Projection, collections: Iterable[str]) -> dict[Scope, dict[str, int]]:
    held: dict[Scope, dict[str, int]] = {}
    for collection in collections:
        for entry in await index.entries(collection):
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


async def verify(
    log: EventLog, index: Projection, position: int, collections: Sequence[str], *, repair: bool = False
) -> VerifyReport:
    """Compare the index with the log at ``position`` (the caller keeps writes out meanwhile)."""
    started = time.perf_counter()
    expected = await live_state(log, position)
    drift = compare(expected, await indexed_state(index, collections))
    repaired = await _repair(log, index, drift) if repair and drift else 0
    return VerifyReport(
        position=position,
        namespaces=len({s for s, ids in expected.items() if ids} | {(d.collection, d.namespace) for d in drift}),
        memories=sum(len(ids) for ids in expected.values()),
        drift=drift,
        repaired=repaired,
        seconds=time.perf_counter() - started,
    )


async def _repair(log: EventLog, index: Projection, drift: Sequence[Drift]) -> int:
    """Re-project each memory that differs: its latest upsert, or a delete for an extra point."""
    events: list[Event] = []
    for d in drift:
        for memory_id in [*d.missing, *(s[0] for s in d.stale)]:
            stream = await log.stream((d.collection, d.namespace, memory_id))
            events.append(stream[-1])  # alive in the log, so its last event is the upsert
        events += [MemoryDeletedEvent(collection=d.collection, namespace=d.namespace, memory_id=i) for i in d.extra]
    await index.repair(events)
    await index.flush()
    return len(events)
