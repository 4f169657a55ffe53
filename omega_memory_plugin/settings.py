"""Configuration from arguments, environment variables (``OMEGA_*``) and a ``.env`` file.

Every setting has a default that runs with no server: a directory ``.omega-memory`` holding a
SQLite log and a Qdrant Edge index. ``.env.example`` lists them all.

Example::

    >>> from omega_memory_plugin.settings import Settings
    >>> s = Settings(path="/tmp/m")
    >>> s.resolved_log_url(), s.resolved_index_url()
    ('sqlite:////tmp/m/log.db', 'edge:////tmp/m/index')
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .events import Distance


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMEGA_", env_file=".env", extra="ignore", env_ignore_empty=True)

    path: Path = Field(Path(".omega-memory"), description="Directory of the embedded log and index.")
    log_url: str | None = Field(None, description="Event log URL; default sqlite:///<path>/log.db.")
    index_url: str | None = Field(None, description="Index URL; default edge:///<path>/index.")
    collection: str = Field("default", description="Collection used when a call names none.")
    namespace: str = Field("default", description="Namespace (tenant scope) used when a call names none.")
    distance: Distance = Field(Distance.COSINE, description="Distance of collections created implicitly.")
    embedder: str | None = Field(None, description="Embedder used for text without vectors, e.g. 'hash:384'.")
    openai_base_url: str = Field(
        "https://api.openai.com/v1",
        description="Server of 'openai:<model>' embedders: any OpenAI-compatible /v1 (Ollama, vLLM, TEI, Azure).",
    )
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OMEGA_OPENAI_API_KEY", "OPENAI_API_KEY", "openai_api_key"),
        description="API key of 'openai:<model>' embedders (OMEGA_OPENAI_API_KEY, else OPENAI_API_KEY).",
    )
    fastembed_cache_dir: Path | None = Field(
        None, description="Where 'fastembed:<model>' embedders keep their models (else FASTEMBED_CACHE_PATH)."
    )
    fastembed_local_files_only: bool = Field(
        False, description="'fastembed:<model>' embedders load from the cache only, never download."
    )
    sentence_transformers_device: str | None = Field(
        None, description="Device of 'sentence-transformers:<model>' embedders ('cpu', 'cuda', ...; default: the best)."
    )
    mcp_namespace: str | None = Field(
        None, description="The one namespace the MCP server serves (a tenant per server); unset: clients name it."
    )
    mcp_read_only: bool = Field(False, description="The MCP server offers only its reading tools.")
    mcp_allow_delete: bool = Field(True, description="The MCP server offers memory.delete.")
    mcp_tool_names: Literal["dotted", "underscored"] = Field(
        "dotted", description="MCP tool names: memory.search (dotted) or memory_search, for hosts that refuse dots."
    )
    metrics: bool = Field(
        False,
        description="Prometheus metrics (the 'metrics' extra): served at /metrics by serve mcp --http and project --health.",
    )
    plugins: str | None = Field(None, description="Comma-separated modules to load as plugins.")
    load_entrypoints: bool = Field(True, description="Load plugins from the 'omega_memory' entry-point group.")
    encryption: bool = Field(
        True,
        description="Seal memory content in the log under per-subject keys, so that forget() erases it from the "
        "log too (crypto-shredding); off: new content is stored in clear and forget() cannot reach the log.",
    )
    max_text_bytes: int = Field(1_000_000, gt=0, description="Largest text a memory may hold, in UTF-8 bytes.")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field("FULL", description="SQLite durability level.")
    checkpoint_every: int = Field(10_000, gt=0, description="Flush the index and checkpoint after this many events.")
    checkpoint_seconds: float = Field(5.0, gt=0, description="...or after this many seconds with unflushed events.")
    edge_build_process: bool = Field(
        True,
        description="Rebuild a large embedded (Qdrant Edge) index in a child process, on a second core.",
    )
    mongo_timeout_seconds: float = Field(
        30.0, gt=0, description="How long the MongoDB log retries an unreachable server before raising."
    )
    mongo_cache_size: int = Field(
        100_000,
        gt=0,
        description="Stream heads and event ids the MongoDB log keeps in memory (each); others are looked up.",
    )
    read_wait_seconds: float = Field(
        1.0, gt=0, description="How long a read waits for the log to report new events before answering from the index."
    )
    projector: Literal["inline", "external"] = Field(
        "inline",
        description="Who applies the log to the index: 'inline' (this process, after each write and before each "
        "read) or 'external' (a separate `omega-memory project --follow` worker; this process only writes to the "
        "log and waits for the worker's checkpoint). External needs an index shared between processes (a Qdrant server).",
    )
    projector_wait_seconds: float = Field(
        5.0,
        gt=0,
        description="External projector: how long a write, and a read after this process's writes, waits for the "
        "worker's checkpoint to reach this process's last write before going on (with a warning).",
    )
    qdrant_api_key: str | None = Field(None, description="API key for a Qdrant server index.")
    qdrant_prefix: str = Field("omega_", description="Prefix of the collections created on a Qdrant server.")
    qdrant_lease_seconds: float = Field(
        120.0,
        gt=0,
        description="How long a process's lease on a Qdrant index generation lasts; renewed every eighth of it "
        "while in use. A generation replaced by a rebuild is dropped once no lease on it is left (expired "
        "leases count after another half of this, for clock skew between hosts).",
    )

    def resolved_log_url(self) -> str:
        return self.log_url or f"sqlite:///{self.path.absolute()}/log.db"

    def resolved_index_url(self) -> str:
        return self.index_url or f"edge:///{self.path.absolute()}/index"
