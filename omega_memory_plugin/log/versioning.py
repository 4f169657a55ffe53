"""Stream state: whether a memory is alive and at which version. The one rule every log shares.

**The rule.** A memory is *alive* iff the last event of its stream ``(collection, namespace,
memory_id)`` is ``memory.upserted`` and that event's position is after the last
``namespace.erased`` of ``(collection, namespace)`` (stream ``(collection, namespace, "")``).
Its *current version*, the one ``expected_versions`` is checked against, is its last version if it
is alive and 0 otherwise, so ``0`` means "not alive" (never written, deleted or erased) whatever
the stream holds. Versions themselves never restart: they count the events of a stream from 1,
so an upsert after a delete or an erase continues the stream. Streams that are not memories
(``collection.created`` in ``(collection, "", "")``, ``namespace.erased`` in ``(collection,
namespace, "")``) keep plain version semantics: their current version is their last version.

Everything here is pure. Backends differ in storage, not in rules: inside its atomic scope a log
answers the two questions of :class:`StateReader` and lets :func:`plan_commit` decide what to
record; :func:`stream_heads`, :func:`memory_history` and :class:`LiveState` apply the same rule to
reads, audit trails and ``verify``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, TypeAlias
from uuid import UUID

from ..errors import ConcurrencyError, InvalidInputError, TimeOrderError
from ..events import Event, StreamKey

NamespaceKey: TypeAlias = tuple[str, str]
"""(collection, namespace): the scope a ``namespace.erased`` event ends."""

UPSERTED = "memory.upserted"
DELETED = "memory.deleted"
ERASED = "namespace.erased"


def is_memory(key: StreamKey) -> bool:
    """Memory streams have an id; collection and namespace streams use ``""``."""
    return key[2] != ""


def namespace_stream(key: StreamKey) -> StreamKey:
    """The stream holding the ``namespace.erased`` events that end the memories of ``key``."""
    return (key[0], key[1], "")


@dataclass(frozen=True, slots=True)
class Head:
    """The last event of one stream, as much of it as the rule needs."""

    version: int
    type: str
    position: int

    @staticmethod
    def of(event: Event) -> Head:
        return Head(event.version, event.type, event.position)


class Envelope(NamedTuple):
    """An event without its data: what ``verify`` and the rule read (a tuple: cheap to build from a
    storage row)."""

    collection: str
    namespace: str
    memory_id: str
    type: str
    version: int
    position: int

    @staticmethod
    def of(event: Event) -> Envelope:
        return Envelope(event.collection, event.namespace, event.memory_id, event.type, event.version, event.position)


def erased_at(namespace_head: Head | None) -> int:
    """Position of the last erase of a namespace, 0 if never erased.

    A namespace stream holds only ``namespace.erased`` events (the facade refuses the empty
    namespace, whose stream ``(collection, "", "")`` is the collection's), so its head is its last
    erase."""
    return namespace_head.position if namespace_head is not None and namespace_head.type == ERASED else 0


def is_alive(head: Head | None, namespace_head: Head | None) -> bool:
    """THE rule (module docstring): last event an upsert, recorded after the namespace's last erase."""
    return head is not None and head.type == UPSERTED and head.position > erased_at(namespace_head)


def current_version(key: StreamKey, head: Head | None, namespace_head: Head | None) -> int:
    """The version ``expected_versions`` is compared with: 0 for a memory that is not alive."""
    if head is None:
        return 0
    if is_memory(key) and not is_alive(head, namespace_head):
        return 0
    return head.version


@dataclass(frozen=True, slots=True)
class StreamHead:
    """What ``EventLog.heads`` reports for one existing stream.

    ``version`` is the stream's last version (the next event gets ``version + 1``); ``alive``
    applies the rule (for a collection or namespace stream: it exists)."""

    version: int
    alive: bool

    @property
    def current_version(self) -> int:
        """The version to pass in ``expected_versions`` to require this exact state."""
        return self.version if self.alive else 0


class StateReader(Protocol):
    """What a log reads for :func:`plan_commit`, inside its atomic scope (so the answers and the
    commit that follows are one consistent step)."""

    def load_heads(self, keys: Collection[StreamKey]) -> Mapping[StreamKey, Head]:
        """The head of each of ``keys`` that exists (missing streams left out)."""
        ...

    def any_alive(self, namespace: NamespaceKey, since: int, excluding: Collection[str]) -> bool:
        """Whether a memory of ``namespace`` whose id is not in ``excluding`` is alive, i.e. has
        an upsert as its last event at a position after ``since`` (the namespace's last erase).

        Called only for a namespace the commit erases; ``excluding`` are the ids the commit
        touches, whose state :func:`plan_commit` already knows from their heads."""
        ...


def stream_heads(keys: Iterable[StreamKey], reader: StateReader) -> dict[StreamKey, StreamHead]:
    """``EventLog.heads`` for every backend: the rule applied to the loaded heads."""
    wanted = list(keys)
    loaded = reader.load_heads({*wanted, *(namespace_stream(k) for k in wanted if is_memory(k))})
    result = {}
    for key in wanted:
        head = loaded.get(key)
        if head is not None:
            alive = is_alive(head, loaded.get(namespace_stream(key))) if is_memory(key) else True
            result[key] = StreamHead(head.version, alive)
    return result


@dataclass(slots=True)
class CommitPlan:
    """``new`` are the events to record, each with the stream version it gets in ``versions``.

    Events of the input that are in neither ``recorded`` nor ``new`` were no-ops (a delete of a
    memory that is not alive, an erase of a namespace with no alive memory): nothing records them.
    """

    events: Sequence[Event]
    recorded: dict[UUID, Event]
    new: list[Event]
    versions: dict[UUID, int]

    def commit_time(self, now: datetime, last: datetime | None) -> datetime:
        """When the commit is recorded, given the clock and the time of the log's last commit.

        Times never go back along positions (``position_at`` and ``read(until=time)`` rely on
        it): a commit is recorded now, or at the last commit's time if the clock is behind it
        (another host's clock, or one set back). New events that carry a time of their own (an
        import, :meth:`Memory.import_events`) are recorded at it instead: all of them at the same
        one, not before the last commit's, else :class:`TimeOrderError` and nothing is recorded.
        """
        given = {event.recorded_at for event in self.new}
        if given <= {None}:  # nothing new, or new events without a time of their own
            return now if last is None else max(now, last)
        if len(given) > 1:
            raise InvalidInputError(
                "the events of one commit are recorded at one time; these carry "
                f"{len(given)} different ones (None is 'now'): append them in separate commits"
            )
        (at,) = given
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # type: ignore[union-attr]
        if last is not None and at < last:
            raise TimeOrderError(
                f"these events were recorded at {at.isoformat()}, before the log's last event "
                f"({last.isoformat()}), and times never go back along the log: import into an empty memory, "
                "or record them at the time of the import (keep_times=False, omega-memory import --record-now)"
            )
        return at

    def stamp(self, first_position: int, recorded_at: datetime) -> list[Event]:
        """The new events as stored: version, position and time set in one copy each."""
        return [
            event.model_copy(
                update={
                    "version": self.versions[event.event_id],
                    "position": first_position + i,
                    "recorded_at": recorded_at,
                }
            )
            for i, event in enumerate(self.new)
        ]

    def resolve(self, stored: Sequence[Event]) -> list[Event]:
        """What append returns: the stored copy of every input event that is recorded (by this
        commit or an earlier one), in input order; no-ops are left out."""
        by_id = {**self.recorded, **{event.event_id: event for event in stored}}
        return [by_id[event.event_id] for event in self.events if event.event_id in by_id]


def plan_commit(
    events: Sequence[Event],
    recorded: Mapping[UUID, Event],
    reader: StateReader,
    expected_versions: Mapping[StreamKey, int] | None,
) -> CommitPlan:
    """Decide what a commit records, and at which versions; raise ``ConcurrencyError`` on a
    version conflict (checked against the log as it is, before this commit).

    The events are walked in order with the state updated as they go, so ``[upsert x, erase,
    delete x]`` records the upsert and the erase, and the delete (x is no longer alive) nothing.
    An event id met twice (already recorded, or twice in this commit) is decided once.
    """
    expected = dict(expected_versions or {})
    touched = {e.stream for e in events} | set(expected)
    memories = {k for k in touched if is_memory(k)}
    heads = dict(reader.load_heads(touched | {namespace_stream(k) for k in memories}))

    for key, want in expected.items():
        actual = current_version(key, heads.get(key), heads.get(namespace_stream(key)))
        if actual != want:
            raise ConcurrencyError(memory_id=key[2], expected=want, actual=actual, namespace=key[1])

    alive = {k: is_alive(heads.get(k), heads.get(namespace_stream(k))) for k in memories}
    ids_in: dict[NamespaceKey, set[str]] = {}
    for key in memories:
        ids_in.setdefault((key[0], key[1]), set()).add(key[2])
    # Alive memories the commit does not touch: they only matter to an erase, and only an erase
    # in the commit can end them.
    others = {
        (e.collection, e.namespace): reader.any_alive(
            (e.collection, e.namespace),
            erased_at(heads.get(e.stream)),
            ids_in.get((e.collection, e.namespace), set()),
        )
        for e in events
        if e.type == ERASED and e.event_id not in recorded
    }

    versions: dict[UUID, int] = {}
    new: list[Event] = []
    decided: set[UUID] = set(recorded)
    for event in events:
        if event.event_id in decided:
            continue
        decided.add(event.event_id)
        key = event.stream
        if event.type == DELETED and not alive.get(key, False):
            continue
        if event.type == ERASED:
            scope = (event.collection, event.namespace)
            members = [(scope[0], scope[1], m) for m in ids_in.get(scope, ())]
            if not others[scope] and not any(alive[m] for m in members):
                continue
            others[scope] = False
            alive.update(dict.fromkeys(members, False))
        elif event.type in (UPSERTED, DELETED):
            alive[key] = event.type == UPSERTED
        head = heads.get(key)
        version = (head.version if head is not None else 0) + 1
        # Position 0 stands for "in this commit, after everything recorded": the walk reads only
        # the version of an in-commit head again (``alive`` carries the rest).
        heads[key] = Head(version, event.type, 0)
        versions[event.event_id] = version
        new.append(event)
    return CommitPlan(events=events, recorded=dict(recorded), new=new, versions=versions)


def memory_history(stream_events: Iterable[Event], namespace_events: Iterable[Event]) -> list[Event]:
    """A memory's audit trail: its own events plus every ``namespace.erased`` of its namespace
    that ended it while it was alive, in position order.

    ``stream_events`` is ``log.stream((c, ns, id))``, ``namespace_events`` is
    ``log.stream((c, ns, ""))``."""
    merged = sorted([*stream_events, *(e for e in namespace_events if e.type == ERASED)], key=lambda e: e.position)
    history = []
    alive = False
    for event in merged:
        if event.type == ERASED:
            if not alive:
                continue
            alive = False
        else:
            alive = event.type == UPSERTED
        history.append(event)
    return history


@dataclass(slots=True)
class LiveState:
    """The rule folded over envelopes in position order: which memories are alive, at which version.

    Applied in order, an upsert makes its memory alive, a delete ends it and an erase ends every
    memory of its namespace, which is :func:`is_alive` evaluated after each event. Used by
    ``verify`` (what the index must hold) and by the logs that keep their state in memory.
    """

    alive: dict[NamespaceKey, dict[str, int]] = field(default_factory=dict)

    def apply(self, envelopes: Iterable[Envelope]) -> None:
        for e in envelopes:
            scope = (e.collection, e.namespace)
            if e.type == UPSERTED:
                self.alive.setdefault(scope, {})[e.memory_id] = e.version
            elif e.type == DELETED:
                members = self.alive.get(scope)
                if members is not None:
                    members.pop(e.memory_id, None)
                    if not members:
                        del self.alive[scope]
            elif e.type == ERASED:
                self.alive.pop(scope, None)

    def any_alive(self, namespace: NamespaceKey, excluding: Collection[str]) -> bool:
        members = self.alive.get(namespace, {})
        # Excluded ids are at most the ids of one commit: stop at the first member not among them.
        return len(members) > len(excluding) or any(m not in excluding for m in members)
