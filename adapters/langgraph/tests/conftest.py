from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from omega_memory_plugin import Memory, Settings


@pytest.fixture(params=["embedded", "mongo-log"])
def open_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Memory]:
    """Opens a new, empty memory each call (tests here import nothing from conftest: the module
    name is shared with the other test trees). The embedded default (SQLite + Qdrant Edge), and the production shape: the Mongo log
    (FerretDB) projected into a Qdrant server, each memory in a database and collection prefix of its own."""
    counter = iter(range(1_000_000))

    def embedded() -> Memory:
        return Memory(tmp_path / f"memory-{next(counter)}")

    def mongo_log() -> Memory:
        server: str = request.getfixturevalue("mongo_server")
        options: dict[str, Any] = {
            "log_url": f"{server.rstrip('/')}/lg{uuid.uuid4().hex[:12]}",
            "index_url": request.getfixturevalue("qdrant_server"),
            "settings": Settings(qdrant_prefix=f"lg{uuid.uuid4().hex[:10]}_"),
        }
        return Memory(**options)

    return embedded if request.param == "embedded" else mongo_log
