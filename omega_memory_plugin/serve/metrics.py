"""Prometheus metrics: a built-in plugin of the observer hooks, off unless enabled (``OMEGA_METRICS=true``).

Exposed at ``/metrics`` by ``omega-memory serve mcp --http`` and ``omega-memory project --follow
--health HOST:PORT``; an application that embeds the library serves them with
:func:`start_exporter` or mounts :func:`asgi_app`. Needs the ``metrics`` extra (prometheus-client).

What is measured, in base units, with labels of few values (log and index kinds, search modes,
event types, collection names; never memory ids or namespaces):

=================================  ===========================================================
``omega_append_seconds``           histogram: one commit to the log (label ``log``)
``omega_events_appended_total``    counter, by event ``type``
``omega_search_seconds``           histogram, by ``index`` and ``mode`` (dense, sparse, hybrid)
``omega_events_applied_total``     counter: events applied to an index (projector throughput)
``omega_progress_ratio``           gauge, 0..1: a ``replay`` (rebuild) or ``reembed`` under way
``omega_log_events``               gauge: the log's last position (its size in events)
``omega_projection_lag_events``    gauge: events in the log the index has not applied yet
``omega_projection_lag_seconds``   gauge: age of the oldest of them
``omega_index_points``             gauge: memories the index serves, by ``collection``
``omega_observer_failures_total``  counter: observer hooks that raised (the writes stood)
``process_*``                      the process's memory, CPU and open files
=================================  ===========================================================

Example::

    from omega_memory_plugin import Memory
    from omega_memory_plugin.serve import metrics

    memory = Memory("./.omega-memory", settings=Settings(metrics=True))  # or OMEGA_METRICS=true
    metrics.start_exporter(9464)                   # http://127.0.0.1:9464/metrics
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..events import Event
from ..extras import require
from ..hookspecs import hookimpl
from ..plugins import kind

require("prometheus_client", extra="metrics", needed_by="the Prometheus metrics")

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    make_asgi_app,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

if TYPE_CHECKING:
    from ..memory import Memory

#: The registry every metric of this module is in (not prometheus-client's global one, so that an
#: application's own metrics and ours never collide; pass it to your exporter to merge them).
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

# Appends are a few ms (SQLite, fsync) to tens of ms (a replicated MongoDB); searches from 0.1 ms.
_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

APPEND_SECONDS = Histogram(
    "omega_append_seconds", "Time to append one commit to the event log", ["log"], buckets=_SECONDS, registry=REGISTRY
)
EVENTS_APPENDED = Counter("omega_events_appended", "Events recorded in the log", ["type"], registry=REGISTRY)
SEARCH_SECONDS = Histogram(
    "omega_search_seconds",
    "Time the index takes to answer a search",
    ["index", "mode"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
EVENTS_APPLIED = Counter("omega_events_applied", "Events applied to an index", ["index"], registry=REGISTRY)
PROGRESS = Gauge("omega_progress_ratio", "Share done of a long operation under way", ["operation"], registry=REGISTRY)

METRICS_PATH = "/metrics"

_WATCHED: weakref.WeakSet[Memory] = weakref.WeakSet()


@hookimpl
def omega_memory_after_append(events: Sequence[Event]) -> None:
    for event in events:
        EVENTS_APPENDED.labels(type=event.type).inc()


@hookimpl
def omega_memory_after_project(projection: str, events: Sequence[Event]) -> None:
    EVENTS_APPLIED.labels(index=kind(projection)).inc(len(events))


@hookimpl
def omega_memory_timed(operation: str, seconds: float, labels: Mapping[str, str]) -> None:
    if operation == "append":
        APPEND_SECONDS.labels(log=labels.get("log", "")).observe(seconds)
    elif operation == "search":
        SEARCH_SECONDS.labels(index=labels.get("index", ""), mode=labels.get("mode", "")).observe(seconds)


@hookimpl
def omega_memory_progress(operation: str, done: int, total: int) -> None:
    PROGRESS.labels(operation=operation).set(done / total if total else 1.0)


class _MemoryCollector(Collector):
    """What the watched Memories report when Prometheus scrapes: read then, never kept."""

    def collect(self) -> Iterator[Any]:
        size = GaugeMetricFamily("omega_log_events", "Events in the event log (its last position)", labels=["log"])
        lag = GaugeMetricFamily("omega_projection_lag_events", "Log events the index has not applied", labels=["index"])
        age = GaugeMetricFamily(
            "omega_projection_lag_seconds", "Age of the oldest log event the index has not applied", labels=["index"]
        )
        points = GaugeMetricFamily("omega_index_points", "Memories the index serves", labels=["collection"])
        failures = CounterMetricFamily("omega_observer_failures", "Observer hooks that raised", labels=["log"])
        for memory in list(_WATCHED):
            try:
                health = memory.health()
                counts = {name: memory.count(collection=name, all_namespaces=True) for name in memory.collections()}
            except Exception:  # closed, or a backend down: its health is what /health is for
                continue
            log, index = health["log"], health["index"]
            log_kind, index_kind = kind(log["name"]), kind(index["name"])
            if log["position"] is not None:
                size.add_metric([log_kind], log["position"])
            if index["lag_events"] is not None:
                lag.add_metric([index_kind], index["lag_events"])
            if index["lag_seconds"] is not None:
                age.add_metric([index_kind], index["lag_seconds"])
            for collection, count in counts.items():
                points.add_metric([collection], count)
            failures.add_metric([log_kind], health["observers"]["failures"])
        yield from (size, lag, age, points, failures)


REGISTRY.register(_MemoryCollector())


def watch(memory: Memory) -> None:
    """Report ``memory``'s log size, projection lag and index points at each scrape (while it is open)."""
    _WATCHED.add(memory)


def start_exporter(port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; return the server."""
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    return server


async def exposition() -> tuple[bytes, str]:
    """The metrics in the exposition format, and its content type, gathered off the calling loop
    (the collector asks each watched Memory through its engine thread)."""
    return await asyncio.to_thread(generate_latest, REGISTRY), CONTENT_TYPE_LATEST


def asgi_app() -> Any:
    """An ASGI app answering with the metrics, to mount in your application (e.g. at ``/metrics``)."""
    return make_asgi_app(registry=REGISTRY)
