"""MongoDB log: append throughput next to raw ``insert_many`` through the same driver, and the
projector's catch-up rate from MongoDB into Qdrant Edge.

    .venv/bin/python benchmarks/mongo.py                     # starts FerretDB on loopback
    OMEGA_BENCH_MONGO_URL=mongodb://localhost:27017 .venv/bin/python benchmarks/mongo.py

FerretDB's timings say nothing about MongoDB's (it scans where MongoDB uses indexes); the ratio
of the log to the raw driver on the same server is what this measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from pymongo import AsyncMongoClient

from omega_memory_plugin import Memory
from omega_memory_plugin.log.mongo import MongoEventLog, _encode_event
from omega_memory_plugin.testing.builders import created, upserted
from omega_memory_plugin.testing.servers.ferretdb import FerretDB

DIM = 384


def _events(count: int, rng: np.random.Generator) -> list[Any]:
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    return [upserted(f"m{i}-{uuid.uuid4().hex[:6]}", vectors[i], metadata={"i": i}) for i in range(count)]


async def _append_rates(url: str, singles: int, batches: int, batch_size: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    client: AsyncMongoClient[Any] = AsyncMongoClient(url, tz_aware=True)
    db = client[f"bench{uuid.uuid4().hex[:8]}"]
    log = MongoEventLog(db)
    await log.open()
    await log.append([created("c", {"dense": DIM})])
    rates: dict[str, float] = {}

    events = _events(singles, rng)
    start = time.perf_counter()
    for event in events:
        await log.append([event])
    rates["log: single-event commits"] = singles / (time.perf_counter() - start)

    raw = db["raw_single"]
    documents = [_encode_event(e) for e in _events(singles, rng)]
    start = time.perf_counter()
    for document in documents:
        await raw.insert_one(document)
    rates["raw insert_one"] = singles / (time.perf_counter() - start)

    groups = [_events(batch_size, rng) for _ in range(batches)]
    start = time.perf_counter()
    for group in groups:
        await log.append(group)
    rates[f"log: commits of {batch_size}"] = batches * batch_size / (time.perf_counter() - start)

    raw_many = db["raw_many"]
    raw_groups = [[_encode_event(e) for e in _events(batch_size, rng)] for _ in range(batches)]
    start = time.perf_counter()
    for group in raw_groups:
        await raw_many.insert_many(group)
    rates[f"raw insert_many of {batch_size}"] = batches * batch_size / (time.perf_counter() - start)
    await client.drop_database(db.name)
    await client.close()
    return rates


def _catch_up_rate(url: str, events: int) -> float:
    database = f"catchup{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(events, DIM)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        with Memory(log_url=f"{url.rstrip('/')}/{database}", index_url="memory://") as writer:
            for start in range(0, events, 500):
                with writer.transaction() as tx:
                    for i in range(start, min(start + 500, events)):
                        tx.upsert(f"text {i}", id=str(i), vectors=vectors[i])
        began = time.perf_counter()
        with Memory(log_url=f"{url.rstrip('/')}/{database}", index_url=f"edge:///{Path(tmp)}/index") as reader:
            elapsed = time.perf_counter() - began
            assert reader.count() == events
    return (events + 1) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--catch-up", type=int, default=10_000)
    args = parser.parse_args()
    url = os.environ.get("OMEGA_BENCH_MONGO_URL")
    server = None
    if url is None:
        server = FerretDB(Path(tempfile.mkdtemp(prefix="bench-ferretdb-")))
        server.start()
        url = server.url
    try:
        rates = asyncio.run(_append_rates(url, args.singles, args.batches, args.batch_size))
        catch_up = _catch_up_rate(url, args.catch_up)
    finally:
        if server is not None:
            server.stop()
    print(f"server: {'FerretDB 1.24 (SQLite handler)' if server else url}; {DIM}-d vectors\n")
    print("| path | appends/s |\n|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} |")
    single = rates["raw insert_one"] / rates["log: single-event commits"]
    batched = rates[f"raw insert_many of {args.batch_size}"] / rates[f"log: commits of {args.batch_size}"]
    print(f"\nlog overhead vs raw driver: single {single:.2f}x, batches of {args.batch_size} {batched:.2f}x")
    print(f"projector catch-up MongoDB -> Qdrant Edge: {catch_up:,.0f} events/s ({args.catch_up:,} events)")


if __name__ == "__main__":
    main()
