"""Property: on every log, stream state follows the one rule of ``log/versioning.py``.

Random programs of commits (upserts, deletes, erases, collection creations, expected versions,
retried commits, an event repeated inside a commit), written through one or two log instances
sharing one store, are compared after every commit with a reference model that recomputes
everything from the list of recorded events by the rule's plain words: a memory is alive iff its
stream's last event is an upsert recorded after its namespace's last erase. Compared: what each
append returns (or the conflict it raises), every head, and at the end the whole log,
``envelopes``, :func:`memory_history` and :class:`LiveState`.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import event as count_case
from hypothesis import strategies as st
from pymongo import AsyncMongoClient

from omega_memory_plugin.errors import ConcurrencyError
from omega_memory_plugin.events import Event, StreamKey
from omega_memory_plugin.log.base import Envelope, EventLog
from omega_memory_plugin.log.memory import InMemoryEventLog
from omega_memory_plugin.log.mongo import MongoEventLog
from omega_memory_plugin.log.sqlite import SQLiteEventLog
from omega_memory_plugin.log.versioning import LiveState, memory_history
from omega_memory_plugin.testing.builders import created, deleted, erased, upserted
from omega_memory_plugin.testing.log_conformance import envelopes_all, read_all

COLLECTIONS = ("c1", "c2")
NAMESPACES = ("n1", "n2")
IDS = ("a", "b", "c")
MEMORIES = [(c, n, m) for c in COLLECTIONS for n in NAMESPACES for m in IDS]
ALL_STREAMS = [*MEMORIES, *((c, n, "") for c in COLLECTIONS for n in NAMESPACES), *((c, "", "") for c in COLLECTIONS)]


@dataclass(frozen=True)
class Op:
    kind: Literal["upsert", "delete", "erase", "create", "repeat"]
    collection: str = "c1"
    namespace: str = ""
    memory_id: str = ""
    expected: int | None = None
    index: int = 0  # for "repeat": which earlier event of the commit to send again


@dataclass(frozen=True)
class Commit:
    ops: tuple[Op, ...]
    writer: int  # which log instance appends it (logs with a shared store get two)
    retry: bool  # send the previous commit again instead (same event ids)


_c, _n, _m = st.sampled_from(COLLECTIONS), st.sampled_from(NAMESPACES), st.sampled_from(IDS)
_expected = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 3))
OPS = st.one_of(
    st.builds(Op, st.just("upsert"), _c, _n, _m, _expected),
    st.builds(Op, st.just("upsert"), _c, _n, _m, _expected),
    st.builds(Op, st.just("delete"), _c, _n, _m, _expected),
    st.builds(Op, st.just("erase"), _c, _n),
    st.builds(Op, st.just("create"), _c, expected=st.sampled_from([None, 0])),
    st.builds(Op, st.just("repeat"), index=st.integers(0, 3)),
)
COMMITS = st.builds(
    Commit, st.lists(OPS, min_size=1, max_size=4).map(tuple), st.integers(0, 1), st.sampled_from([False] * 5 + [True])
)


def _at_most_30_ops(program: list[Commit]) -> list[Commit]:
    counts = itertools.accumulate(len(c.ops) for c in program)
    return [c for c, total in zip(program, counts, strict=True) if total <= 30] or program[:1]


PROGRAMS = st.lists(COMMITS, min_size=1, max_size=12).map(_at_most_30_ops)


def build(commit: Commit) -> tuple[list[Event], dict[StreamKey, int]]:
    events: list[Event] = []
    expected: dict[StreamKey, int] = {}
    for op in commit.ops:
        if op.kind == "repeat":
            if events:
                events.append(events[op.index % len(events)])
            continue
        if op.kind == "upsert":
            event = upserted(op.memory_id, [1, 0, 0, 0], namespace=op.namespace, collection=op.collection)
        elif op.kind == "delete":
            event = deleted(op.memory_id, namespace=op.namespace, collection=op.collection)
        elif op.kind == "erase":
            event = erased(op.namespace, op.collection)
        else:
            event = created(op.collection)
        events.append(event)
        if op.expected is not None:
            expected[event.stream] = op.expected
    return events, expected


# -- the reference: every answer recomputed from the recorded list, by the rule's words ----------


@dataclass(frozen=True)
class Rec:
    event_id: UUID
    type: str
    stream: StreamKey
    version: int
    position: int


def _own(log: list[Rec], key: StreamKey) -> list[Rec]:
    return [r for r in log if r.stream == key]


def ref_alive(log: list[Rec], key: StreamKey) -> bool:
    own = _own(log, key)
    erases = [r.position for r in log if r.type == "namespace.erased" and r.stream == (key[0], key[1], "")]
    return bool(own) and own[-1].type == "memory.upserted" and own[-1].position > max(erases, default=0)


def ref_current(log: list[Rec], key: StreamKey) -> int:
    own = _own(log, key)
    if not own or (key[2] and not ref_alive(log, key)):
        return 0
    return own[-1].version


class Reference:
    def __init__(self) -> None:
        self.log: list[Rec] = []

    def append(self, events: list[Event], expected: dict[StreamKey, int]) -> list[Rec] | tuple[str, str, int, int]:
        for key, want in expected.items():
            if ref_current(self.log, key) != want:
                return (key[2], key[1], want, ref_current(self.log, key))
        by_id = {r.event_id: r for r in self.log}
        log, result, decided = list(self.log), [], set()
        for event in events:
            if event.event_id in by_id:
                result.append(by_id[event.event_id])
                continue
            if event.event_id in decided:  # met earlier in this commit as a no-op
                continue
            decided.add(event.event_id)
            if event.type == "memory.deleted" and not ref_alive(log, event.stream):
                continue
            scope = event.stream[:2]
            if event.type == "namespace.erased" and not any(
                ref_alive(log, r.stream) for r in log if r.stream[:2] == scope and r.stream[2]
            ):
                continue
            rec = Rec(event.event_id, event.type, event.stream, len(_own(log, event.stream)) + 1, len(log) + 1)
            log.append(rec)
            by_id[rec.event_id] = rec
            result.append(rec)
        self.log = log
        return result

    def history(self, key: StreamKey) -> list[UUID]:
        """Its own events, and each erase of its namespace while it was alive just before it."""
        ns = (key[0], key[1], "")
        return [
            r.event_id
            for r in self.log
            if r.stream == key
            or (r.type == "namespace.erased" and r.stream == ns and ref_alive(self.log[: r.position - 1], key))
        ]

    def live(self) -> dict[tuple[str, str], dict[str, int]]:
        found: dict[tuple[str, str], dict[str, int]] = {}
        for key in MEMORIES:
            if ref_alive(self.log, key):
                found.setdefault(key[:2], {})[key[2]] = _own(self.log, key)[-1].version
        return found


def _rec(event: Event) -> Rec:
    return Rec(event.event_id, event.type, event.stream, event.version, event.position)


async def check(logs: list[EventLog], program: list[Commit]) -> None:
    reference = Reference()
    previous: tuple[list[Event], dict[StreamKey, int]] = ([], {})
    for commit in program:
        events, expected = previous if commit.retry and previous[0] else build(commit)
        previous = (events, expected)
        log = logs[commit.writer % len(logs)]
        want = reference.append(events, expected)
        try:
            got: Any = [_rec(e) for e in await log.append(events, expected)]
        except ConcurrencyError as exc:
            got = (exc.memory_id, exc.namespace, exc.expected, exc.actual)
        assert got == want, (commit, events)
        # Shown by --hypothesis-show-statistics: the cases the rule is about do occur.
        if isinstance(want, tuple):
            count_case("a commit conflicted")
        elif len(want) < len({e.event_id for e in events}):
            count_case("a commit had no-ops")
        heads = await logs[(commit.writer + 1) % len(logs)].heads(ALL_STREAMS)
        assert {k: (h.version, h.alive) for k, h in heads.items()} == {
            k: (len(_own(reference.log, k)), ref_alive(reference.log, k) if k[2] else True)
            for k in ALL_STREAMS
            if _own(reference.log, k)
        }

    log = logs[0]
    recorded = await read_all(log)
    assert [_rec(e) for e in recorded] == reference.log
    assert await envelopes_all(log) == await envelopes_all(log, batch=3) == [Envelope.of(e) for e in recorded]
    state = LiveState()
    async for batch in log.envelopes():
        state.apply(batch)
    assert state.alive == reference.live()
    for key in MEMORIES:
        history = memory_history(await log.stream(key), await log.stream((key[0], key[1], "")))
        assert [e.event_id for e in history] == reference.history(key)


CHECKED = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def run(logs: Callable[[], Any], program: list[Commit]) -> None:
    async def main() -> None:
        async with logs() as opened:
            await check(opened, program)

    asyncio.run(main())


@asynccontextmanager
async def in_memory() -> AsyncIterator[list[EventLog]]:
    log = InMemoryEventLog()
    yield [log]
    await log.close()


@asynccontextmanager
async def sqlite_pair() -> AsyncIterator[list[EventLog]]:
    with tempfile.TemporaryDirectory() as tmp:
        logs: list[EventLog] = [SQLiteEventLog(Path(tmp) / "log.db"), SQLiteEventLog(Path(tmp) / "log.db")]
        try:
            yield logs
        finally:
            for log in logs:
                await log.close()


def mongo_pair(server: str, cache_size: int = 100_000) -> Callable[[], Any]:
    """Two log instances on one fresh database, each with its own cache of ``cache_size``."""

    @asynccontextmanager
    async def pair() -> AsyncIterator[list[EventLog]]:
        client: AsyncMongoClient[Any] = AsyncMongoClient(server, tz_aware=True)
        name = f"s{uuid.uuid4().hex[:12]}"
        logs: list[EventLog] = [MongoEventLog(client[name], cache_size=cache_size) for _ in range(2)]
        try:
            for log in logs:
                await log.open()
            yield logs
        finally:
            await client.drop_database(name)
            await client.close()

    return pair


@CHECKED
@given(program=PROGRAMS)
def test_in_memory_log_follows_the_rule(program: list[Commit]) -> None:
    run(in_memory, program)


@CHECKED
@given(program=PROGRAMS)
def test_sqlite_log_follows_the_rule(program: list[Commit]) -> None:
    run(sqlite_pair, program)


@CHECKED
@given(program=PROGRAMS)
def test_mongo_log_follows_the_rule(mongo_server: str, program: list[Commit]) -> None:
    run(mongo_pair(mongo_server), program)


def test_the_reference_itself_on_a_known_program() -> None:
    # The reference must not merely agree with the logs: pin it on a hand-checked case.
    ref = Reference()
    x = ("c1", "n1", "a")
    up, erase, delete = (
        upserted("a", [1, 0, 0, 0], namespace="n1", collection="c1"),
        erased("n1", "c1"),
        deleted("a", namespace="n1", collection="c1"),
    )
    recorded = ref.append([up, erase, delete], {})
    assert [(r.type, r.version, r.position) for r in recorded] == [  # type: ignore[union-attr]
        ("memory.upserted", 1, 1),
        ("namespace.erased", 1, 2),
    ]
    assert ref.append([upserted("a", [1, 0, 0, 0], namespace="n1", collection="c1")], {x: 1}) == ("a", "n1", 1, 0)
    assert ref.append([erased("n1", "c1")], {}) == []
    again = upserted("a", [1, 0, 0, 0], namespace="n1", collection="c1")
    assert [(r.version, r.position) for r in ref.append([again], {x: 0})] == [(2, 3)]  # type: ignore[union-attr]
    assert ref.live() == {("c1", "n1"): {"a": 2}}
    assert ref.history(x) == [up.event_id, erase.event_id, again.event_id]
