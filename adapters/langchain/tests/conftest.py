from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_omega_memory import OmegaHashEmbeddings, OmegaMemoryVectorStore
from omega_memory_plugin import Memory


@pytest.fixture(params=["embedded", "mongo-log"])
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    """The embedded default, and the Mongo log (FerretDB) projected into Qdrant Edge."""
    if request.param == "embedded":
        options = {"path": tmp_path / "memory"}
    else:
        options = {"log_url": request.getfixturevalue("mongo_url"), "index_url": f"edge:///{tmp_path}/index"}
    with Memory(**options) as m:
        yield m


@pytest.fixture
def store(memory: Memory) -> OmegaMemoryVectorStore:
    return OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(64), namespace="tests")


def log_position(memory: Memory) -> int:
    return memory._engine.run(memory.log.last_position())
