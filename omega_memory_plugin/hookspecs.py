"""The hooks a plugin can implement. Built-in backends implement them exactly as third parties do.

A plugin is a module (or object) with functions decorated by :data:`hookimpl`, registered through
the ``omega_memory`` entry-point group or listed in ``OMEGA_PLUGINS``. Example, a plugin that
refuses memories mentioning passwords::

    from omega_memory_plugin import hookimpl
    from omega_memory_plugin.errors import AppendVetoedError

    @hookimpl
    def omega_memory_before_append(events):
        for event in events:
            if event.type == "memory.upserted" and "password" in event.data.text.lower():
                raise AppendVetoedError("memories must not contain passwords")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .embeddings import Embedder
    from .events import Event
    from .index.base import Projection
    from .keys import KeyStore
    from .log.base import EventLog
    from .settings import Settings

PROJECT = "omega_memory"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def omega_memory_event_log(url: str, settings: Settings) -> EventLog | None:
    """Return an EventLog for ``url`` if this plugin serves its scheme, else ``None``.

    Built-ins: ``sqlite:///path`` (embedded default), ``mongodb://host/db`` (production),
    ``memory://`` (tests).
    """


@hookspec(firstresult=True)
def omega_memory_key_store(log: EventLog, settings: Settings) -> KeyStore | None:
    """Return the store of the data keys that seal memory content in ``log``
    (:mod:`omega_memory_plugin.keys`), or ``None`` to leave it to another plugin. Plugins are
    asked last-registered first, so an application's KMS-backed store overrides the built-ins,
    which keep the keys in the log's own storage (SQLite file, MongoDB database, memory).
    """


@hookspec(firstresult=True)
def omega_memory_projection(url: str, settings: Settings) -> Projection | None:
    """Return a Projection (index) for ``url`` if this plugin serves its scheme, else ``None``.

    Built-ins: ``edge:///dir`` (embedded default), ``http(s)://host:6333`` (Qdrant server),
    ``qdrant-local://:memory:`` / ``qdrant-local:///dir`` (qdrant-client local mode),
    ``memory://`` (exact in-process index).
    """


@hookspec(firstresult=True)
def omega_memory_embedder(name: str, settings: Settings) -> Embedder | None:
    """Return an embedder for ``name`` (e.g. ``"hash:384"``) if this plugin provides it."""


@hookspec
def omega_memory_before_append(events: Sequence[Event]) -> Sequence[Event] | None:
    """Inspect events about to be appended: return a replacement sequence (to redact), ``None``
    to leave them as they are, or raise :class:`~omega_memory_plugin.errors.AppendVetoedError` to
    refuse the whole commit. Plugins are chained: each sees what the previous one returned.

    Vectors were computed from the text before this hook runs: a plugin that rewrites text should
    also replace the vectors it no longer trusts (``event.data.vectors``).
    """


@hookspec
def omega_memory_after_append(events: Sequence[Event]) -> None:
    """Observe events just recorded in the log (with positions). Should not raise: an exception
    is logged and counted (``Memory.health()["observers"]``) but never reaches the writer, whose
    events are already committed."""


@hookspec
def omega_memory_after_project(projection: str, events: Sequence[Event]) -> None:
    """Observe events just applied to the index named ``projection``. Like after-append, an
    exception is logged and counted, never raised."""


@hookspec
def omega_memory_timed(operation: str, seconds: float, labels: Mapping[str, str]) -> None:
    """Observe how long one operation took: ``"append"`` (one commit to the log; labels: ``log``,
    the log's kind) or ``"search"`` (labels: ``index``, the index's kind, and ``mode``). Like
    after-append, an exception is logged and counted, never raised."""


@hookspec
def omega_memory_progress(operation: str, done: int, total: int) -> None:
    """Observe a long operation: ``"replay"`` (events applied of ``total``, by a rebuild or a long
    catch-up) or ``"reembed"`` (memories re-embedded of ``total`` in the current pass)."""
