"""Who wrote an event: the *origin* recorded in every write (``memory.explain`` reports it).

The origin is a context variable: an adapter, the provider, the MCP server or the CLI names
itself around the calls it makes (``with writing_as("langchain-omega-memory"):``), and every write
staged inside takes it; code that names nothing writes as ``"python"``. The Memory's engine runs
each call in its caller's context, so an adapter's coroutine running on the engine
(:meth:`~omega_memory_plugin.Memory.run`) keeps the origin too.

Example::

    with writing_as("my-ingest-job"):
        memory.upsert("likes tea", id="p1")
    memory.explain(memory.get("p1")[0]).events[-1].data.origin  # "my-ingest-job"
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from .validation import check_string

DEFAULT = "python"
_ORIGIN: ContextVar[str] = ContextVar("omega_memory_origin", default=DEFAULT)

F = TypeVar("F", bound=Callable[..., Any])


def current_origin() -> str:
    return _ORIGIN.get()


@contextmanager
def writing_as(origin: str) -> Iterator[None]:
    """Record ``origin`` as the writer of every write made inside (the innermost one wins)."""
    token = _ORIGIN.set(check_string(origin, "origin"))
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def writes_as(origin: str) -> Callable[[F], F]:
    """Decorate a method (sync, async or an async generator's caller) so that its writes record ``origin``."""

    def decorate(function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with writing_as(origin):
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with writing_as(origin):
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate
