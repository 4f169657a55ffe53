"""The stream-state property of tests/test_stream_state.py, on MongoDB logs whose caches are tiny.

With the default cache, the two log instances of that test remember everything they touch, and
the server lookups of cold streams, cold event ids and cold namespaces (the erase check) below the
cache's floor are rarely taken. Here each instance keeps two heads and two ids, so almost every
commit evicts, the floor rises, and most answers come from those lookups: they must agree with
the reference model exactly as the cache does.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from hypothesis import HealthCheck, given, settings
from pymongo import AsyncMongoClient
from test_stream_state import PROGRAMS, Commit, run  # the reference model and its programs

from omega_memory_plugin.log.base import EventLog
from omega_memory_plugin.log.mongo import MongoEventLog


def tiny_cache_pair(server: str) -> Callable[[], Any]:
    @asynccontextmanager
    async def pair() -> AsyncIterator[list[EventLog]]:
        client: AsyncMongoClient[Any] = AsyncMongoClient(server, tz_aware=True)
        name = f"k{uuid.uuid4().hex[:12]}"
        logs: list[EventLog] = [MongoEventLog(client[name], cache_size=2), MongoEventLog(client[name], cache_size=2)]
        try:
            for log in logs:
                await log.open()
            yield logs
        finally:
            await client.drop_database(name)
            await client.close()

    return pair


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=PROGRAMS)
def test_mongo_log_with_a_tiny_cache_follows_the_rule(mongo_server: str, program: list[Commit]) -> None:
    run(tiny_cache_pair(mongo_server), program)
