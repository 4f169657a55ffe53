"""One event loop on a background thread that runs every log and index call of a Memory.

Sync methods block on it, async methods await it, so each behaviour is written once (as a
coroutine) and works from scripts, threads and running event loops (Jupyter, FastAPI) alike.
Running everything on one loop also serialises access to the embedded engines, which are not
meant to be shared between threads.

A synchronous call usually costs two thread wake-ups (the engine's, then the caller's): 0.15-0.25
ms on a 2-core VM, as much as the Edge query of a search at 10,000 memories. So while the loop has
nothing to do (it waits in ``select``), an engine that is :attr:`Engine.lendable` lets the caller's
thread run the call's first step itself, under the same lock the engine's thread holds for its
work: one at a time still, without a wake-up. A call that then has to wait (a commit, a thread)
goes on as a task of the loop, as every call does otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
import selectors
import threading
import types
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeVar

T = TypeVar("T")


class Engine:
    def __init__(self, name: str = "omega-memory-engine") -> None:
        self._turn = _Turn()
        self.loop = _EngineLoop(self._turn)
        #: Set by the owner when every call's work is in this process (a local log, an embedded
        #: index, no sockets on the loop): a synchronous call may then run its first step in the
        #: caller's thread while the loop is idle (see the module docstring).
        self.lendable = False
        self._borrower: int | None = None  # the thread running a step in the engine's place
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def in_engine_thread(self) -> bool:
        return threading.get_ident() in (self._thread.ident, self._borrower)

    def run(self, coro: Coroutine[Any, Any, T], *, lend: bool = False) -> T:
        """Run ``coro`` on the engine and wait for its result (from any thread but the engine's).

        ``lend``: a read, whose first step may run in this thread while the loop is idle (if the
        engine is :attr:`lendable`); what it must do on the engine's own thread, it does after
        :meth:`own_thread`. Writes are never lent: an interrupt (Ctrl-C) reaches the caller's
        thread between any two lines, and a write must only ever be cancelled where it waits.
        """
        if self.in_engine_thread:
            coro.close()
            raise RuntimeError(
                "a synchronous Memory method was called from inside the memory's own engine "
                "(e.g. from a plugin hook); call the async twin (aupsert, asearch, ...) instead"
            )
        outcome: Future[T] = Future()
        running: list[asyncio.Task[T]] = []
        try:
            if not (lend and self.lendable and self._step_here(coro, outcome, running)):
                self._start(coro, outcome, running)
            return outcome.result()
        except BaseException:
            # Interrupted while waiting (Ctrl-C): cancel the work on the engine and wait until it
            # has unwound (a cancelled rebuild drops its half-built index), so that nothing goes on
            # behind the caller's back; then let the interrupt through. (start() runs before the
            # cancel below: the loop runs callbacks in the order they were scheduled.)
            if not outcome.done():
                self._cancel(running)
                try:
                    outcome.result()
                except BaseException:
                    pass
            raise

    async def own_thread(self) -> None:
        """Go on in the engine's own thread: in a lent step, the rest of the call then runs as a
        task of the loop (what a read does beyond reading: catching the index up, say)."""
        if threading.get_ident() == self._borrower:
            await asyncio.sleep(0)  # yields to the loop, which resumes the call as a task

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine from any event loop, including the engine's own."""
        if self.in_engine_thread:
            return await coro
        outcome: Future[T] = Future()
        running: list[asyncio.Task[T]] = []
        self._start(coro, outcome, running)
        try:
            return await asyncio.wrap_future(outcome)
        except asyncio.CancelledError:
            self._cancel(running)  # the caller gave up: so does the work
            raise

    def _start(self, coro: Coroutine[Any, Any, T], outcome: Future[T], running: list[asyncio.Task[T]]) -> None:
        """Schedule ``coro`` on the engine as a task, in the caller's context (what it carries,
        such as who is writing, :mod:`.origin`, holds on the engine too); ``outcome`` gets its
        result, ``running`` the task once it starts.

        A task, not a first step run at once as in ``_step_here``: on the engine's thread the
        coroutine may use libraries that need the task it runs in (httpx finds its async library
        through ``asyncio.current_task()``)."""
        context = contextvars.copy_context()
        self.loop.call_soon_threadsafe(self._as_task, coro, context, outcome, running)

    def _as_task(
        self,
        coro: Coroutine[Any, Any, T],
        context: contextvars.Context,
        outcome: Future[T],
        running: list[asyncio.Task[T]],
    ) -> None:
        task = self.loop.create_task(coro, context=context)
        task.add_done_callback(functools.partial(_settle, outcome))
        running.append(task)

    def _step_here(self, coro: Coroutine[Any, Any, T], outcome: Future[T], running: list[asyncio.Task[T]]) -> bool:
        """Run the first step of ``coro`` in this thread if the loop is idle (False if it is not):
        a call that never waits (a search on the embedded default) is answered without a thread
        wake-up; one that waits goes on as a task of the loop."""
        if not self._turn.lend():
            return False
        try:
            outer = asyncio.events._get_running_loop()  # a caller's own loop (a sync call from Jupyter)
            asyncio.events._set_running_loop(self.loop)
            self._borrower = threading.get_ident()
            timer = self.loop.next_timer()
            context = contextvars.copy_context()
            try:
                waiting_on = context.run(coro.send, None)
            except StopIteration as done:
                _answer(outcome, done.value)
            except BaseException as error:  # an interrupt too: it unwound the coroutine
                _answer(outcome, error=error)
            else:
                self._as_task(_resumed(coro, waiting_on), context, outcome, running)
            finally:
                self._borrower = None
                asyncio.events._set_running_loop(outer)
                woken = self.loop.woken_for(timer)
        finally:
            self._turn.give_back()
        if woken:  # what the step scheduled (its task, a background task) runs on the loop now
            self.loop.call_soon_threadsafe(_nothing)
        return True

    def _cancel(self, running: list[asyncio.Task[T]]) -> None:
        """Cancel the work of a call whose caller gave up (after its first step, which has run by
        then: the loop runs callbacks in the order they were scheduled); nothing if it is done."""
        self.loop.call_soon_threadsafe(lambda: running and running[0].cancel())

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            if not self.in_engine_thread:
                self._thread.join()
        if not self.loop.is_running():
            self.loop.close()


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, T], waiting_on: Any) -> Generator[Any, Any, T]:
    """Go on with ``coro`` as a task, from where its first step (run by ``Engine._step_here``) waits
    on ``waiting_on``: what the task sends or throws in (a result, a cancellation) goes on to it."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as thrown:
            step: Callable[[], Any] = functools.partial(coro.throw, thrown)
        else:
            step = functools.partial(coro.send, sent)
        try:
            waiting_on = step()
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def _answer(outcome: Future[T], result: T | None = None, error: BaseException | None = None) -> None:
    with contextlib.suppress(InvalidStateError):  # the caller cancelled it meanwhile
        if isinstance(error, asyncio.CancelledError):
            outcome.cancel()
        elif error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)  # type: ignore[arg-type]


def _settle(outcome: Future[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        outcome.cancel()
    elif (error := task.exception()) is not None:
        _answer(outcome, error=error)
    else:
        _answer(outcome, task.result())


def _nothing() -> None:
    """Wakes the loop: what is scheduled runs in the same turn."""


class _Turn:
    """Whose turn it is to run the engine's work: its thread's, which gives the turn up only while
    its loop waits for work; a synchronous caller may then take it for one step (``lend``). The
    engine's thread, once it has work, is served before any further caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # the engine's until its loop first waits
        self._engine_waits = False

    def lend(self) -> bool:
        return not self._engine_waits and self._lock.acquire(blocking=False)

    def give_back(self) -> None:
        self._lock.release()

    def engine_waits_for_work(self) -> None:
        self._lock.release()

    def engine_has_work(self) -> None:
        self._engine_waits = True  # no caller takes the turn from now on: this thread is next
        self._lock.acquire()
        self._engine_waits = False


class _LendingSelector(selectors.DefaultSelector):
    """The loop's selector: its wait for work is when the loop's turn is free to lend."""

    def __init__(self, turn: _Turn) -> None:
        super().__init__()
        self._turn = turn

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self._turn.engine_waits_for_work()
        try:
            return super().select(timeout)
        finally:
            self._turn.engine_has_work()


class _EngineLoop(asyncio.SelectorEventLoop):
    def __init__(self, turn: _Turn) -> None:
        super().__init__(_LendingSelector(turn))

    def next_timer(self) -> float:
        """When the earliest timer is due (infinity: none)."""
        scheduled = self._scheduled  # type: ignore[attr-defined]
        return scheduled[0].when() if scheduled else math.inf

    def woken_for(self, timer_before: float) -> bool:
        """Whether what a lent step scheduled needs the loop awake now: callbacks ready to run, or
        a timer due before the one its wait was set for."""
        return bool(self._ready) or self.next_timer() < timer_before  # type: ignore[attr-defined]
