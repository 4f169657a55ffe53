"""What one MongoDB log instance remembers of the chain, and how much: a bounded cache.

Every entry is **exact as of the instance's chain end** ``next`` (the position the next commit
must take): a stream's head among the commits below ``next`` (``None``: the stream has no event
there), an event id's commit start (``None``: no commit below ``next`` holds it). The instance
keeps it so by learning every commit it walks past, in position order, before moving ``next``.

The cache also **covers a suffix of the chain**: every stream (and every event id) of a commit
starting at or after its ``floor`` (and below ``next``) is in it. The walk puts every stream and
id of each commit it learns; evicting an entry whose last event is at position ``p`` raises the
floor past ``p``. So an entry that is missing can only have events below the floor, and looking it
up means reading only the commits below the floor, and nothing at all while the floor is 1 (an
instance that has followed the log since it was empty). When an instance skips ahead without
reading what it skipped, it drops the cache and the floor starts again at the new position.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from uuid import UUID

from ..events import StreamKey
from .versioning import Head, NamespaceKey

K = TypeVar("K")
V = TypeVar("V")

Learned = Iterable[tuple[StreamKey, Head, UUID]]
"""A commit as an instance learns it: (stream, head after the event, event id), in order."""


class CoveringLru(Generic[K, V]):
    """At most ``size`` entries, the least recently used dropped first, with the ``floor`` of the
    module docstring: dropping an entry whose last event is at ``position_of(value)`` raises the
    floor past it (a ``None`` position, "no event", leaves it)."""

    def __init__(self, size: int, position_of: Callable[[V], int | None], floor: int = 1) -> None:
        self.size = size
        self.floor = floor
        self._position_of = position_of
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> tuple[bool, V | None]:
        """(found, value); a hit becomes the most recently used."""
        if key not in self._items:
            return False, None
        self._items.move_to_end(key)
        return True, self._items[key]

    def split(self, keys: Iterable[K], into: dict[K, V | None]) -> list[K]:
        """Copy the cached ``keys`` into ``into`` (hits become the most recently used) and
        return the others, the cold ones, in order."""
        cold = []
        for key in keys:
            found, value = self.get(key)
            if found:
                into[key] = value
            else:
                cold.append(key)
        return cold

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            _, dropped = self._items.popitem(last=False)
            position = self._position_of(dropped)
            if position is not None:
                self.floor = max(self.floor, position + 1)  # its events no longer count as covered

    def items(self) -> Iterable[tuple[K, V]]:
        return self._items.items()

    def reset(self, floor: int) -> None:
        self._items.clear()
        self.floor = floor


@dataclass(slots=True)
class StateView:
    """The state one call plans with: the heads of the streams it touches and the ids it
    carries, exact as of the chain end, held apart from the cache so that a commit touching more
    streams than the cache holds still sees all of them. Implements
    :class:`~.versioning.StateReader`.

    ``alive`` holds the erase check's answers: for each namespace the call erases, alive memories
    found, up to the first one outside the call's own ids (see :meth:`any_alive`)."""

    heads: dict[StreamKey, Head | None] = field(default_factory=dict)
    ids: dict[UUID, int | None] = field(default_factory=dict)
    alive: dict[NamespaceKey, list[str]] = field(default_factory=dict)
    epoch: int = 0

    def load_heads(self, keys: Collection[StreamKey]) -> Mapping[StreamKey, Head]:
        return {key: head for key in keys if (head := self.heads.get(key)) is not None}

    def any_alive(self, namespace: NamespaceKey, since: int, excluding: Collection[str]) -> bool:
        # The answer was gathered for exactly this `since` and a superset of `excluding`: it holds
        # every alive member up to the first one outside the superset, so it is exact for any
        # subset plan_commit passes.
        return any(member not in excluding for member in self.alive.get(namespace, ()))

    def recorded(self) -> dict[UUID, int]:
        """Ids already in the log, with the start of the commit holding each."""
        return {event_id: start for event_id, start in self.ids.items() if start is not None}


def _head_position(head: Head | None) -> int | None:
    return None if head is None else head.position


def _start(start: int | None) -> int | None:
    return start


class ChainCache:
    """Stream heads and event ids of one instance, at most ``size`` of each (see module doc)."""

    def __init__(self, size: int) -> None:
        self.heads: CoveringLru[StreamKey, Head | None] = CoveringLru(size, _head_position)
        self.ids: CoveringLru[UUID, int | None] = CoveringLru(size, _start)
        self.epoch = 0  # bumped when the cache is dropped: a view built before is no longer exact

    def learn(self, start: int, learned: Learned, view: StateView | None) -> None:
        """Apply one commit (at ``start``) to the cache (every stream and id of it: the cache
        covers the chain from its floor) and to the running call's view."""
        for key, head, event_id in learned:
            self.heads.put(key, head)
            self.ids.put(event_id, start)
            if view is not None:
                if key in view.heads:
                    view.heads[key] = head
                if event_id in view.ids:
                    view.ids[event_id] = start

    def drop(self, floor: int) -> None:
        """Forget everything: the instance skips to ``floor`` without reading what it skipped."""
        self.heads.reset(floor)
        self.ids.reset(floor)
        self.epoch += 1

    def keep(self, view: StateView) -> None:
        """Store what a call looked up, so that the next call on the same streams reads nothing."""
        if view.epoch != self.epoch:
            return
        for key, head in view.heads.items():
            self.heads.put(key, head)
        for event_id, start in view.ids.items():
            self.ids.put(event_id, start)

    def alive_members(self, scope: NamespaceKey, since: int) -> dict[str, bool]:
        """Memories of ``scope`` in the cache, and whether each is alive after ``since`` (a scan of
        the cache: only erases ask, and they are rare)."""
        return {
            key[2]: head is not None and head.type == "memory.upserted" and head.position > since
            for key, head in self.heads.items()
            if key[2] and (key[0], key[1]) == scope
        }

    def __len__(self) -> int:
        return len(self.heads) + len(self.ids)
