"""The Qdrant test server (omega_memory_plugin/testing/servers/qdrant.py), and what the server index
does on Qdrant 1.19 that local mode never shows: no MatchSubstring, and floats re-read a ulp off.

These tests start their own 1.19 binary (OMEGA_TEST_QDRANT_URL may name a newer server for the
rest of the suite) so that what they pin down is always the 1.19 behaviour.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import socket
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from omega_memory_plugin import Memory
from omega_memory_plugin.errors import UnsupportedFilterError
from omega_memory_plugin.filters import parse_filter
from omega_memory_plugin.index.base import IndexState, SearchQuery
from omega_memory_plugin.index.qdrant import SERVER_LAYOUT, QdrantProjection
from omega_memory_plugin.settings import Settings
from omega_memory_plugin.testing.builders import Recorder, created, upserted
from omega_memory_plugin.testing.servers import qdrant as qdrant_server
from omega_memory_plugin.testing.servers.qdrant import QdrantServer, free_port


@pytest.fixture(scope="module")
def qdrant_119(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantServer]:
    server = QdrantServer(tmp_path_factory.mktemp("qdrant-1.19"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def projection(qdrant_119: QdrantServer) -> AsyncIterator[QdrantProjection]:
    index = QdrantProjection(AsyncQdrantClient(url=qdrant_119.url), prefix=_prefix(), owns_client=True)
    await index.open()
    yield index
    await index.close()


def _prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}_"


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# -- the binary ------------------------------------------------------------------------------------


def test_binary_is_decompressed_once_into_the_cache_and_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qdrant_server, "CACHE", tmp_path / "cache")
    binary = qdrant_server.qdrant_binary()
    assert binary == tmp_path / "cache" / "qdrant-v1.19.0"
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == qdrant_server.SHA256
    assert os.access(binary, os.X_OK)
    written = binary.stat().st_mtime_ns
    assert qdrant_server.qdrant_binary() == binary and binary.stat().st_mtime_ns == written
    assert [p.name for p in binary.parent.iterdir()] == [binary.name]  # no partial file left


def test_an_archive_of_another_binary_is_refused_and_nothing_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "qdrant.xz"
    archive.write_bytes(lzma.compress(b"not the qdrant binary"))
    monkeypatch.setenv("OMEGA_TEST_QDRANT_XZ", str(archive))
    monkeypatch.setattr(qdrant_server, "CACHE", tmp_path / "cache")
    with pytest.raises(RuntimeError, match=f"sha256 .* not the expected {qdrant_server.SHA256}"):
        qdrant_server.qdrant_binary()
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_missing_archive_says_where_it_was_looked_for_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMEGA_TEST_QDRANT_XZ", str(tmp_path / "nowhere.xz"))
    monkeypatch.setattr(qdrant_server, "CACHE", tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.xz.*OMEGA_TEST_QDRANT_XZ.*OMEGA_TEST_QDRANT_URL"):
        qdrant_server.qdrant_binary()


# -- the process -----------------------------------------------------------------------------------


def test_server_starts_on_a_refused_port_with_telemetry_off_and_restarts_on_its_data(tmp_path: Path) -> None:
    port = free_port()
    assert _refused(port)
    server = QdrantServer(tmp_path / "q", http_port=port)
    server.start()
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        assert _get(server.url + "/")["version"] == "1.19.0"
        assert "Telemetry reporting disabled" in server.log_path.read_text()
        request = urllib.request.Request(
            server.url + "/collections/kept",
            data=b'{"vectors": {}}',
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()

        server.stop()
        assert server.process is not None and server.process.returncode == 0  # SIGTERM: a clean exit
        assert _refused(port)
        server.start()
        assert [c["name"] for c in _get(server.url + "/collections")["result"]["collections"]] == ["kept"]

        server.kill()  # a crash: the data is recovered from the server's WAL
        assert _refused(port)
        server.start()
        assert [c["name"] for c in _get(server.url + "/collections")["result"]["collections"]] == ["kept"]
    finally:
        server.stop()


def test_the_session_server_fixture_is_ready(qdrant_server: str) -> None:
    with urllib.request.urlopen(qdrant_server + "/readyz", timeout=5) as response:
        assert response.status == 200
    assert "version" in _get(qdrant_server + "/")


# -- $text on a server without MatchSubstring --------------------------------------------------------


async def _load(projection: QdrantProjection) -> None:
    record = Recorder()
    await projection.apply(
        record(
            created(),
            upserted("a", [1, 0, 0, 0], metadata={"topic": "green tea"}),
            upserted("b", [0, 1, 0, 0], metadata={"topic": "coffee"}),
        )
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"topic": {"$text": "tea"}},
        {"$or": [{"topic": "coffee"}, {"topic": {"$text": "tea"}}]},
        {"$not": {"topic": {"$text": "t"}}},
    ],
    ids=["text", "inside-or", "inside-not"],
)
async def test_text_filter_raises_a_typed_error_naming_the_server_version(
    projection: QdrantProjection, qdrant_119: QdrantServer, spec: dict[str, Any]
) -> None:
    await _load(projection)
    assert projection.server_version == "1.19.0" and not projection.has_substring
    node = parse_filter(spec)
    query = SearchQuery("c", "ns", np.array([1, 0, 0, 0], np.float32), "dense", filter=node)
    message = rf"the Qdrant server at {qdrant_119.url} is version 1\.19\.0; \$text \(on 'topic'\) .*Qdrant 1\.20: upgrade the server"
    for read in (projection.search(query), projection.scan("c", "ns", node), projection.count("c", "ns", node)):
        with pytest.raises(UnsupportedFilterError, match=message):
            await read
    # Even for a collection that does not exist: the answer never depends on what is stored.
    with pytest.raises(UnsupportedFilterError):
        await projection.count("never", "ns", node)
    # Everything else still works on the same projection.
    assert [r.id for r in await projection.scan("c", "ns", parse_filter({"topic": "coffee"}))] == ["b"]


async def test_the_server_itself_rejects_match_substring(qdrant_119: QdrantServer) -> None:
    # Why the version is checked first: sent as is, the condition comes back as HTTP 400, which
    # would read as "index unavailable" rather than as an unsupported filter.
    client = AsyncQdrantClient(url=qdrant_119.url)
    name = _prefix() + "raw"
    try:
        await client.create_collection(name, vectors_config={})
        condition = models.FieldCondition(key="t", match=models.MatchSubstring(substring="x"))
        with pytest.raises(UnexpectedResponse) as raised:
            await client.count(name, count_filter=models.Filter(must=[condition]))
        assert raised.value.status_code == 400
    finally:
        await client.close()


def test_memory_search_with_text_filter_raises_the_typed_error(qdrant_119: QdrantServer, tmp_path: Path) -> None:
    settings = Settings(qdrant_prefix=_prefix())
    with Memory(
        log_url=f"sqlite:///{tmp_path}/log.db", index_url=qdrant_119.url, embedder="hash:16", settings=settings
    ) as memory:
        memory.upsert("green tea", id="a", metadata={"topic": "green tea"})
        with pytest.raises(UnsupportedFilterError, match="upgrade the server"):
            memory.search(text="tea", filter={"topic": {"$text": "tea"}})
        assert [h.id for h in memory.search(text="tea", filter={"topic": "green tea"})] == ["a"]


# -- floats: what the server re-reads, and state records ---------------------------------------------


async def test_server_re_reads_some_floats_a_ulp_off(qdrant_119: QdrantServer) -> None:
    # Why each point carries its numbers as text (`_numbers`, see index/qdrant.py): Qdrant 1.19
    # checks a filter against the float it re-read from storage, so [v, v] misses v.
    client = AsyncQdrantClient(url=qdrant_119.url)
    name, value = _prefix() + "floats", 2.373829056313949e-206
    try:
        await client.create_collection(name, vectors_config={})
        await client.upsert(name, [models.PointStruct(id=1, vector={}, payload={"x": value})], wait=True)
        (point,) = await client.retrieve(name, [1])
        assert point.payload == {"x": 2.3738290563139486e-206}
        equal = models.FieldCondition(key="x", range=models.Range(gte=value, lte=value))
        assert (await client.count(name, count_filter=models.Filter(must=[equal]))).count == 0
    finally:
        await client.close()


async def test_exact_numbers_match_through_the_projection(projection: QdrantProjection) -> None:
    value = 2.373829056313949e-206
    record = Recorder()
    await projection.apply(
        record(
            created(),
            upserted("a", [1, 0, 0, 0], metadata={"x": value, "l": [1, value], "n": {"y": 2}}),
            upserted("b", [0, 1, 0, 0], metadata={"x": 2.3738290563139486e-206, "n": {"y": 2.0}}),
        )
    )
    (a,) = await projection.get("c", "ns", ["a"])
    assert a.metadata["x"] == value
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"x": value}, ["a"]),
        ({"l": value}, ["a"]),
        ({"x": {"$ne": value}}, ["b"]),
        ({"x": {"$in": [value, 7]}}, ["a"]),
        ({"x": {"$nin": [value]}}, ["b"]),
        ({"n.y": 2}, ["a", "b"]),  # 2 and 2.0 are one number
    ]
    for spec, ids in cases:
        assert sorted(r.id for r in await projection.scan("c", "ns", parse_filter(spec))) == ids, spec


async def test_state_is_shared_by_every_process_and_never_goes_back(qdrant_119: QdrantServer) -> None:
    prefix = _prefix()
    first = QdrantProjection(AsyncQdrantClient(url=qdrant_119.url), prefix=prefix, owns_client=True)
    await first.open()
    record = Recorder()
    await first.apply(record(created(), upserted("a", [1, 0, 0, 0]), upserted("b", [0, 1, 0, 0])))
    await first.flush()

    # Another process opening the same prefix: the same generation, the same recorded state.
    second = QdrantProjection(AsyncQdrantClient(url=qdrant_119.url), prefix=prefix, owns_client=True)
    await second.open()
    assert second.name == first.name
    assert await second.state() == IndexState(3, SERVER_LAYOUT)
    await second.flush()  # it has applied nothing (position 0): the record stays where it was
    assert await first.state() == IndexState(3, SERVER_LAYOUT)

    # A rebuild: the new generation records its own state; the replaced one's goes with it.
    fresh = await first.fresh()
    await fresh.apply(record(created(), upserted("z", [0, 0, 1, 0])))
    await fresh.flush()
    await fresh.promote(first)
    assert await fresh.state() == IndexState(record.position, SERVER_LAYOUT)
    # `second` still serves the replaced generation and holds a lease on it, so it stays...
    replaced = second.generation
    assert await second.state() == IndexState(3, SERVER_LAYOUT)
    await second.close()  # ...until its last reader lets it go
    assert await fresh.collect() == [replaced]
    assert await fresh.meta.state(replaced or "") is None
    for index in (first, fresh):
        await index.close()


async def test_the_bm25_vectors_are_the_servers_own(qdrant_url: str, qdrant_prefix: str) -> None:
    """One tokenizer for every index: qdrant_edge.Bm25 (index/bm25.py), which every index uses,
    computes what the Qdrant server's own BM25 inference (``qdrant/bm25``) computes, so the
    embedded index, a server and the reference score alike. A change in either shows here."""
    from omega_memory_plugin.index.bm25 import document_terms, query_terms

    texts = ["Order ORD-2291 shipped to Lyon on Monday", "The quick brown foxes are running", "Ada's tea, Ada's tea!"]
    client = AsyncQdrantClient(url=qdrant_url)
    name = f"{qdrant_prefix}bm25"
    try:
        await client.create_collection(
            name, vectors_config={}, sparse_vectors_config={"server": models.SparseVectorParams()}
        )
        documents = [models.Document(text=t, model="qdrant/bm25") for t in texts]
        await client.upsert(
            name, [models.PointStruct(id=i, vector={"server": d}) for i, d in enumerate(documents)], wait=True
        )
        for record in await client.retrieve(name, list(range(len(texts))), with_vectors=True):
            stored = record.vector["server"]  # type: ignore[index]
            mine = dict(zip(*document_terms(texts[int(record.id)]), strict=True))
            theirs = dict(zip(stored.indices, stored.values, strict=True))
            assert mine.keys() == theirs.keys()
            assert [mine[i] for i in sorted(mine)] == pytest.approx([theirs[i] for i in sorted(mine)], rel=1e-6)
        hits = await client.query_points(
            name, query=models.Document(text="ORD-2291 Lyon", model="qdrant/bm25"), using="server"
        )
        ours = await client.query_points(
            name,
            query=models.SparseVector(indices=query_terms("ORD-2291 Lyon")[0], values=query_terms("ORD-2291 Lyon")[1]),
            using="server",
        )
        assert [(p.id, p.score) for p in hits.points] == [(p.id, pytest.approx(p.score)) for p in ours.points]
    finally:
        await client.delete_collection(name)
        await client.close()
