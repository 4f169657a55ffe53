"""Re-embedding a collection with another model, through the log (:meth:`Memory.reembed`).

The new vectors are events, so a replay (a rebuild, ``as_of()``, another process) finds them:

1. ``collection.model_added`` gives the collection a new embedding space for the model
   (:mod:`omega_memory_plugin.spaces`); the space being served keeps answering meanwhile.
2. Passes over the served space embed, in batches, each memory the new space does not hold at its
   current version, and append one ``memory.reembedded`` event per memory. The append checks that
   the memory is still at that version (a memory written meanwhile is left to the next pass, which
   embeds what it is now). A run killed halfway resumes where the log says it was: what the new
   space holds is not embedded again. Texts met twice in a run are embedded once.
3. ``collection.model_switched`` makes the new space the served one, for every process and every
   later replay. ``as_of()`` a position before it still searches the old space, with the old model.
4. A last pass carries over memories written to the old space between the last pass and the
   switch. Rolling back is the same with the old model: only what was written since is embedded.

Embedding runs on a worker thread, so the Memory keeps answering while the model works.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from .embeddings import Embedder
from .errors import ConcurrencyError, InvalidInputError, InvalidVectorError
from .events import (
    MemoryReembedded,
    MemoryReembeddedEvent,
    ModelAdded,
    ModelAddedEvent,
    ModelSwitched,
    ModelSwitchedEvent,
    pack_vector,
)
from .index.base import Entry
from .origin import current_origin
from .spaces import CollectionState, space_name
from .staging import DEFAULT_VECTOR
from .validation import check_count, check_vector

if TYPE_CHECKING:
    from .memory import Memory

#: Passes over the served space before switching even though writes keep arriving (the pass after
#: the switch carries the last of them over).
MAX_PASSES = 5
#: How many distinct texts a run remembers the vectors of (identical texts are embedded once).
REMEMBERED_TEXTS = 10_000


@dataclass(slots=True)
class ReembedReport:
    """What :meth:`Memory.reembed` did. ``embedded``: memories whose text the model embedded;
    ``reused``: memories whose text it had embedded already in this run; ``kept``: memories the new
    space already held at their version (from an interrupted run, or a rollback's untouched ones)."""

    collection: str
    from_model: str | None
    to_model: str
    space: int
    switched: bool = False
    embedded: int = 0
    reused: int = 0
    kept: int = 0
    passes: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        if not self.switched and not self.embedded and not self.reused:
            return f"collection {self.collection!r} already serves {self.to_model!r}: nothing to re-embed"
        rate = (self.embedded + self.reused) / self.seconds if self.seconds > 0 else 0.0
        return (
            f"collection {self.collection!r}: {self.from_model!r} -> {self.to_model!r} (space {self.space}); "
            f"{self.embedded} embedded, {self.reused} identical texts reused, {self.kept} already there, "
            f"{self.passes} passes, {self.seconds:.2f} s ({rate:,.0f} memories/s)"
        )


class _Run:
    def __init__(self, memory: Memory, embedder: Embedder, collection: str, batch_size: int, progress: bool) -> None:
        self.memory = memory
        self.embedder = embedder
        self.collection = collection
        self.batch_size = check_count(batch_size, "batch_size")
        self.progress = progress
        self.remembered: dict[str, bytes] = {}
        self.report = ReembedReport(collection, None, embedder.name, 0)

    def state(self) -> CollectionState:
        state = self.memory._states.get(self.collection)
        if state is None:
            raise InvalidInputError(f"collection {self.collection!r} does not exist: there is nothing to re-embed")
        return state

    async def run(self) -> ReembedReport:
        started = time.perf_counter()
        await self.memory._load_states()
        state = self.state()
        self.report.from_model = state.schema.embedding_model
        if set(state.schema.vectors) != {DEFAULT_VECTOR}:
            raise InvalidInputError(
                f"collection {self.collection!r} holds the vectors {sorted(state.schema.vectors)}; re-embedding "
                f"computes the one vector {DEFAULT_VECTOR!r} from each memory's text"
            )
        target = await self._space()
        self.report.space = target
        if self.state().serving != target:
            await self._fill(target, self.state().serving, MAX_PASSES)
            await self._switch(target)
        previous = self.state().previous
        if previous is not None and previous != target:
            await self._fill(target, previous, MAX_PASSES)
        self.report.seconds = time.perf_counter() - started
        return self.report

    async def _space(self) -> int:
        """The space of the embedder's model: an existing one (an interrupted run, or a rollback),
        else a new one, recorded in the log."""
        state = self.state()
        dimension = self.embedder.dimension
        found = state.space_of(self.embedder.name)
        if found is not None:
            held = state.spaces[found].vectors.get(DEFAULT_VECTOR)
            if held != dimension:
                raise InvalidVectorError(
                    f"collection {self.collection!r} holds vectors of {self.embedder.name!r} with dimension {held}, "
                    f"but this embedder makes dimension {dimension}"
                )
            return found
        space = max(state.spaces) + 1
        added = ModelAddedEvent(
            collection=self.collection,
            data=ModelAdded(
                space=space,
                vectors={DEFAULT_VECTOR: dimension},
                distance=state.schema.distance,
                embedding_model=self.embedder.name,
            ),
        )
        await self.memory._append([added], {(self.collection, "", ""): state.version})
        return space

    async def _switch(self, target: int) -> None:
        state = self.state()
        switched = ModelSwitchedEvent(
            collection=self.collection,
            data=ModelSwitched(
                space=target, from_model=state.schema.embedding_model, to_model=state.spaces[target].embedding_model
            ),
        )
        await self.memory._append([switched], {(self.collection, "", ""): state.version})
        self.report.switched = True

    async def _fill(self, target: int, source: int, passes: int) -> None:
        """Pass over ``source`` until ``target`` holds each of its memories at its version."""
        for number in range(passes):
            index = await self.memory._current_index()
            have = {
                (e.namespace, e.memory_id): e.version for e in await index.entries(space_name(self.collection, target))
            }
            held = await index.entries(space_name(self.collection, source))
            todo = sorted(
                (e for e in held if have.get((e.namespace, e.memory_id)) != e.version),
                key=lambda e: (e.namespace, e.memory_id),
            )
            if number == 0 and source == self.state().serving:
                self.report.kept += len(held) - len(todo)
            if not todo:
                return
            self.report.passes += 1
            desc = f"re-embed {self.collection}" + (f" (pass {number + 1})" if number else "")
            with tqdm(total=len(todo), unit="mem", desc=desc, disable=not self.progress) as bar:
                for start in range(0, len(todo), self.batch_size):
                    chunk = todo[start : start + self.batch_size]
                    await self._embed(chunk, source, target)
                    bar.update(len(chunk))
                    self.memory.plugins.progress("reembed", min(start + len(chunk), len(todo)), len(todo))

    async def _embed(self, chunk: Sequence[Entry], source: int, target: int) -> None:
        index = await self.memory._current_index()
        records = []
        for namespace in sorted({e.namespace for e in chunk}):
            ids = [e.memory_id for e in chunk if e.namespace == namespace]
            records += await index.get(space_name(self.collection, source), namespace, ids)
        new = sorted({r.text for r in records} - self.remembered.keys())
        if new:
            vectors = await asyncio.to_thread(self.embedder.embed, new)
            if len(vectors) != len(new):
                raise InvalidVectorError(
                    f"the embedder {self.embedder.name!r} returned {len(vectors)} vectors for {len(new)} texts"
                )
            made = {
                text: pack_vector(check_vector(DEFAULT_VECTOR, v, self.embedder.dimension))
                for text, v in zip(new, vectors, strict=True)
            }
        else:
            made = {}
        self.report.embedded += sum(r.text in made for r in records)
        self.report.reused += sum(r.text not in made for r in records)
        events = {
            (r.namespace, r.id): MemoryReembeddedEvent(
                collection=self.collection,
                data=MemoryReembedded(
                    namespace=r.namespace,
                    memory_id=r.id,
                    version=r.version,
                    of_position=r.position,
                    space=target,
                    text=r.text,
                    vectors={DEFAULT_VECTOR: made.get(r.text) or self.remembered[r.text]},
                    metadata=r.metadata,
                    embedding_model=self.embedder.name,
                    origin=current_origin(),
                    expires_at=r.expires_at,
                    key=r.key,  # sealed under the memory's own key: forgetting its subject reaches these too
                ),
            )
            for r in records
        }
        if len(self.remembered) < REMEMBERED_TEXTS:
            self.remembered.update(made)
        # One commit per batch (one fsync), each re-embedding recorded only while its memory is
        # still at the version read.
        versions = {(r.namespace, r.id): r.version for r in records}
        while events:
            expected = {(self.collection, ns, memory_id): versions[(ns, memory_id)] for ns, memory_id in events}
            try:
                await self.memory._append(list(events.values()), expected)
                return
            except ConcurrencyError as exc:
                if (exc.namespace, exc.memory_id) not in events:
                    raise
                # Written since it was read: the next pass embeds what it is now.
                del events[(exc.namespace, exc.memory_id)]


async def reembed(
    memory: Memory, embedder: Embedder, collection: str, batch_size: int, progress: bool
) -> ReembedReport:
    return await _Run(memory, embedder, collection, batch_size, progress).run()
