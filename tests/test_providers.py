"""The OMEGA provider interface: store / query / delete / close over a real log and index.

The behaviour tests run against three real backends: the embedded default (SQLite log + Qdrant
Edge), the Qdrant server code path (qdrant-client local mode, selected through ``QDRANT_URL``) and
the in-memory provider, and expect the same answers from each.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from omega_memory_plugin.errors import (
    EmbeddingModelError,
    EventLogError,
    FilterError,
    InvalidIdError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidTextError,
    InvalidVectorError,
    MemoryClosedError,
    UnsupportedBackendError,
)
from omega_memory_plugin.events import Distance
from omega_memory_plugin.providers import (
    MEMORY_PROVIDERS,
    InMemoryMemoryProvider,
    MemoryProvider,
    MongoMemoryProvider,
    QdrantMemoryProvider,
    create_memory_provider,
    create_qdrant_memory_provider,
)

TABLE = "agent_memories"
ENV_VARS = (
    "QDRANT_URL",
    "QDRANT_API_KEY",
    "QDRANT_DISTANCE",
    "MONGO_URL",
    "OMEGA_MONGO_URL",
    "MONGO_DATABASE",
    "OMEGA_MONGO_DATABASE",
    "OMEGA_PATH",
    "OMEGA_LOG_URL",
    "OMEGA_INDEX_URL",
    "OMEGA_DISTANCE",
    "OMEGA_EMBEDDER",
    "OMEGA_QDRANT_API_KEY",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine, and a stray default path lands in tmp_path."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["edge", "qdrant-local", "in_memory"])
async def provider(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MemoryProvider]:
    if request.param == "in_memory":
        opened: MemoryProvider = create_memory_provider("in_memory")
    else:
        if request.param == "qdrant-local":
            monkeypatch.setenv("QDRANT_URL", "qdrant-local://:memory:")
        opened = await create_qdrant_memory_provider(path=tmp_path / "memory")
    try:
        yield opened
    finally:
        await opened.close()


async def count(provider: MemoryProvider, table: str = TABLE) -> int:
    return await provider.memory.acount(namespace=provider.namespace, collection=table)


# -- registry and factories ------------------------------------------------------------------------


def test_memory_providers_names_the_three_backends() -> None:
    assert MEMORY_PROVIDERS == {
        "qdrant": QdrantMemoryProvider,
        "mongo": MongoMemoryProvider,
        "in_memory": InMemoryMemoryProvider,
    }
    assert all(issubclass(cls, MemoryProvider) for cls in MEMORY_PROVIDERS.values())


def test_create_memory_provider_rejects_unknown_names() -> None:
    with pytest.raises(UnsupportedBackendError, match="'redis'.*in_memory, mongo, qdrant"):
        create_memory_provider("redis")


async def test_create_memory_provider_builds_the_named_class(tmp_path: Path) -> None:
    provider = create_memory_provider("qdrant", path=tmp_path / "m", distance="EUCLID")
    try:
        assert isinstance(provider, QdrantMemoryProvider)
        assert provider.memory.settings.distance is Distance.EUCLID
        assert provider.namespace == "omega"
    finally:
        await provider.close()


# -- store / query round trips ---------------------------------------------------------------------


async def test_vector_query_returns_the_agents_records_nearest_first(provider: MemoryProvider) -> None:
    near = await provider.store(TABLE, {"vector": [1.0, 0.0, 0.0], "agent_id": "a", "content": "near"})
    far = await provider.store(TABLE, {"vector": [0.0, 1.0, 0.0], "agent_id": "a", "content": "far"})
    await provider.store(TABLE, {"vector": [1.0, 0.0, 0.0], "agent_id": "b", "content": "other agent"})

    hits = await provider.query(TABLE, {"vector": [0.9, 0.1, 0.0], "agent_id": "a"})

    assert [h["id"] for h in hits] == [near, far]
    assert hits[0]["score"] > hits[1]["score"]
    assert hits[0] == {"id": near, "content": "near", "agent_id": "a", "score": hits[0]["score"]}


async def test_text_queries_rank_by_bm25_or_hybrid(provider: MemoryProvider) -> None:
    order = await provider.store(
        TABLE, {"vector": [0.0, 1.0, 0.0], "agent_id": "a", "content": "Order ORD-2291 shipped"}
    )
    tea = await provider.store(TABLE, {"vector": [1.0, 0.0, 0.0], "agent_id": "a", "content": "Ada likes green tea"})
    await provider.store(TABLE, {"vector": [0.0, 1.0, 0.0], "agent_id": "b", "content": "ORD-2291 for agent b"})

    sparse = await provider.query(TABLE, {"text": "ORD-2291", "mode": "sparse", "agent_id": "a"})
    assert [h["id"] for h in sparse] == [order] and sparse[0]["score"] > 0
    hybrid = await provider.query(
        TABLE, {"text": "ORD-2291", "mode": "hybrid", "fusion": "dbsf", "vector": [1.0, 0.0, 0.0], "agent_id": "a"}
    )
    assert {h["id"] for h in hybrid} == {order, tea}  # the words' best and the vector's best
    with pytest.raises(InvalidInputError, match="give a 'text'"):
        await provider.query(TABLE, {"mode": "sparse"})


async def test_a_vectors_model_is_recorded_and_another_model_refused(provider: MemoryProvider) -> None:
    first = await provider.store(TABLE, {"vector": [1.0, 0.0], "content": "a", "embedding_model": "model-a"})
    assert provider.memory.get(first, namespace=provider.namespace, collection=TABLE)[0].embedding_model == "model-a"
    with pytest.raises(EmbeddingModelError, match="'model-a'.*'model-b'"):
        await provider.store(TABLE, {"vector": [0.0, 1.0], "content": "b", "embedding_model": "model-b"})
    assert await count(provider) == 1


async def test_one_agents_records_are_never_returned_for_another(provider: MemoryProvider) -> None:
    for i in range(3):
        await provider.store(TABLE, {"vector": [1.0, float(i)], "agent_id": "alice", "content": f"alice {i}"})
    await provider.store(TABLE, {"vector": [0.0, 1.0], "agent_id": "bob", "content": "bob's only"})

    # The query vector is closest to alice's records; bob must still see only his own.
    for_bob = await provider.query(TABLE, {"vector": [1.0, 0.0], "agent_id": "bob"}, limit=10)
    scanned = await provider.query(TABLE, {"agent_id": "bob"})

    assert [h["content"] for h in for_bob] == ["bob's only"]
    assert [h["content"] for h in scanned] == ["bob's only"]
    assert await provider.query(TABLE, {"vector": [1.0, 0.0], "agent_id": "carol"}) == []


async def test_query_matches_every_metadata_key_exactly(provider: MemoryProvider) -> None:
    await provider.store(
        TABLE, {"id": "m1", "vector": [1.0, 0.0], "agent_id": "a", "memory_type": "episodic", "content": "x"}
    )
    await provider.store(
        TABLE, {"id": "m2", "vector": [1.0, 0.0], "agent_id": "a", "memory_type": "semantic", "content": "y"}
    )
    await provider.store(
        TABLE, {"id": "m3", "vector": [1.0, 0.0], "agent_id": "ab", "memory_type": "episodic", "content": "z"}
    )

    hits = await provider.query(TABLE, {"vector": [1.0, 0.0], "agent_id": "a", "memory_type": "episodic"})

    assert [h["id"] for h in hits] == ["m1"]


async def test_query_without_vector_scans_in_id_order_without_score(provider: MemoryProvider) -> None:
    for rid in ("c", "a", "b"):
        await provider.store(
            TABLE, {"id": rid, "vector": [0.5, 0.5], "agent_id": "a", "content": f"body {rid}", "importance": 0.9}
        )
    await provider.store(TABLE, {"id": "z", "vector": [0.5, 0.5], "agent_id": "b", "content": "b"})

    rows = await provider.query(TABLE, {"agent_id": "a"})

    assert rows == [
        {"id": rid, "content": f"body {rid}", "agent_id": "a", "importance": 0.9} for rid in ("a", "b", "c")
    ]
    assert [r["id"] for r in await provider.query(TABLE)] == ["a", "b", "c", "z"]


async def test_tables_are_separate(provider: MemoryProvider) -> None:
    await provider.store("task_result", {"id": "t1", "vector": [1.0, 0.0], "content": "task"})
    await provider.store("neural_weights", {"id": "w1", "vector": [1.0, 0.0, 0.0], "content": "weights"})

    assert [r["id"] for r in await provider.query("task_result", {"vector": [1.0, 0.0]})] == ["t1"]
    assert [r["id"] for r in await provider.query("neural_weights")] == ["w1"]
    assert await provider.query("never_written", {"vector": [1.0, 0.0]}) == []
    assert await provider.query("never_written") == []


async def test_limit_and_top_k_cap_results(provider: MemoryProvider) -> None:
    for i in range(5):
        await provider.store(TABLE, {"id": f"r{i}", "vector": [1.0, float(i)], "content": str(i)})

    assert len(await provider.query(TABLE, {"vector": [1.0, 0.0]}, limit=2)) == 2
    assert len(await provider.query(TABLE, {"vector": [1.0, 0.0], "top_k": 3})) == 3
    assert len(await provider.query(TABLE, {"limit": 4})) == 4
    assert len(await provider.query(TABLE, {"top_k": 4}, limit=1)) == 1  # the argument wins
    assert len(await provider.query(TABLE, {})) == 5  # default 10
    with pytest.raises(InvalidInputError, match="limit must be a positive integer"):
        await provider.query(TABLE, {"top_k": 0})


async def test_dict_content_round_trips_as_a_dict(provider: MemoryProvider) -> None:
    # OMEGA code stores structured bodies: {"content": {"message": ...}}.
    body = {"message": "test", "turn": 3, "tags": ["x", "y"]}
    rid = await provider.store(TABLE, {"vector": [0.1] * 8, "agent_id": "test_agent", "content": body})
    await provider.store(
        TABLE, {"id": "plain", "vector": [0.2] * 8, "agent_id": "test_agent", "content": '{"not": "a dict"}'}
    )

    hits = await provider.query(TABLE, {"vector": [0.1] * 8, "agent_id": "test_agent"})

    by_id = {h["id"]: h for h in hits}
    assert by_id[rid]["content"] == body
    assert by_id["plain"]["content"] == '{"not": "a dict"}'  # a string that looks like JSON stays a string
    assert set(by_id[rid]) == {"id", "content", "agent_id", "score"}


async def test_query_operators_pass_through_to_the_filter_syntax(provider: MemoryProvider) -> None:
    for i, importance in enumerate((0.2, 0.6, 0.9)):
        await provider.store(TABLE, {"id": f"r{i}", "vector": [1.0, 0.0], "content": "c", "importance": importance})

    rows = await provider.query(TABLE, {"importance": {"$gte": 0.5}})

    assert [r["id"] for r in rows] == ["r1", "r2"]


# -- ids, replace, delete ------------------------------------------------------------------------


async def test_ids_are_kept_and_integers_become_strings(provider: MemoryProvider) -> None:
    assert await provider.store(TABLE, {"id": "pref-1", "vector": [1.0, 0.0], "content": "a"}) == "pref-1"
    assert await provider.store(TABLE, {"id": 42, "vector": [1.0, 0.0], "content": "b"}) == "42"
    generated = {await provider.store(TABLE, {"vector": [1.0, 0.0], "content": "c"}) for _ in range(3)}

    assert len(generated) == 3
    ids = {r["id"] for r in await provider.query(TABLE)}
    assert ids == {"pref-1", "42", *generated}


async def test_storing_an_id_again_replaces_the_record(provider: MemoryProvider) -> None:
    await provider.store(TABLE, {"id": 7, "vector": [1.0, 0.0], "agent_id": "a", "content": "old", "mood": "sad"})
    await provider.store(TABLE, {"id": 7, "vector": [0.0, 1.0], "agent_id": "a", "content": "new"})

    rows = await provider.query(TABLE, {"agent_id": "a"})
    hits = await provider.query(TABLE, {"vector": [0.0, 1.0], "agent_id": "a"})

    assert rows == [{"id": "7", "content": "new", "agent_id": "a"}]  # "mood" went with the old version
    assert [h["id"] for h in hits] == ["7"]
    assert math.isclose(hits[0]["score"], 1.0, rel_tol=1e-5)  # the new vector, cosine distance
    assert await count(provider) == 1


async def test_delete_removes_one_record_and_says_whether_it_existed(provider: MemoryProvider) -> None:
    await provider.store(TABLE, {"id": 1, "vector": [1.0, 0.0], "content": "one"})
    await provider.store(TABLE, {"id": "2", "vector": [1.0, 0.0], "content": "two"})

    assert await provider.delete(TABLE, 1) is True
    assert await provider.delete(TABLE, "1") is False
    assert await provider.delete("never_written", "2") is False
    assert [r["id"] for r in await provider.query(TABLE, {"vector": [1.0, 0.0]})] == ["2"]


async def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    provider = InMemoryMemoryProvider()
    await provider.init()  # OMEGA code calls init(); the memory is already open
    await provider.close()
    await provider.close()
    with pytest.raises(MemoryClosedError):
        await provider.store(TABLE, {"vector": [1.0], "content": "late"})


async def test_records_survive_closing_and_reopening(tmp_path: Path) -> None:
    async with await create_qdrant_memory_provider(path=tmp_path / "m") as first:
        await first.store(TABLE, {"id": "keep", "vector": [1.0, 0.0], "agent_id": "a", "content": {"k": 1}})
    async with await create_qdrant_memory_provider(path=tmp_path / "m") as second:
        assert await second.query(TABLE, {"agent_id": "a"}) == [{"id": "keep", "content": {"k": 1}, "agent_id": "a"}]


async def test_without_vector_the_memorys_embedder_is_used(tmp_path: Path) -> None:
    async with InMemoryMemoryProvider(embedder="hash:32") as provider:
        rid = await provider.store(TABLE, {"agent_id": "a", "content": "embedded by the memory"})
        assert [r["id"] for r in await provider.query(TABLE, {"agent_id": "a"})] == [rid]


# -- bad input: typed errors, nothing written ----------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        ({"vector": [1.0, 0.0], "content": 123}, InvalidTextError, "'content' must be a string or a dict, got int"),
        ({"vector": [1.0, 0.0], "content": None}, InvalidTextError, "got NoneType"),
        ({"vector": [1.0, 0.0]}, InvalidTextError, "needs a 'content'"),
        ({"vector": [1.0, 0.0], "content": "   "}, InvalidTextError, "text is empty"),
        ({"vector": [1.0, 0.0], "content": {"when": object()}}, InvalidTextError, "JSON-serialisable"),
        ({"vector": [1.0, 0.0, 0.0], "content": "wrong size"}, InvalidVectorError, "dimension 3"),
        ({"vector": [1.0, float("nan")], "content": "nan"}, InvalidVectorError, "non-finite"),
        ({"vector": [1.0, 0.0], "content": "c", "score": 0.5}, InvalidMetadataError, "'score'"),
        ({"vector": [1.0, 0.0], "content": "c", "when": {1, 2}}, InvalidMetadataError, "not JSON"),
        # issue 9: a lone surrogate in agent_id was appended and bricked the index
        ({"vector": [1.0, 0.0], "content": "c", "agent_id": "titan\ud800"}, InvalidMetadataError, "lone surrogate"),
        ({"vector": [1.0, 0.0], "content": "c\udfff"}, InvalidTextError, "lone surrogate"),
        ({"id": True, "vector": [1.0, 0.0], "content": "c"}, InvalidIdError, "non-empty string"),
        ({"id": "", "vector": [1.0, 0.0], "content": "c"}, InvalidIdError, "non-empty string"),
        (["not", "a", "dict"], InvalidInputError, "a record must be a dict"),
    ],
)
async def test_bad_records_raise_typed_errors_and_write_nothing(
    provider: MemoryProvider, record: object, error: type[Exception], message: str
) -> None:
    await provider.store(TABLE, {"id": "existing", "vector": [0.0, 1.0], "content": "already there"})

    with pytest.raises(error, match=message):
        await provider.store(TABLE, record)  # type: ignore[arg-type]

    assert await count(provider) == 1
    assert [r["id"] for r in await provider.query(TABLE)] == ["existing"]


@pytest.mark.parametrize("table", ["bad table", "", "a.b", "-lead", "x" * 65, 7])
async def test_bad_table_names_are_rejected_before_writing(table: object) -> None:
    async with InMemoryMemoryProvider() as provider:
        await _rejects_table(provider, table)


async def _rejects_table(provider: MemoryProvider, table: object) -> None:
    with pytest.raises(InvalidIdError, match="table name must be"):
        await provider.store(table, {"vector": [1.0], "content": "c"})  # type: ignore[arg-type]
    with pytest.raises(InvalidIdError, match="table name must be"):
        await provider.query(table, {})  # type: ignore[arg-type]
    assert (await provider.memory.ahealth())["log"]["position"] == 0


async def test_a_record_without_vector_and_without_embedder_writes_nothing(provider: MemoryProvider) -> None:
    with pytest.raises(InvalidVectorError, match="no embedder"):
        await provider.store(TABLE, {"content": "no vector"})
    assert (await provider.memory.ahealth())["log"]["position"] == 0


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ({"content": "x"}, FilterError, "cannot match on 'content'"),
        ({"id": "x"}, FilterError, "cannot match on 'id'"),
        ({"agent_id": {"$regex": "a"}}, FilterError, "unknown filter operator"),
        ({"vector": [1.0, 0.0, 0.0]}, InvalidVectorError, "dimension 3"),
        ("agent_id=a", FilterError, "a query must be a dict"),
        ({"limit": "5"}, InvalidInputError, "limit must be a positive integer"),
    ],
)
async def test_bad_queries_raise_typed_errors(
    provider: MemoryProvider, query: object, error: type[Exception], message: str
) -> None:
    await provider.store(TABLE, {"vector": [1.0, 0.0], "agent_id": "a", "content": "c"})
    with pytest.raises(error, match=message):
        await provider.query(TABLE, query)  # type: ignore[arg-type]


def test_an_empty_namespace_is_rejected() -> None:
    with pytest.raises(InvalidIdError, match="namespace"):
        InMemoryMemoryProvider(namespace="")


# -- settings from the environment ------------------------------------------------------------------


async def test_qdrant_distance_from_env_and_embedded_defaults_in_omega_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDRANT_DISTANCE", "DOT")
    monkeypatch.setenv("OMEGA_PATH", str(tmp_path / "from-env"))

    async with await create_qdrant_memory_provider() as provider:
        await provider.store(TABLE, {"id": "v", "vector": [2.0, 0.0], "content": "c"})
        hits = await provider.query(TABLE, {"vector": [3.0, 0.0]})
        assert provider.memory.settings.distance is Distance.DOT
        assert provider.memory.projection.name.startswith("edge:")

    assert math.isclose(hits[0]["score"], 6.0, rel_tol=1e-5)  # a dot product; cosine would give 1.0
    assert (tmp_path / "from-env" / "log.db").is_file()
    assert (tmp_path / "from-env" / "index").is_dir()


async def test_cosine_is_the_default_distance(tmp_path: Path) -> None:
    async with await create_qdrant_memory_provider(path=tmp_path / "m") as provider:
        await provider.store(TABLE, {"id": "v", "vector": [2.0, 0.0], "content": "c"})
        hits = await provider.query(TABLE, {"vector": [3.0, 0.0]})
    assert math.isclose(hits[0]["score"], 1.0, rel_tol=1e-5)


def test_qdrant_url_selects_the_server_index_without_connecting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QDRANT_URL", "https://qdrant.example:6333")
    monkeypatch.setenv("QDRANT_API_KEY", "secret")
    monkeypatch.setenv("QDRANT_DISTANCE", "euclid")

    settings = QdrantMemoryProvider.memory_settings(path=tmp_path / "m")

    assert settings.resolved_index_url() == "https://qdrant.example:6333"
    assert settings.qdrant_api_key == "secret"
    assert settings.distance is Distance.EUCLID
    assert settings.resolved_log_url() == f"sqlite:///{(tmp_path / 'm').absolute()}/log.db"  # the log stays local
    assert not (tmp_path / "m").exists()


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_URL", "http://from-env:6333")
    monkeypatch.setenv("QDRANT_DISTANCE", "DOT")

    settings = QdrantMemoryProvider.memory_settings(url="http://from-arg:6333", distance=Distance.COSINE, api_key="k")

    assert (settings.index_url, settings.distance, settings.qdrant_api_key) == (
        "http://from-arg:6333",
        Distance.COSINE,
        "k",
    )


def test_without_qdrant_url_the_index_is_embedded(tmp_path: Path) -> None:
    settings = QdrantMemoryProvider.memory_settings(path=tmp_path)
    assert settings.resolved_index_url() == f"edge:///{tmp_path.absolute()}/index"


async def test_qdrant_url_reaches_the_qdrant_client_index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QDRANT_URL", "qdrant-local://:memory:")
    async with await create_qdrant_memory_provider(path=tmp_path / "m") as provider:
        assert provider.memory.projection.name.startswith("qdrant:")


@pytest.mark.parametrize("name", ["MANHATTAN", "cos", ""])
async def test_unknown_distance_is_a_typed_error_and_opens_nothing(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QDRANT_DISTANCE", name)
    with pytest.raises(InvalidInputError, match="QDRANT_DISTANCE must be one of COSINE, DOT, EUCLID"):
        await create_qdrant_memory_provider(path=tmp_path / "m")
    with pytest.raises(InvalidInputError, match="QDRANT_DISTANCE"):
        InMemoryMemoryProvider()
    assert not (tmp_path / "m").exists()


# -- mongo: records in the MongoDB log (FerretDB in the tests) ----------------------------------------


async def test_mongo_provider_round_trip(mongo_url: str, tmp_path: Path) -> None:
    provider = MongoMemoryProvider(url=mongo_url, path=tmp_path / "m")
    try:
        rid = await provider.store("notes", {"content": "in mongo", "vector": [1.0, 0.0], "agent_id": "a"})
        hits = await provider.query("notes", {"vector": [1.0, 0.0], "agent_id": "a"})
        assert [(h["id"], h["content"], h["agent_id"]) for h in hits] == [(rid, "in mongo", "a")]
    finally:
        await provider.close()


@pytest.mark.parametrize("variable", ["MONGO_URL", "OMEGA_MONGO_URL"])
async def test_mongo_provider_reads_its_url_from_env(
    variable: str, mongo_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(variable, mongo_url)
    provider = create_memory_provider("mongo", path=tmp_path / "m")
    try:
        await provider.store("notes", {"content": "from env", "vector": [0.0, 1.0]})
        assert provider.memory.log.name.startswith("mongo:")
    finally:
        await provider.close()


def test_mongo_provider_unreachable_server_raises_after_the_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMEGA_MONGO_TIMEOUT_SECONDS", "0.5")
    with pytest.raises(EventLogError, match="unreachable"):
        MongoMemoryProvider(url="mongodb://127.0.0.1:1", path=tmp_path / "m")


def test_mongo_settings_keep_a_database_named_in_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGO_URL", "mongodb://ignored:27017")
    monkeypatch.setenv("OMEGA_MONGO_URL", "mongodb://a:1,b:2/omega_prod")
    monkeypatch.setenv("QDRANT_URL", "http://qdrant:6333")

    settings = MongoMemoryProvider.memory_settings(database="unused")

    assert settings.log_url == "mongodb://a:1,b:2/omega_prod"  # OMEGA_MONGO_URL wins over MONGO_URL
    assert settings.index_url == "http://qdrant:6333"
    from_argument = MongoMemoryProvider.memory_settings(url="mongodb://arg:27017", database="mine")
    assert from_argument.log_url == "mongodb://arg:27017/mine"


def test_mongo_provider_without_url_says_what_to_set() -> None:
    with pytest.raises(InvalidInputError, match="set OMEGA_MONGO_URL"):
        MongoMemoryProvider()
