"""Fixtures shared by every test tree (core tests and each adapter's tests): the Mongo-wire server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from omega_memory_plugin.testing.ferretdb import FerretDB


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
