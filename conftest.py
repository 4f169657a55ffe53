"""Fixtures shared by every test tree (core tests and each adapter's tests): the Mongo-wire server
and the Qdrant server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from omega_memory_plugin.testing.servers.ferretdb import FerretDB
from omega_memory_plugin.testing.servers.qdrant import QdrantServer


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


@pytest.fixture(scope="session")
def qdrant_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Qdrant server's URL for the session: OMEGA_TEST_QDRANT_URL if set, else Qdrant 1.19 from
    ``../shared/qdrant/`` on loopback (see :mod:`omega_memory_plugin.testing.servers.qdrant`).

    Tests share it: each keeps to collections of its own through a prefix (``qdrant_prefix``)."""
    url = os.environ.get("OMEGA_TEST_QDRANT_URL")
    if url:
        yield url.rstrip("/")
        return
    server = QdrantServer(tmp_path_factory.mktemp("qdrant"))
    problem = None
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        problem = f"cannot start the Qdrant test server: {exc}"
    if problem:  # a failure, never a skip: the server tests are part of the suite
        pytest.fail(problem, pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def qdrant_url(qdrant_server: str) -> str:
    """The Qdrant server's URL, for one test (pair it with ``qdrant_prefix``)."""
    return qdrant_server


@pytest.fixture
def qdrant_prefix(qdrant_server: str) -> Iterator[str]:
    """A collection prefix of this test's own; its collections are deleted afterwards, so that a
    long-lived server named by OMEGA_TEST_QDRANT_URL does not fill up."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield prefix
    from qdrant_client import QdrantClient  # imported here: it costs about a second (grpc)

    client = QdrantClient(url=qdrant_server, check_compatibility=False)
    try:
        for collection in client.get_collections().collections:
            if collection.name.startswith(prefix):
                client.delete_collection(collection.name)
    finally:
        client.close()
