"""LangGraph's own conformance suite for checkpointers (``langgraph-checkpoint-conformance``), in
full: every base capability and every extended one (``delete_for_runs``, ``copy_thread``,
``prune``), on the embedded default and on the Mongo log with a Qdrant server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES
from langgraph_omega_memory import OmegaSaver

from omega_memory_plugin import Memory


async def test_every_capability_of_the_conformance_suite_passes(open_memory: Callable[[], Memory]) -> None:
    @checkpointer_test(name="OmegaSaver")
    async def fresh_saver() -> AsyncIterator[OmegaSaver]:
        memory = open_memory()  # a new memory per capability suite, as the suite asks
        try:
            yield OmegaSaver(memory)
        finally:
            memory.close()

    report = await validate(fresh_saver)
    results = report.results
    assert set(results) == {c.value for c in ALL_CAPABILITIES}
    failures = {name: r.failures for name, r in results.items() if not r.passed}
    assert failures == {}
    assert all(r.detected and r.tests_skipped == 0 for r in results.values())
    # The suite's own count (81 tests in langgraph-checkpoint-conformance 0.0.2): nothing skipped.
    assert sum(r.tests_passed for r in results.values()) >= 81
