"""How a commit is checked and numbered, shared by every EventLog backend.

Backends differ in storage, not in rules: each one loads the recorded copies of the ids in the
commit and the heads of the touched streams, inside its own atomic scope, and lets
:func:`plan_commit` decide what to record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from ..errors import ConcurrencyError
from ..events import Event, StreamKey


@dataclass(slots=True)
class CommitPlan:
    """``new`` are the events to record, each with the stream version it gets in ``versions``."""

    events: Sequence[Event]
    recorded: dict[UUID, Event]
    new: list[Event]
    versions: dict[UUID, int]

    def stamp(self, first_position: int, recorded_at: datetime) -> list[Event]:
        """The new events as stored: version, position and time set in one copy each."""
        return [
            event.model_copy(
                update={"version": self.versions[event.event_id], "position": first_position + i, "recorded_at": recorded_at}
            )
            for i, event in enumerate(self.new)
        ]

    def resolve(self, stored: Sequence[Event]) -> list[Event]:
        """What append returns: the stored copy of every input event, in input order."""
        by_id = {**self.recorded, **{event.event_id: event for event in stored}}
        return [by_id[event.event_id] for event in self.events]


def plan_commit(
    events: Sequence[Event],
    recorded: Mapping[UUID, Event],
    heads: Mapping[StreamKey, int],
    expected_versions: Mapping[StreamKey, int] | None,
) -> CommitPlan:
    """Assign stream versions to the events not yet recorded; raise on a version conflict.

    An event id met twice (already recorded, or twice in this commit) is recorded once.
    """
    for key, expected in (expected_versions or {}).items():
        actual = heads.get(key, 0)
        if actual != expected:
            raise ConcurrencyError(memory_id=key[2], expected=expected, actual=actual, namespace=key[1])
    next_version = dict(heads)
    versions: dict[UUID, int] = {}
    new: list[Event] = []
    for event in events:
        if event.event_id in recorded or event.event_id in versions:
            continue
        version = next_version.get(event.stream, 0) + 1
        next_version[event.stream] = version
        versions[event.event_id] = version
        new.append(event)
    return CommitPlan(events=events, recorded=dict(recorded), new=new, versions=versions)
