"""Embedding spaces: how one collection holds the vectors of several models over its life.

A collection starts with one embedding space, 0, whose vectors and model its
``collection.created`` event names. Re-embedding it with another model
(:meth:`Memory.reembed <omega_memory_plugin.Memory.reembed>`) adds a space
(``collection.model_added``), fills it with ``memory.reembedded`` events while space 0 keeps
serving, and then switches to it (``collection.model_switched``). From then on searches read the
new space and writes carry the new model's vectors. The older space stays in the index, kept
current for memories nobody changes, so that rolling back is a switch plus re-embedding what was
written since.

Every index keeps one physical collection per space (:func:`space_name`): space 0 is the collection
itself (an index built before spaces existed is unchanged), space ``k`` is ``<collection>~<k>``,
which no user collection can be called (``~`` is refused in names). Which space is served is the
collection's state at a log position (:func:`fold`), so a replay up to any position, ``as_of()``
included, serves the space that was served then.

This module is the one place that decides both: the names, and the state folded from a
collection's own stream ``(collection, "", "")``.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, replace

from .events import CollectionCreated, Event

SEPARATOR = "~"


def space_name(collection: str, space: int) -> str:
    """The physical index collection that holds ``space`` of ``collection``."""
    return collection if space == 0 else f"{collection}{SEPARATOR}{space}"


def spaces_among(names: Iterable[str], collection: str) -> list[str]:
    """The physical collections of ``collection`` among an index's ``names``, space 0 first."""
    prefix = collection + SEPARATOR
    found = [n for n in names if n.startswith(prefix) and n[len(prefix) :].isdigit()]
    return ([collection] if collection in names else []) + sorted(found, key=lambda n: int(n[len(prefix) :]))


LIFECYCLE = frozenset({"collection.created", "collection.model_added", "collection.model_switched"})


@dataclass(frozen=True, slots=True)
class CollectionState:
    """A collection as its own stream describes it at some position (``at``).

    ``version`` is the stream's version there: a write asserts it, so that a process that has not
    seen a switch cannot add vectors of the model the collection left (it re-reads the state).
    """

    spaces: dict[int, CollectionCreated]
    serving: int = 0
    version: int = 1
    at: int = 0
    #: the space served before the last switch (what a rollback returns to), if any
    previous: int | None = None

    @property
    def schema(self) -> CollectionCreated:
        """Vectors, distance and model of the space being served."""
        return self.spaces[self.serving]

    def space_of(self, model: str | None) -> int | None:
        """The space that holds ``model``'s vectors, if the collection has one."""
        return next((k for k, s in self.spaces.items() if model is not None and s.embedding_model == model), None)


def advance(states: MutableMapping[str, CollectionState], event: Event) -> None:
    """Fold one event into ``states`` (collection name -> state). Events that are not a
    collection's own, and events a state already reflects (at or before its ``at``), change
    nothing, so an event may be folded more than once (by a commit, then by the projector)."""
    if event.type not in LIFECYCLE:
        return
    state = states.get(event.collection)
    if event.type == "collection.created":
        if state is None:
            states[event.collection] = CollectionState({0: event.data}, version=event.version, at=event.position)
        return
    if state is None or (event.position and event.position <= state.at):
        return
    if event.type == "collection.model_added":
        d = event.data
        space = CollectionCreated(vectors=d.vectors, distance=d.distance, embedding_model=d.embedding_model)
        states[event.collection] = replace(
            state, spaces={**state.spaces, d.space: space}, version=event.version, at=event.position
        )
    elif event.type == "collection.model_switched":
        states[event.collection] = replace(
            state, serving=event.data.space, previous=state.serving, version=event.version, at=event.position
        )


def fold(events: Iterable[Event]) -> dict[str, CollectionState]:
    """The state of every collection after ``events`` (in position order)."""
    states: dict[str, CollectionState] = {}
    for event in events:
        advance(states, event)
    return states
