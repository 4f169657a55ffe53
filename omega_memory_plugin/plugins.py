"""The plugin manager: built-ins first, then ``OMEGA_PLUGINS`` modules, then entry points.

Built-in backends are registered from :data:`DEFAULT_PLUGINS` through the same hooks a third-party
plugin implements, so a plugin can do anything a built-in does. Third parties publish an entry
point in the ``omega_memory`` group::

    [project.entry-points.omega_memory]
    my_index = "my_package.omega_plugin"
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pluggy

from . import hookspecs
from .errors import AppendVetoedError, UnsupportedBackendError

if TYPE_CHECKING:
    from .embeddings import Embedder
    from .events import Event
    from .index.base import Projection
    from .keys import KeyStore
    from .log.base import EventLog
    from .settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_PLUGINS = (
    "omega_memory_plugin.log.sqlite",
    "omega_memory_plugin.log.memory",
    "omega_memory_plugin.log.mongo_plugin",
    "omega_memory_plugin.index.edge",
    "omega_memory_plugin.index.qdrant_plugin",
    "omega_memory_plugin.index.memory",
    "omega_memory_plugin.embeddings",
    "omega_memory_plugin.embedders.by_name",
)


def plugin_manager(extra: str | None = None, load_entrypoints: bool = True) -> pluggy.PluginManager:
    """A manager with the built-ins, the comma-separated modules in ``extra`` and entry points."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    names = list(DEFAULT_PLUGINS) + [m.strip() for m in (extra or "").split(",") if m.strip()]
    for name in names:
        manager.register(importlib.import_module(name), name=name)
    if load_entrypoints:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    return manager


@dataclass(slots=True)
class ObserverFailures:
    """Exceptions raised by observer hooks (after-append, after-project): counted and kept for
    ``Memory.health()``, never raised into the caller, whose write is already committed."""

    count: int = 0
    last: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"failures": self.count, "last_error": self.last}


class Plugins:
    """What the Memory asks of its plugins, with the hook protocols spelled out once."""

    def __init__(self, manager: pluggy.PluginManager, settings: Settings) -> None:
        self.manager = manager
        self.settings = settings
        self.observer_failures = ObserverFailures()

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.manager.hook

    def event_log(self, url: str) -> EventLog:
        log: EventLog | None = self.hook.omega_memory_event_log(url=url, settings=self.settings)
        if log is None:
            raise UnsupportedBackendError(_missing("event log", url))
        return log

    def key_store(self, log: EventLog) -> KeyStore | None:
        store: KeyStore | None = self.hook.omega_memory_key_store(log=log, settings=self.settings)
        return store

    def projection(self, url: str) -> Projection:
        projection: Projection | None = self.hook.omega_memory_projection(url=url, settings=self.settings)
        if projection is None:
            raise UnsupportedBackendError(_missing("index", url))
        return projection

    def embedder(self, name: str) -> Embedder:
        embedder: Embedder | None = self.hook.omega_memory_embedder(name=name, settings=self.settings)
        if embedder is None:
            raise UnsupportedBackendError(f"no installed plugin provides the embedder {name!r}; built-in: 'hash:<dim>'")
        return embedder

    def before_append(self, events: Sequence[Event]) -> Sequence[Event]:
        """Chain the before-append plugins: each sees what the previous one returned."""
        for impl in reversed(self.hook.omega_memory_before_append.get_hookimpls()):
            try:
                replaced = cast("Sequence[Event] | None", impl.function(events=events))  # pluggy types it object
            except AppendVetoedError:
                raise
            except Exception as exc:
                raise AppendVetoedError(f"plugin {impl.plugin_name!r} refused the write: {exc}") from exc
            if replaced is not None:
                events = list(replaced)
        return events

    def after_append(self, events: Sequence[Event]) -> None:
        self._observe("omega_memory_after_append", events=events)

    def after_project(self, projection: str, events: Sequence[Event]) -> None:
        self._observe("omega_memory_after_project", projection=projection, events=events)

    def timed(self, operation: str, seconds: float, **labels: str) -> None:
        self._observe("omega_memory_timed", operation=operation, seconds=seconds, labels=labels)

    def progress(self, operation: str, done: int, total: int) -> None:
        self._observe("omega_memory_progress", operation=operation, done=done, total=total)

    def _observe(self, hook: str, **kwargs: Any) -> None:
        # Each observer on its own: one that raises neither stops the others nor reaches the
        # writer (the events are already in the log; a caller who saw an error would retry and
        # write them twice). The failure is logged and counted for health().
        for impl in reversed(getattr(self.hook, hook).get_hookimpls()):
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception as exc:
                self.observer_failures.count += 1
                self.observer_failures.last = f"{impl.plugin_name}.{hook}: {type(exc).__name__}: {exc}"
                logger.warning("observer %s failed (the write is committed): %s", impl.plugin_name, exc, exc_info=exc)


def kind(name: str) -> str:
    """What kind of log or index a name (``sqlite:/m/log.db``, ``qdrant:omega_3fa1``) is: a
    label with few values, for metrics."""
    return name.partition(":")[0]


def _missing(what: str, url: str) -> str:
    known = {
        "event log": "sqlite:///path, mongodb://host/db, memory://",
        "index": "edge:///dir, http(s)://qdrant-host:6333, qdrant-local://:memory:, memory://",
    }[what]
    return f"no installed plugin provides an {what} for {url!r}; built-in schemes: {known}"
