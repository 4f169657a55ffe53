"""Prometheus metrics (OMEGA_METRICS=true): scraped after real operations, parsed from the
exposition format, and checked to have moved as they should."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from omega_memory_plugin import Memory, Settings
from omega_memory_plugin.serve import metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape() -> Samples:
    return parse(metrics.generate_latest(metrics.REGISTRY).decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_metrics_move_with_what_the_memory_does(tmp_path: Path) -> None:
    before = scrape()
    with Memory(tmp_path / "m", embedder="hash:16", settings=Settings(metrics=True)) as memory:
        for i in range(5):
            memory.upsert(f"note {i} about tea", id=f"n{i}", namespace="a")
        memory.delete("n0", namespace="a")
        memory.search(text="tea", namespace="a")
        memory.search(text="tea", namespace="a", mode="sparse")
        memory.rebuild(progress=False)
        after = scrape()
        position = memory.health()["log"]["position"]

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("omega_events_appended_total", type="memory.upserted") == 5
    assert moved("omega_events_appended_total", type="memory.deleted") == 1
    assert moved("omega_events_appended_total", type="collection.created") == 1
    assert (
        moved("omega_append_seconds_count", log="sqlite") == 6
    )  # one commit per call (the first creates the collection)
    assert moved("omega_search_seconds_count", index="edge", mode="dense") == 1
    assert moved("omega_search_seconds_count", index="edge", mode="sparse") == 1
    assert moved("omega_events_applied_total", index="edge") >= 7 + 7  # applied, then replayed by the rebuild
    assert value(after, "omega_progress_ratio", operation="replay") == 1.0
    assert value(after, "omega_log_events", log="sqlite") == position == 7
    assert value(after, "omega_projection_lag_events", index="edge") == 0
    assert value(after, "omega_index_points", collection="default") == 4
    assert value(after, "omega_observer_failures_total", log="sqlite") == 0
    assert value(after, "process_resident_memory_bytes") > 0
    assert not [key for key in after if key[0].startswith("omega_") and ("namespace", "a") in key[1]]


def test_a_memory_without_metrics_registers_nothing(tmp_path: Path) -> None:
    before = scrape()
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        memory.upsert("not counted", id="x")
    assert value(scrape(), "omega_events_appended_total", type="memory.upserted") == value(
        before, "omega_events_appended_total", type="memory.upserted"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _eventually(check: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except (OSError, httpx.HTTPError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def test_the_mcp_http_server_serves_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    env = {"OMEGA_METRICS": "true"}
    argv = [sys.executable, "-m", "omega_memory_plugin.cli", "--path", str(tmp_path / "m"), "--embedder", "hash:16"]
    server = subprocess.Popen([*argv, "serve", "mcp", "--http", f"127.0.0.1:{port}"], env={**_environ(), **env})
    try:
        _eventually(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close())
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            for i in range(3):
                await client.call_tool("memory.upsert", {"text": f"fact {i}", "id": f"f{i}"})
            await client.call_tool("memory.search", {"query": "fact", "mode": "sparse"})
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        samples = parse(response.text)
        assert value(samples, "omega_events_appended_total", type="memory.upserted") == 3
        assert value(samples, "omega_search_seconds_count", index="edge", mode="sparse") == 1
        assert value(samples, "omega_index_points", collection="default") == 3
    finally:
        server.terminate()
        server.wait(timeout=30)


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("OMEGA_")}


def test_an_application_serves_the_metrics_with_an_exporter(tmp_path: Path) -> None:
    with Memory(tmp_path / "m", embedder="hash:16", settings=Settings(metrics=True)) as memory:
        memory.upsert("exported", id="e", collection="exported")
        server = metrics.start_exporter(0)
        try:
            text = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10).text
        finally:
            server.shutdown()
    assert value(parse(text), "omega_index_points", collection="exported") == 1
