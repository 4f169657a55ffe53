"""How a commit is checked and numbered, shared by every EventLog backend.

Backends differ in storage, not in rules: each one loads the recorded copies of the ids in the
commit and the heads of the touched streams, inside its own atomic scope, and lets
:func:`plan_commit` decide what to record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from ..errors import ConcurrencyError
from ..events import Event, StreamKey


@dataclass(slots=True)
class CommitPlan:
    """``results[i]`` is the event to return for input ``i``; ``new`` are the ones to record."""

    results: list[Event]
    new: list[Event]

    def resolve(self, stored: Sequence[Event]) -> list[Event]:
        """The results, with ``new`` replaced by their stored copies (carrying positions)."""
        by_id = {event.event_id: event for event in stored}
        return [by_id.get(event.event_id, event) for event in self.results]


def plan_commit(
    events: Sequence[Event],
    recorded: Mapping[UUID, Event],
    heads: Mapping[StreamKey, int],
    expected_versions: Mapping[StreamKey, int] | None,
) -> CommitPlan:
    """Assign stream versions to the events not yet recorded; raise on a version conflict.

    Positions are left at 0: the backend assigns them as it stores ``new`` in order.
    """
    for key, expected in (expected_versions or {}).items():
        actual = heads.get(key, 0)
        if actual != expected:
            raise ConcurrencyError(memory_id=key[2], expected=expected, actual=actual, namespace=key[1])
    next_version = dict(heads)
    seen: dict[UUID, Event] = dict(recorded)
    results: list[Event] = []
    new: list[Event] = []
    for event in events:
        known = seen.get(event.event_id)
        if known is not None:
            results.append(known)
            continue
        version = next_version.get(event.stream, 0) + 1
        next_version[event.stream] = version
        stamped = event.model_copy(update={"version": version})
        seen[event.event_id] = stamped
        results.append(stamped)
        new.append(stamped)
    return CommitPlan(results=results, new=new)
