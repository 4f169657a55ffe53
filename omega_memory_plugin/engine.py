"""One event loop on a background thread that runs every log and index call of a Memory.

Sync methods block on it, async methods await it, so each behaviour is written once (as a
coroutine) and works from scripts, threads and running event loops (Jupyter, FastAPI) alike.
Running everything on one loop also serialises access to the embedded engines, which are not
meant to be shared between threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Coroutine
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeVar

T = TypeVar("T")


class Engine:
    def __init__(self, name: str = "omega-memory-engine") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def in_engine_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the engine and wait for its result (from any thread but the engine's)."""
        if self.in_engine_thread:
            coro.close()
            raise RuntimeError(
                "a synchronous Memory method was called from inside the memory's own engine "
                "(e.g. from a plugin hook); call the async twin (aupsert, asearch, ...) instead"
            )
        outcome: Future[T] = Future()
        running = self._start(coro, outcome)
        try:
            return outcome.result()
        except BaseException:
            # Interrupted while waiting (Ctrl-C): cancel the work on the engine and wait until it
            # has unwound (a cancelled rebuild drops its half-built index), so that nothing goes on
            # behind the caller's back; then let the interrupt through. (start() runs before the
            # cancel below: the loop runs callbacks in the order they were scheduled.)
            if not outcome.done():
                self.loop.call_soon_threadsafe(lambda: running[0].cancel())
                try:
                    outcome.result()
                except BaseException:
                    pass
            raise

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine from any event loop, including the engine's own."""
        if self.in_engine_thread:
            return await coro
        outcome: Future[T] = Future()
        running = self._start(coro, outcome)
        try:
            return await asyncio.wrap_future(outcome)
        except asyncio.CancelledError:
            self.loop.call_soon_threadsafe(lambda: running[0].cancel())  # the caller gave up: so does the work
            raise

    def _start(self, coro: Coroutine[Any, Any, T], outcome: Future[T]) -> list[asyncio.Task[T]]:
        """Schedule ``coro`` on the engine, in the caller's context (what it carries, such as who
        is writing, :mod:`.origin`, holds on the engine too); ``outcome`` gets its result. Returns
        the list the task is put in once it starts."""
        context = contextvars.copy_context()
        running: list[asyncio.Task[T]] = []

        def settle(task: asyncio.Task[T]) -> None:
            if task.cancelled():
                outcome.cancel()
                return
            with contextlib.suppress(InvalidStateError):  # the caller cancelled it meanwhile
                if (error := task.exception()) is not None:
                    outcome.set_exception(error)
                else:
                    outcome.set_result(task.result())

        def start() -> None:
            task = self.loop.create_task(coro, context=context)
            task.add_done_callback(settle)
            running.append(task)

        self.loop.call_soon_threadsafe(start)
        return running

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            if not self.in_engine_thread:
                self._thread.join()
        if not self.loop.is_running():
            self.loop.close()
