from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from child_builds import Gate, hold_children

from omega_memory_plugin import Memory, Settings

Options = Callable[[Path, pytest.FixtureRequest], dict[str, Any]]


def _qdrant_server(tmp: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    # A real Qdrant 1.19 server (started once per session), with a collection prefix of this test's own.
    url = request.getfixturevalue("qdrant_server")
    return {
        "log_url": f"sqlite:///{tmp}/log.db",
        "index_url": url,
        "settings": Settings(qdrant_prefix=f"t{uuid.uuid4().hex[:10]}_"),
    }


BACKENDS: dict[str, Options] = {
    # the embedded default: SQLite log + Qdrant Edge index in one directory
    "embedded": lambda tmp, request: {"path": tmp / "mem"},
    # the production index: a Qdrant server
    "sqlite+qdrant-server": _qdrant_server,
    # qdrant-client's local mode (an emulation, kept as an extra)
    "sqlite+qdrant-local": lambda tmp, request: {
        "log_url": f"sqlite:///{tmp}/log.db",
        "index_url": "qdrant-local://:memory:",
    },
    "memory": lambda tmp, request: {"log_url": "memory://", "index_url": "memory://"},
}


def open_backend(name: str, tmp: Path, request: pytest.FixtureRequest, **options: Any) -> Memory:
    return Memory(**BACKENDS[name](tmp, request), **options)


@pytest.fixture(params=list(BACKENDS))
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    with open_backend(request.param, tmp_path, request, embedder="hash:16") as m:
        yield m


def log_position(memory: Memory) -> int:
    return memory._engine.run(memory.log.last_position())


Opener = Callable[[], dict[str, Any]]


@pytest.fixture(params=["sqlite+edge", "memory", "mongo+qdrant-server"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Options for a new, empty memory of one kind (each call another): for property tests, which
    open many memories per test on every kind of log and index, the real servers included."""
    counter = itertools.count()
    if request.param == "sqlite+edge":
        return lambda: {"path": tmp_path / f"m{next(counter)}"}
    if request.param == "memory":
        return lambda: {"log_url": "memory://", "index_url": "memory://"}
    server = request.getfixturevalue("mongo_server").rstrip("/")
    qdrant = request.getfixturevalue("qdrant_server")
    return lambda: {
        "log_url": f"{server}/p{uuid.uuid4().hex[:12]}",
        "index_url": qdrant,
        "settings": Settings(qdrant_prefix=f"p{uuid.uuid4().hex[:8]}_"),
    }


@pytest.fixture
def held_child(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    """A child build (rebuild, optimize, payload indexes) waits until ``held_child.release`` is set."""
    gate = hold_children(monkeypatch)
    yield gate
    gate.release.set()
