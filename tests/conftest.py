from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from omega_memory_plugin import Memory
from omega_memory_plugin.testing.ferretdb import FerretDB

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


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Mongo-wire server for the session: OMEGA_TEST_MONGO_URL if set, else FerretDB on loopback."""
    url = os.environ.get("OMEGA_TEST_MONGO_URL")
    if url:
        yield url
        return
    server = FerretDB(tmp_path_factory.mktemp("ferretdb"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def mongo_url(mongo_server: str) -> str:
    """A URL naming a database of its own for one test."""
    return f"{mongo_server.rstrip('/')}/t{uuid.uuid4().hex[:12]}"
