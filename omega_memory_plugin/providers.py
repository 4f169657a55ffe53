"""The OMEGA memory-provider interface (``store`` / ``query``) on top of :class:`~omega_memory_plugin.Memory`.

OMEGA code talks to its memory through providers picked by name from :data:`MEMORY_PROVIDERS`.
Records and queries are plain dicts: ``vector`` is the embedding, ``content`` the stored body,
``id`` the record id (optional), and every other top-level key (``agent_id``, ``memory_type``, ...)
is metadata that a query matches exactly. A provider's *table* is a Memory collection; all records
share one namespace (``"omega"`` unless told otherwise), so ``agent_id`` and friends are filters,
not tenants.

Example::

    from omega_memory_plugin.providers import create_qdrant_memory_provider

    provider = await create_qdrant_memory_provider(path="./.omega-memory")
    rid = await provider.store("agent_memories", {"vector": [0.1, 0.9], "agent_id": "titan", "content": "hi"})
    hits = await provider.query("agent_memories", {"vector": [0.1, 0.9], "agent_id": "titan"}, limit=5)
    assert hits[0]["id"] == rid and "score" in hits[0]
    await provider.close()
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .embeddings import Embedder
from .errors import (
    FilterError,
    InvalidIdError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidTextError,
    UnsupportedBackendError,
)
from .events import Distance
from .memory import Memory
from .origin import writes_as
from .records import MemoryRecord
from .settings import Settings
from .validation import check_collection, check_namespace

PROVIDER_ORIGIN = "omega-provider"  # the writer its events record (memory.explain)

DEFAULT_NAMESPACE = "omega"
DEFAULT_LIMIT = 10

# Keys of a record / query dict that are not metadata.
ID = "id"
CONTENT = "content"
VECTOR = "vector"
EMBEDDING_MODEL = "embedding_model"  # with a vector: the model that made it
IDEMPOTENCY_KEY = "idempotency_key"  # a retry with the same key and content writes nothing
TTL = "ttl"  # seconds until the record leaves every read
SUBJECT = "subject"  # whose data key seals the record in the log (default: the provider's namespace)
SCORE = "score"
LIMIT_KEYS = ("limit", "top_k")
#: Query keys that say how to rank, not what to match: every other key is a metadata filter.
SEARCH_KEYS = ("text", "mode", "fusion")
# OMEGA code stores dict bodies (``{"content": {"message": ...}}``); they travel as JSON text and
# this metadata key says so, so a query gives the dict back instead of a string.
CONTENT_FORMAT = "_omega_content_format"
_JSON = "json"

S = TypeVar("S", bound=BaseSettings)


# -- settings ------------------------------------------------------------------------------------


class QdrantProviderSettings(BaseSettings):
    """The Qdrant provider's environment: ``QDRANT_URL``, ``QDRANT_API_KEY``, ``QDRANT_DISTANCE``.

    No ``OMEGA_`` prefix: these are the names OMEGA deployments already set. Without
    ``QDRANT_URL`` the provider runs on the embedded defaults (SQLite log + Qdrant Edge index).

    Example::

        >>> QdrantProviderSettings(qdrant_url="http://qdrant:6333", qdrant_distance="DOT").qdrant_distance
        <Distance.DOT: 'dot'>
    """

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")

    qdrant_url: str | None = Field(None, description="Qdrant server URL (http/https); unset: the embedded Edge index.")
    qdrant_api_key: str | None = Field(None, description="API key for the Qdrant server.")
    qdrant_distance: Distance = Field(Distance.COSINE, description="COSINE, DOT or EUCLID, for new tables.")

    @field_validator("qdrant_distance", mode="before")
    @classmethod
    def _distance_name(cls, value: object) -> object:
        # Operators write COSINE / Dot / euclid; the enum's values are lower case.
        if isinstance(value, str) and not isinstance(value, Distance):
            name = value.strip().lower()
            if name not in {d.value for d in Distance}:
                choices = ", ".join(d.name for d in Distance)
                raise ValueError(f"QDRANT_DISTANCE must be one of {choices}, got {value!r}")
            return Distance(name)
        return value


class MongoProviderSettings(BaseSettings):
    """The Mongo provider's environment: the log URL from ``OMEGA_MONGO_URL`` (else ``MONGO_URL``)
    and the database name from ``OMEGA_MONGO_DATABASE`` (else ``MONGO_DATABASE``, else ``"omega"``).

    Example::

        >>> MongoProviderSettings(mongo_url="mongodb://db:27017").log_url()
        'mongodb://db:27017/omega'
    """

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")

    omega_mongo_url: str | None = Field(None, description="MongoDB URL of the event log (preferred name).")
    mongo_url: str | None = Field(None, description="MongoDB URL of the event log.")
    omega_mongo_database: str | None = Field(None, min_length=1, description="Database (preferred name).")
    mongo_database: str | None = Field(None, min_length=1, description="Database when the URL names none.")

    def log_url(self, url: str | None = None, database: str | None = None) -> str | None:
        """The event log URL: arguments first, then the environment; ``None`` if none is set."""
        chosen = url or self.omega_mongo_url or self.mongo_url
        if not chosen:
            return None
        return _with_database(chosen, database or self.omega_mongo_database or self.mongo_database or "omega")


def _load(cls: type[S], **values: Any) -> S:
    """Settings from arguments over the environment; a bad value is a typed error naming its variable."""
    try:
        return cls(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise InvalidInputError(f"invalid memory provider settings: {problems}") from exc


def _problem(error: Any) -> str:
    # The field name upper-cased is the environment variable the operator has to fix.
    variable = ".".join(str(part) for part in error["loc"]).upper()
    return f"{variable}: {str(error['msg']).removeprefix('Value error, ')}"


def _memory_settings(path: str | Path | None, **fields: Any) -> Settings:
    """Omega settings with only the given fields overridden (the rest still come from ``OMEGA_*``)."""
    chosen = {k: v for k, v in {"path": path, **fields}.items() if v is not None}
    return Settings(**chosen)


def _with_database(url: str, database: str) -> str:
    """``mongodb://host`` -> ``mongodb://host/<database>``; a URL naming a database keeps it."""
    parts = urlsplit(url)
    if parts.path.strip("/"):
        return url
    return urlunsplit(parts._replace(path=f"/{database}"))


# -- the shared behaviour ----------------------------------------------------------------------------


class MemoryProvider:
    """One :class:`Memory` behind OMEGA's ``store`` / ``query`` / ``delete`` / ``close``.

    Subclasses only decide how the Memory is opened; wrap one you already have with
    ``MemoryProvider(memory)``. The provider owns the Memory: :meth:`close` closes it.

    Example::

        with_memory = MemoryProvider(Memory(log_url="memory://", index_url="memory://"))
        rid = await with_memory.store("notes", {"content": "hello", "vector": [1.0, 0.0]})
    """

    def __init__(self, memory: Memory, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.memory = memory
        self.namespace = check_namespace(namespace)

    async def init(self) -> None:
        """Kept for OMEGA code that calls ``await provider.init()``: the Memory is already open."""

    @writes_as(PROVIDER_ORIGIN)
    async def store(self, table: str, record: Mapping[str, Any]) -> str:
        """Write ``record`` into ``table`` and return its id (``record["id"]``, or a new one).

        Storing an id again replaces that record (content, vector and metadata). A record with a
        ``vector`` may name the model that made it (``"embedding_model": "openai:text-embedding-3-small"``):
        it is recorded, and a table of another model's vectors refuses it
        (:class:`~omega_memory_plugin.errors.EmbeddingModelError`). Without a vector, the content
        is embedded by the memory's embedder, whose model is recorded. A record with an
        ``"idempotency_key"`` can be stored again safely (a retry): the same key and content
        write nothing and return the first id. A ``"ttl"`` (seconds) makes the record leave
        every query then (decided from the log: ``memory.as_of`` still shows it as it was). A
        ``"subject"`` (e.g. a user id) names whose data key seals it, for :meth:`forget`.
        """
        table = _table(table)
        memory_id, text, vector, metadata = _split_record(record)
        model = metadata.pop(EMBEDDING_MODEL, None) if vector is not None else None
        return await self.memory.aupsert(
            text,
            id=memory_id,
            vectors=vector,
            metadata=metadata,
            namespace=self.namespace,
            collection=table,
            embedding_model=model,
            idempotency_key=metadata.pop(IDEMPOTENCY_KEY, None),
            ttl=metadata.pop(TTL, None),
            subject=metadata.pop(SUBJECT, None),
        )

    async def query(
        self, table: str, query: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Records of ``table`` matching ``query``: best first when it has a ``vector`` or a
        ``text`` (each result then has a ``score``), otherwise ordered by id.

        ``text`` is searched as :meth:`Memory.search` does, with ``mode`` ``"dense"`` (the
        default: embedded by the memory's embedder), ``"sparse"`` (BM25 over the records' texts:
        exact words, names, numbers) or ``"hybrid"`` (both, fused by ``fusion``: ``"rrf"`` or
        ``"dbsf"``). ``limit`` (or a ``limit`` / ``top_k`` key in the query) caps the results,
        default 10. Every other key is a metadata filter: ``{"agent_id": "a"}`` matches exactly;
        the operator syntax of :mod:`omega_memory_plugin.filters` (``{"importance": {"$gte": 0.5}}``)
        also works.

        Example: ``await provider.query("notes", {"text": "ORD-2291", "mode": "hybrid", "agent_id": "a"})``
        """
        table = _table(table)
        vector, filters, count = _split_query(query, limit)
        ranking = {key: filters.pop(key) for key in SEARCH_KEYS if key in filters}
        if vector is None and "text" not in ranking:
            if ranking:
                raise InvalidInputError(f"{sorted(ranking)} rank a search: give a 'text' (or a 'vector') to search for")
            found = await self.memory.ascan(filter=filters, limit=count, namespace=self.namespace, collection=table)
        else:
            found = await self.memory.asearch(
                vector, **ranking, filter=filters, limit=count, namespace=self.namespace, collection=table
            )
        return [_result(record) for record in found]

    @writes_as(PROVIDER_ORIGIN)
    async def delete(self, table: str, record_id: str | int) -> bool:
        """Delete one record; return whether it existed."""
        table = _table(table)
        memory_id = _record_id(record_id)
        if memory_id is None:
            raise InvalidIdError("delete needs a record id (a string or an integer)")
        deleted = await self.memory.adelete(memory_id, namespace=self.namespace, collection=table)
        return deleted > 0

    @writes_as(PROVIDER_ORIGIN)
    async def forget(self, subject: str | None = None) -> int:
        """Erase a subject for good, in every table, from the index and the log
        (:meth:`Memory.forget`): by default this provider's namespace, else the ``"subject"`` its
        records named. Returns how many records were deleted."""
        report = await self.memory.aforget(self.namespace if subject is None else subject)
        return report.memories

    async def close(self) -> None:
        """Flush and close the Memory. Safe to call twice."""
        await self.memory.aclose()

    async def __aenter__(self) -> MemoryProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.memory!r}, namespace={self.namespace!r})"


def _table(name: object) -> str:
    try:
        return check_collection(name)
    except InvalidIdError as exc:
        raise InvalidIdError(
            f"table name must be 1-64 letters, digits, '_' or '-' (starting with a letter or digit), got {name!r}"
        ) from exc


def _record_id(value: object) -> str | None:
    # OMEGA code often uses integer ids; a memory id is a string. Booleans are not ids.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value  # type: ignore[return-value]  # anything else is checked by the Memory


def _split_record(record: object) -> tuple[str | None, str, Any, dict[str, Any]]:
    """``(id, text, vector, metadata)`` of a record dict; raises before anything is written."""
    if not isinstance(record, Mapping):
        raise InvalidInputError(f"a record must be a dict, got {type(record).__name__}")
    metadata = dict(record)
    memory_id = _record_id(metadata.pop(ID, None))
    vector = metadata.pop(VECTOR, None)
    if CONTENT not in metadata:
        raise InvalidTextError("a record needs a 'content' (a string, or a dict stored as JSON)")
    content = metadata.pop(CONTENT)
    for reserved in (SCORE, CONTENT_FORMAT):
        if reserved in metadata:
            raise InvalidMetadataError(f"a record may not carry the key {reserved!r}; query results use it")
    if isinstance(content, Mapping):
        try:
            text = json.dumps(content, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidTextError(f"a dict 'content' must be JSON-serialisable: {exc}") from exc
        metadata[CONTENT_FORMAT] = _JSON
    elif isinstance(content, str):
        text = content
    else:
        raise InvalidTextError(f"'content' must be a string or a dict, got {type(content).__name__}")
    return memory_id, text, vector, metadata


def _split_query(query: object, limit: int | None) -> tuple[Any, dict[str, Any], int]:
    """``(vector, metadata filter, limit)`` of a query dict."""
    if query is None:
        query = {}
    if not isinstance(query, Mapping):
        raise FilterError(f"a query must be a dict, got {type(query).__name__}")
    filters = dict(query)
    vector = filters.pop(VECTOR, None)
    given = [filters.pop(key) for key in LIMIT_KEYS if key in filters]
    count = limit if limit is not None else (given[0] if given else DEFAULT_LIMIT)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InvalidInputError(f"limit must be a positive integer, got {count!r}")
    for key in (ID, CONTENT):
        if key in filters:
            raise FilterError(
                f"a query cannot match on {key!r}: only metadata keys are filters; give a 'vector' to search by meaning"
            )
    return vector, filters, count


def _result(record: MemoryRecord) -> dict[str, Any]:
    metadata = dict(record.metadata)
    content: Any = record.text
    if metadata.pop(CONTENT_FORMAT, None) == _JSON:
        content = json.loads(record.text)
    result: dict[str, Any] = {ID: record.id, CONTENT: content, **metadata}
    if record.score is not None:
        result[SCORE] = record.score
    return result


# -- the providers: how each one opens its Memory ------------------------------------------------------


class QdrantMemoryProvider(MemoryProvider):
    """Records in a Qdrant index (a server at ``QDRANT_URL``, else Qdrant Edge in ``path``).

    Arguments override the environment (``QDRANT_URL``, ``QDRANT_API_KEY``, ``QDRANT_DISTANCE``);
    ``path`` (default ``OMEGA_PATH`` or ``./.omega-memory``) holds the SQLite log, and the Edge
    index when no server is named. Construction opens files (and connects to a server): from
    async code use :func:`create_qdrant_memory_provider`.

    Example::

        provider = QdrantMemoryProvider(path="/tmp/omega", distance="DOT")
    """

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        api_key: str | None = None,
        distance: Distance | str | None = None,
        embedder: str | Embedder | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        settings = self.memory_settings(path=path, url=url, api_key=api_key, distance=distance)
        super().__init__(Memory(settings=settings, embedder=embedder), namespace=namespace)

    @staticmethod
    def memory_settings(
        *,
        path: str | Path | None = None,
        url: str | None = None,
        api_key: str | None = None,
        distance: Distance | str | None = None,
    ) -> Settings:
        """The Memory settings this provider opens with; reads the environment, connects to nothing."""
        qdrant = _load(QdrantProviderSettings, qdrant_url=url, qdrant_api_key=api_key, qdrant_distance=distance)
        return _memory_settings(
            path, index_url=qdrant.qdrant_url, qdrant_api_key=qdrant.qdrant_api_key, distance=qdrant.qdrant_distance
        )


class InMemoryMemoryProvider(MemoryProvider):
    """Records in process memory only (log and index): for tests and throwaway agents.

    Example::

        provider = InMemoryMemoryProvider()
    """

    def __init__(
        self,
        *,
        distance: Distance | str | None = None,
        embedder: str | Embedder | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        settings = self.memory_settings(distance=distance)
        super().__init__(Memory(settings=settings, embedder=embedder), namespace=namespace)

    @staticmethod
    def memory_settings(*, distance: Distance | str | None = None) -> Settings:
        qdrant = _load(QdrantProviderSettings, qdrant_distance=distance)
        return _memory_settings(None, log_url="memory://", index_url="memory://", distance=qdrant.qdrant_distance)


class MongoMemoryProvider(MemoryProvider):
    """Records in a MongoDB event log (``OMEGA_MONGO_URL`` / ``MONGO_URL``), indexed in Qdrant
    (``QDRANT_URL``, else Qdrant Edge in ``path``).

    An unreachable server raises :class:`~omega_memory_plugin.errors.EventLogError` after
    ``OMEGA_MONGO_TIMEOUT_SECONDS``.

    Example::

        provider = MongoMemoryProvider(url="mongodb://localhost:27017", database="omega")
    """

    def __init__(
        self,
        *,
        url: str | None = None,
        database: str | None = None,
        path: str | Path | None = None,
        index_url: str | None = None,
        embedder: str | Embedder | None = None,
        namespace: str = DEFAULT_NAMESPACE,
    ) -> None:
        settings = self.memory_settings(url=url, database=database, path=path, index_url=index_url)
        super().__init__(Memory(settings=settings, embedder=embedder), namespace=namespace)

    @staticmethod
    def memory_settings(
        *,
        url: str | None = None,
        database: str | None = None,
        path: str | Path | None = None,
        index_url: str | None = None,
    ) -> Settings:
        log_url = _load(MongoProviderSettings).log_url(url, database)
        if log_url is None:
            raise InvalidInputError("the mongo memory provider needs a URL: set OMEGA_MONGO_URL or pass url=...")
        qdrant = _load(QdrantProviderSettings, qdrant_url=index_url)
        return _memory_settings(
            path,
            log_url=log_url,
            index_url=qdrant.qdrant_url,
            qdrant_api_key=qdrant.qdrant_api_key,
            distance=qdrant.qdrant_distance,
        )


MEMORY_PROVIDERS: dict[str, type[MemoryProvider]] = {
    "qdrant": QdrantMemoryProvider,
    "mongo": MongoMemoryProvider,
    "in_memory": InMemoryMemoryProvider,
}


def create_memory_provider(name: str, **kwargs: Any) -> MemoryProvider:
    """The provider registered as ``name`` in :data:`MEMORY_PROVIDERS`, built with ``kwargs``.

    Blocking (it opens the Memory); from async code prefer :func:`create_qdrant_memory_provider`
    or ``await asyncio.to_thread(create_memory_provider, name, ...)``.

    Example: ``provider = create_memory_provider("in_memory")``
    """
    cls = MEMORY_PROVIDERS.get(name)
    if cls is None:
        raise UnsupportedBackendError(
            f"no memory provider named {name!r}; choose one of {', '.join(sorted(MEMORY_PROVIDERS))}"
        )
    return cls(**kwargs)


async def create_qdrant_memory_provider(**kwargs: Any) -> QdrantMemoryProvider:
    """A :class:`QdrantMemoryProvider` opened in a worker thread, so the event loop keeps running.

    Example: ``provider = await create_qdrant_memory_provider(distance="COSINE")``
    """
    return await asyncio.to_thread(QdrantMemoryProvider, **kwargs)
