"""Appends on the MongoDB log are fair: unpaced writers on one server all make progress.

Issue 10 measured three unpaced writer threads for 20 s on one FerretDB: 1,169 appends for one
writer, 3 and 4 for the others (a winner never read the log, a loser had to catch up with a scan
before every retry). The bar: over 20 s, the slowest writer makes at least a quarter of the
fastest one's appends. Each writer is a thread with its own event loop, client and
``MongoEventLog``, appending one memory per call as fast as it can, on the session's server.
The longest single call is reported (not asserted: no timing assertions in tests).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from omega_memory_plugin import Settings
from omega_memory_plugin.log.mongo import MongoEventLog, mongo_event_log
from omega_memory_plugin.testing.builders import created, upserted
from omega_memory_plugin.testing.log_conformance import read_all

WRITERS = 3
SECONDS = 20.0


@dataclass
class Outcome:
    appends: int = 0
    longest_call: float = 0.0
    error: BaseException | None = None


async def opened(url: str) -> MongoEventLog:
    log = mongo_event_log(url, Settings())
    assert isinstance(log, MongoEventLog)
    await log.open()
    return log


def write_until_stopped(url: str, number: int, ready: threading.Barrier, stop: threading.Event, out: Outcome) -> None:
    async def main() -> None:
        log = await opened(url)
        try:
            ready.wait()  # every writer opened: all start together
            while not stop.is_set():
                began = time.perf_counter()
                await log.append(
                    [upserted(f"w{number}-{out.appends}", [1.0, float(number), float(out.appends % 97), 0.5])]
                )
                out.longest_call = max(out.longest_call, time.perf_counter() - began)
                out.appends += 1
        finally:
            await log.close()

    try:
        asyncio.run(main())
    except BaseException as exc:  # surfaced by the test: a writer must not die
        out.error = exc


def test_unpaced_writers_all_make_progress(mongo_url: str) -> None:
    async def create() -> None:
        log = await opened(mongo_url)
        await log.append([created("c", {"dense": 4})])
        await log.close()

    asyncio.run(create())
    outcomes = [Outcome() for _ in range(WRITERS)]
    ready, stop = threading.Barrier(WRITERS + 1), threading.Event()
    threads = [
        threading.Thread(target=write_until_stopped, args=(mongo_url, n, ready, stop, outcomes[n]), name=f"writer-{n}")
        for n in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    ready.wait(timeout=60)
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join()

    counts = [o.appends for o in outcomes]
    print(
        f"\n{WRITERS} unpaced writers for {SECONDS:.0f} s: appends {counts}, "
        f"longest single call {max(o.longest_call for o in outcomes):.2f} s"
    )
    assert [o.error for o in outcomes] == [None] * WRITERS
    assert min(counts) >= max(counts) / 4, f"a writer starved: {counts}"

    async def check_log() -> None:
        log = await opened(mongo_url)
        events = await read_all(log)
        await log.close()
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        assert len(events) == 1 + sum(counts)  # the collection, then every append once

    asyncio.run(check_log())
