"""Helpers for tests of index work a child process does on a copy (index/edge_build.py): holding
the child back, and waiting for the payload indexes built in the background."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from omega_memory_plugin import Memory
from omega_memory_plugin.index.edge import EdgeProjection
from omega_memory_plugin.index.edge_build import EdgeBuild


def small_memory(path: Path, child_build_at: int | None) -> Memory:
    """A Memory whose Edge index hands builds of ``child_build_at`` events or more to a child."""
    return Memory(path, index=EdgeProjection(path / "index", child_build_at=child_build_at), embedder="hash:16")


class Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


def hold_children(monkeypatch: pytest.MonkeyPatch) -> Gate:
    """Every child build waits, once its copy is made and before it builds anything, until the
    gate is released."""
    gate = Gate()
    started = EdgeBuild.started

    def held(build: EdgeBuild) -> bool:
        gate.entered.set()
        assert gate.release.wait(60)
        return started(build)

    monkeypatch.setattr(EdgeBuild, "started", held)
    return gate


def settled(memory: Memory) -> None:
    """Wait until no copy is being given payload indexes in the background."""
    deadline = time.monotonic() + 120
    while memory._indexing is not None:
        assert time.monotonic() < deadline, "the background index build did not end"
        time.sleep(0.05)
