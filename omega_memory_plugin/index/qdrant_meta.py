"""The meta collection of a shared Qdrant server: which generation is current, what each
generation holds, and which processes are still using which generation.

Points of ``<prefix>meta`` (payload only, no vectors):

* the **pointer** (a fixed id): ``{"generation": ...}``, the generation every process serves;
* one **state** point per generation: ``{"generation", "position", "layout"}``, written at flush,
  never moved back (a process that applied less must not erase what another recorded);
* one **lease** point per process and generation: ``{"kind": "lease", "generation", "holder",
  "expires"}``, renewed while the process uses that generation.

The rule for removing a generation (:meth:`QdrantMeta.collect`): a generation's collections are
dropped only when it is not the pointer's and no lease on it is unexpired (with a margin for clock
skew between hosts). A process renews its lease long before it expires while it works, and
re-reads the pointer before serving again after an idle spell longer than the lease; so a
generation can only disappear under a process that stopped renewing (dead, or idle, and then it
re-checks before reading). The order of the reads in ``collect`` and in ``acquire`` is what makes
this hold against races (see their docstrings).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from typing import Any

from qdrant_client import AsyncQdrantClient, models

from .base import IndexState

# The generation pointer. Fixed, so every process reads and writes the same point.
POINTER = "6f6d6567-612d-6d65-7461-67656e657261"
GENERATION = "generation"
POSITION = "position"
LAYOUT = "layout"
KIND = "kind"
HOLDER = "holder"
EXPIRES = "expires"
LEASE = "lease"
# The first generation of a prefix has a fixed name: processes that open a fresh prefix at the
# same moment all pick it, so they can never split into separate generations.
FIRST_GENERATION = "000000000000"
# Generations are 12 hex digits (uuid4().hex[:12]); a collection under the prefix whose name does
# not look like one belongs to something else and is never touched.
_GENERATION_NAME = re.compile(r"[0-9a-f]{12}")

#: How long a lease lasts by default (Settings.qdrant_lease_seconds). A working process renews it
#: every eighth of that; a collector, judging by its own clock a time written by another host's,
#: counts a lease as expired only half a lease after it expired.
LEASE_SECONDS = 120.0


def new_generation() -> str:
    return uuid.uuid4().hex[:12]


def state_point(generation: str) -> str:
    # One point per generation, derived from its name: every process sharing it finds it.
    return str(uuid.uuid5(uuid.UUID(POINTER), generation))


def lease_point(holder: str, generation: str) -> str:
    return str(uuid.uuid5(uuid.UUID(POINTER), f"lease\x1f{holder}\x1f{generation}"))


class QdrantMeta:
    """Reads and writes the meta collection ``<prefix>meta`` of one server."""

    def __init__(self, client: AsyncQdrantClient, prefix: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self.client = client
        self.prefix = prefix
        self.collection = f"{prefix}meta"
        self.lease_seconds = lease_seconds

    @property
    def renew_seconds(self) -> float:
        return self.lease_seconds / 8

    async def _exists(self) -> bool:
        return bool(await self.client.collection_exists(self.collection))

    async def _put(self, point: str, payload: dict[str, Any], update_filter: models.Filter | None = None) -> None:
        if not await self._exists():
            try:
                # No vectors at all: the meta collection only carries payloads.
                await self.client.create_collection(self.collection, vectors_config={})
            except Exception:
                if not await self._exists():  # another process created it first: fine
                    raise
        await self.client.upsert(
            self.collection,
            [models.PointStruct(id=point, vector={}, payload=payload)],
            wait=True,
            update_filter=update_filter,
        )

    async def _payload(self, point: str) -> dict[str, Any] | None:
        if not await self._exists():
            return None
        points = await self.client.retrieve(self.collection, [point], with_payload=True)
        return dict(points[0].payload) if points and points[0].payload else None

    # -- the pointer ------------------------------------------------------------------------------

    async def current(self) -> str | None:
        payload = await self._payload(POINTER)
        value = payload.get(GENERATION) if payload else None
        return str(value) if value else None

    async def current_or_first(self) -> str:
        """The current generation; on a fresh prefix, :data:`FIRST_GENERATION` made current."""
        found = await self.current()
        if found is not None:
            return found
        # Every process that finds no pointer writes the same name, so a race is harmless.
        await self.point_to(FIRST_GENERATION)
        return await self.current() or FIRST_GENERATION

    async def point_to(self, generation: str) -> None:
        await self._put(POINTER, {GENERATION: generation})

    # -- states -----------------------------------------------------------------------------------

    async def state(self, generation: str) -> IndexState | None:
        payload = await self._payload(state_point(generation))
        if not payload or POSITION not in payload or LAYOUT not in payload:
            return None
        return IndexState(position=int(payload[POSITION]), layout=int(payload[LAYOUT]))

    async def record_state(self, generation: str, position: int, layout: int) -> None:
        await self._put(
            state_point(generation),
            {GENERATION: generation, POSITION: position, LAYOUT: layout},
            # Never back: a process sharing this generation that has applied less (or one just
            # opened, at 0) must not erase the record of what the index already holds.
            update_filter=models.Filter(must=[models.FieldCondition(key=POSITION, range=models.Range(lte=position))]),
        )

    async def forget(self, generation: str) -> None:
        """Delete a generation's state (when the generation itself is dropped)."""
        if await self._exists():
            selector = models.PointIdsList(points=[state_point(generation)])
            await self.client.delete(self.collection, selector, wait=True)

    # -- leases -----------------------------------------------------------------------------------

    async def lease(self, holder: str, generation: str) -> None:
        expires = time.time() + self.lease_seconds
        await self._put(
            lease_point(holder, generation), {KIND: LEASE, HOLDER: holder, GENERATION: generation, EXPIRES: expires}
        )

    async def acquire(self, holder: str) -> str:
        """Lease the current generation and return it.

        The lease is written *before* the pointer is read again: a collector reads the pointer
        before the leases, so either it sees this lease, or it read the pointer after this process's
        second read and both agree on the current generation (which is never collected)."""
        generation = await self.current_or_first()
        while True:
            await self.lease(holder, generation)
            again = await self.current_or_first()
            if again == generation:
                return generation
            await self.release(holder, generation)
            generation = again

    async def release(self, holder: str, generation: str) -> None:
        if await self._exists():
            selector = models.PointIdsList(points=[lease_point(holder, generation)])
            await self.client.delete(self.collection, selector, wait=True)

    async def _leases(self) -> list[dict[str, Any]]:
        condition = models.Filter(must=[models.FieldCondition(key=KIND, match=models.MatchValue(value=LEASE))])
        found: list[dict[str, Any]] = []
        offset: Any = None
        while True:
            page, offset = await self.client.scroll(
                self.collection, scroll_filter=condition, limit=1000, offset=offset, with_payload=True
            )
            found += [dict(p.payload) for p in page if p.payload]
            if offset is None:
                return found

    # -- collecting -------------------------------------------------------------------------------

    async def generations(self) -> dict[str, list[str]]:
        """Every generation that has collections on the server, with their Qdrant names."""
        found: dict[str, list[str]] = {}
        for collection in (await self.client.get_collections()).collections:
            rest = collection.name.removeprefix(self.prefix)
            if rest == collection.name:
                continue
            generation, sep, _ = rest.partition("_")
            if sep and _GENERATION_NAME.fullmatch(generation):
                found.setdefault(generation, []).append(collection.name)
        return found

    async def collect(self, keep: Iterable[str] = ()) -> list[str]:
        """Drop every generation that no process can be reading; return the ones dropped.

        Reads in this order: the collections, then the pointer, then the leases. A generation
        being built is leased before its first collection is created, so if its collections are
        listed here its lease is seen too; a reader leases before re-reading the pointer (see
        :meth:`acquire`). ``keep`` are generations this process holds itself."""
        if not await self._exists():
            return []
        on_server = await self.generations()
        current = await self.current()
        now = time.time()
        live: set[str] = {g for g in keep}
        expired: list[str] = []
        for lease in await self._leases():
            if float(lease.get(EXPIRES, 0)) + self.lease_seconds / 2 > now:
                live.add(str(lease.get(GENERATION)))
            else:
                expired.append(lease_point(str(lease.get(HOLDER)), str(lease.get(GENERATION))))
        dropped = []
        for generation, collections in on_server.items():
            if generation == current or generation in live:
                continue
            for name in collections:
                await self.client.delete_collection(name)
            dropped.append(generation)
        gone = expired + [state_point(g) for g in dropped]
        if gone:
            await self.client.delete(self.collection, models.PointIdsList(points=gone), wait=True)
        return dropped
