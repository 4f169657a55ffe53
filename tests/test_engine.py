"""The engine: one event loop thread that runs every call, and the turn it lends to a caller's
thread while it waits for work (a sync call then runs without a thread wake-up)."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from omega_memory_plugin import Memory
from omega_memory_plugin.engine import Engine

who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


@pytest.fixture(params=[False, True], ids=["hop", "lent"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    engine = Engine()
    engine.lendable = request.param
    yield engine
    engine.stop()


async def _where() -> tuple[int, bool]:
    return threading.get_ident(), asyncio.get_running_loop() is not None


def test_a_call_that_never_waits_runs_in_the_callers_thread_only_when_lent(engine: Engine) -> None:
    ident, has_loop = engine.run(_where(), lend=True)
    assert has_loop
    assert (ident == threading.get_ident()) is engine.lendable


def test_a_write_is_never_lent(engine: Engine) -> None:
    ident, _ = engine.run(_where())
    assert ident == engine._thread.ident


def test_what_a_read_does_beyond_reading_goes_on_in_the_engines_thread(engine: Engine) -> None:
    async def read_then_write() -> tuple[int, int]:
        before = threading.get_ident()
        await engine.own_thread()
        return before, threading.get_ident()

    before, after = engine.run(read_then_write(), lend=True)
    assert (before == threading.get_ident()) is engine.lendable
    assert after == engine._thread.ident


def test_results_errors_and_the_callers_context_come_through(engine: Engine) -> None:
    async def answer() -> str:
        return who.get()

    async def fail() -> None:
        raise ValueError("bad input")

    async def wait_then_answer() -> str:
        await asyncio.sleep(0.01)
        await asyncio.to_thread(time.sleep, 0.01)
        return who.get()

    token = who.set("ada")
    try:
        assert engine.run(answer(), lend=True) == "ada"
        assert engine.run(wait_then_answer(), lend=True) == "ada"
    finally:
        who.reset(token)
    with pytest.raises(ValueError, match="bad input"):
        engine.run(fail(), lend=True)


def test_a_call_that_waits_goes_on_in_the_engines_thread(engine: Engine) -> None:
    async def across_a_wait() -> tuple[int, int]:
        before = threading.get_ident()
        await asyncio.sleep(0.01)
        return before, threading.get_ident()

    before, after = engine.run(across_a_wait(), lend=True)
    assert (before == threading.get_ident()) is engine.lendable
    assert after == engine._thread.ident


def test_a_task_a_lent_step_starts_runs_without_another_call(engine: Engine) -> None:
    """What a step schedules on the loop (a background task) must not wait for the next call."""
    ran = threading.Event()

    async def start_background() -> None:
        async def background() -> None:
            ran.set()

        started.append(asyncio.get_running_loop().create_task(background()))

    started: list[asyncio.Task[None]] = []
    engine.run(start_background(), lend=True)
    assert ran.wait(5)


def test_a_timer_a_lent_step_sets_fires_on_time(engine: Engine) -> None:
    fired = threading.Event()

    async def set_timer() -> None:
        asyncio.get_running_loop().call_later(0.05, fired.set)

    engine.run(set_timer(), lend=True)
    assert fired.wait(5)


def test_a_sync_call_from_inside_a_step_says_to_use_the_async_twin(engine: Engine) -> None:
    async def nested() -> None:
        async def inner() -> None:
            return None

        engine.run(inner(), lend=True)

    with pytest.raises(RuntimeError, match="async twin"):
        engine.run(nested(), lend=True)


def test_the_async_twin_awaits_inline_from_inside_a_step(engine: Engine) -> None:
    async def inner() -> int:
        return 7

    async def outer() -> int:
        return await engine.arun(inner()) + 1

    assert engine.run(outer(), lend=True) == 8


def test_calls_from_many_threads_run_one_at_a_time(engine: Engine) -> None:
    """The lent turn keeps the engine's promise: no two calls' steps run at once."""
    inside = 0
    most = 0
    guard = threading.Lock()

    async def step() -> None:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.0005)  # a step that holds the engine, as an index call does
        with guard:
            inside -= 1
        await asyncio.sleep(0)  # and one that waits, so the loop's own work interleaves

    def caller() -> None:
        for _ in range(50):
            engine.run(step(), lend=True)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_an_interrupted_wait_cancels_the_work_and_waits_for_it_to_unwind(engine: Engine) -> None:
    unwound = threading.Event()
    entered = threading.Event()

    async def long_work() -> None:
        entered.set()
        try:
            await asyncio.sleep(30)
        finally:
            unwound.set()

    def interrupt() -> None:
        entered.wait(5)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C

    threading.Thread(target=interrupt).start()
    with pytest.raises(KeyboardInterrupt):
        engine.run(long_work(), lend=True)
    assert unwound.is_set()


def test_a_memory_on_the_embedded_default_lends_its_engine(tmp_path: Path) -> None:
    with Memory(tmp_path) as memory:
        assert memory._engine.lendable
        memory.upsert("the cat sat", id="a", vectors=[1.0, 0.0, 0.0])
        assert [r.id for r in memory.search([1.0, 0.0, 0.0])] == ["a"]
