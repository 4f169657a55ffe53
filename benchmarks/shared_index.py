"""What sharing a Qdrant server between processes costs (issue 10), on the real server, one run.

1. **Conditional writes versus plain upserts.** The same N events (384-d, 10 namespaces) applied
   through :class:`QdrantProjection` (every point written only over an older state of itself,
   index/qdrant_conditional.py) and upserted plainly in batches of 256 (what the index did before);
   alternating, median of the runs.
2. **Two processes applying the same events at once** (two clients, as two application processes
   each catching up): how long until both are done, and whether the index converged.
3. **A projector worker's throughput**: a Memory catching a fresh server index up from a SQLite
   log of N memories (what ``omega-memory project --follow`` does after a rebuild or a long outage).

The server is Qdrant 1.19 from ../shared/qdrant (started here on loopback), or OMEGA_TEST_QDRANT_URL.

Run::

    .venv/bin/python benchmarks/shared_index.py             # N = 20,000
    .venv/bin/python benchmarks/shared_index.py --items 2000 --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from qdrant_client import AsyncQdrantClient, models

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, median, namespace_of, print_footer, print_header, random_vectors, scratch_dir  # noqa: E402

from omega_memory_plugin import Memory, Settings  # noqa: E402
from omega_memory_plugin.events import Event, MemoryUpsertedEvent  # noqa: E402
from omega_memory_plugin.index import qdrant as qdrant_module  # noqa: E402
from omega_memory_plugin.index.qdrant import QdrantProjection  # noqa: E402
from omega_memory_plugin.testing.builders import Recorder, created, upserted  # noqa: E402
from omega_memory_plugin.testing.servers.qdrant import QdrantServer  # noqa: E402

DIM = 384
BATCH = 256


@contextmanager
def server() -> Iterator[str]:
    url = os.environ.get("OMEGA_TEST_QDRANT_URL")
    if url:
        yield url
        return
    with scratch_dir("omega-bench-qdrant-") as data:
        qdrant = QdrantServer(Path(data))
        qdrant.start()
        try:
            yield qdrant.url
        finally:
            qdrant.stop()


def events_of(n: int) -> list[Event]:
    vectors = random_vectors(n, DIM)
    record = Recorder()
    return record(
        created("c", {"dense": DIM}),
        *(upserted(f"m{i}", vectors[i], namespace=namespace_of(i), metadata={"i": i}) for i in range(n)),
    )


async def conditional(url: str, events: Sequence[Event]) -> float:
    index = QdrantProjection(AsyncQdrantClient(url=url), prefix=f"b{uuid.uuid4().hex[:8]}_", owns_client=True)
    await index.open()
    try:
        started = time.perf_counter()
        for start in range(0, len(events), 2000):  # the projector's read batch
            await index.apply(events[start : start + 2000])
        return time.perf_counter() - started
    finally:
        await index.drop()
        await index.close()


async def _plain_upsert(
    client: AsyncQdrantClient, collection: str, points: Sequence[models.PointStruct], *, repair: bool = False
) -> None:
    await client.upsert(collection, list(points), wait=True)  # the write before issue 10


async def plain(url: str, events: Sequence[Event]) -> float:
    """The same apply path with the write of before: unconditional upserts of the same points."""
    original = qdrant_module.conditional_upsert
    qdrant_module.conditional_upsert = _plain_upsert  # type: ignore[assignment]
    try:
        return await conditional(url, events)
    finally:
        qdrant_module.conditional_upsert = original


async def two_at_once(url: str, events: Sequence[Event]) -> tuple[float, bool]:
    prefix = f"b{uuid.uuid4().hex[:8]}_"
    pair = [QdrantProjection(AsyncQdrantClient(url=url), prefix=prefix, owns_client=True) for _ in range(2)]
    for index in pair:
        await index.open()
    try:
        started = time.perf_counter()

        async def catch_up(index: QdrantProjection, offset: int) -> None:
            # The second starts a few batches later, so that their batches overlap in position.
            for start in range(0, len(events), 2000):
                await index.apply(events[start : start + 2000])
                if offset:
                    await asyncio.sleep(0)

        await asyncio.gather(catch_up(pair[0], 0), catch_up(pair[1], 1))
        seconds = time.perf_counter() - started
        held = {e.memory_id: e.version for e in await pair[0].entries("c")}
        expected = {e.memory_id: e.version for e in events if isinstance(e, MemoryUpsertedEvent)}
        return seconds, held == expected
    finally:
        await pair[0].drop()
        for index in pair:
            await index.close()


def worker_catch_up(url: str, n: int) -> float:
    with scratch_dir("omega-bench-worker-") as path:
        log_url = f"sqlite:///{path}/log.db"
        vectors = random_vectors(n, DIM)
        with Memory(log_url=log_url, index_url="memory://") as writer:
            for start in range(0, n, 1000):
                with writer.transaction() as tx:
                    for i in range(start, min(start + 1000, n)):
                        tx.upsert(f"memory {i}", id=f"m{i}", vectors=vectors[i].tolist(), namespace=namespace_of(i))
        settings = Settings(log_url=log_url, index_url=url, qdrant_prefix=f"b{uuid.uuid4().hex[:8]}_")
        started = time.perf_counter()
        memory = Memory(settings=settings)  # a fresh prefix: the whole log is applied while opening
        seconds = time.perf_counter() - started
        memory._engine.run(memory.projection.drop())
        memory.close()
        return seconds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n = args.items
    events = events_of(n)
    print_header(f"Sharing a Qdrant server (issue 10), N = {n:,}, {DIM}-d")
    with server() as url:
        runs: dict[str, list[float]] = {"plain": [], "conditional": []}
        for _ in range(args.repeat):
            runs["plain"].append(asyncio.run(plain(url, events)))
            runs["conditional"].append(asyncio.run(conditional(url, events)))
        both, converged = asyncio.run(two_at_once(url, events))
        worker = worker_catch_up(url, n)
    base = median(runs["plain"])
    rows = [
        ["plain upserts, batches of 256 (the write before issue 10)", n / base, "1.00"],
        [
            "conditional writes (QdrantProjection.apply)",
            n / median(runs["conditional"]),
            f"{median(runs['conditional']) / base:.2f}",
        ],
        ["two processes applying the same events at once (both done)", n / both, f"{both / base:.2f}"],
        ["worker catch-up from a SQLite log (Memory open on a fresh prefix)", n / worker, f"{worker / base:.2f}"],
    ]
    print(markdown_table(["what", "events/s", "time vs plain"], rows))
    print(
        f"\n- runs (s): plain {[round(x, 2) for x in runs['plain']]}, conditional {[round(x, 2) for x in runs['conditional']]}"
    )
    print(f"- two processes at once: the index converged to the log: {converged}")
    print_footer()


if __name__ == "__main__":
    main()
