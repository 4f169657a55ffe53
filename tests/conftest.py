from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from omega_memory_plugin import Memory

BACKENDS = {
    # the embedded default: SQLite log + Qdrant Edge index in one directory
    "embedded": lambda tmp: {"path": tmp / "mem"},
    # the server code path, through qdrant-client's local mode
    "sqlite+qdrant-local": lambda tmp: {"log_url": f"sqlite:///{tmp}/log.db", "index_url": "qdrant-local://:memory:"},
    "memory": lambda tmp: {"log_url": "memory://", "index_url": "memory://"},
}


@pytest.fixture(params=list(BACKENDS))
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    with Memory(**BACKENDS[request.param](tmp_path), embedder="hash:16") as m:
        yield m


def log_position(memory: Memory) -> int:
    return memory._engine.run(memory.log.last_position())
