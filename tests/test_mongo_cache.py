"""The stream-state property of tests/test_stream_state.py, on MongoDB logs whose caches are tiny.

With the default cache, the two log instances of that test remember everything they touch, and
the server lookups of cold streams, cold event ids and cold namespaces (the erase check) below the
cache's floor are rarely taken. Here each instance keeps two heads and two ids, so almost every
commit evicts, the floor rises, and most answers come from those lookups: they must agree with
the reference model exactly as the cache does.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from test_stream_state import PROGRAMS, Commit, mongo_pair, run  # the reference model, its programs


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=PROGRAMS)
def test_mongo_log_with_a_tiny_cache_follows_the_rule(mongo_server: str, program: list[Commit]) -> None:
    run(mongo_pair(mongo_server, cache_size=2), program)
