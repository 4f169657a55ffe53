"""Sync and async methods from one implementation.

A *stage* function checks its arguments in the caller's thread and returns the coroutine that does
the work; :func:`twins` turns it into ``method`` (blocks until the engine is done) and
``amethod`` (awaits it), so no behaviour is written twice.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from .engine import Engine

P = ParamSpec("P")
T = TypeVar("T")


class HasEngine(Protocol):
    def _ready_engine(self) -> Engine: ...


def twins(
    stage: Callable[Concatenate[Any, P], Coroutine[Any, Any, T]],
    *,
    lend: bool = False,
) -> tuple[Callable[Concatenate[Any, P], T], Callable[Concatenate[Any, P], Awaitable[T]]]:
    """``lend``: the stage is a read, which the sync twin may run in the caller's thread while
    the engine is idle (:meth:`Engine.run`)."""
    name = stage.__name__.lstrip("_")

    @functools.wraps(stage)
    def sync(self: HasEngine, *args: P.args, **kwargs: P.kwargs) -> T:
        engine = self._ready_engine()
        return engine.run(stage(self, *args, **kwargs), lend=lend)

    @functools.wraps(stage)
    async def async_(self: HasEngine, *args: P.args, **kwargs: P.kwargs) -> T:
        engine = self._ready_engine()
        return await engine.arun(stage(self, *args, **kwargs))

    sync.__name__, async_.__name__ = name, f"a{name}"
    sync.__qualname__ = sync.__qualname__.replace(stage.__name__, name)
    async_.__qualname__ = async_.__qualname__.replace(stage.__name__, f"a{name}")
    return cast("Callable[Concatenate[Any, P], T]", sync), cast("Callable[Concatenate[Any, P], Awaitable[T]]", async_)
