"""docker-compose.yml and .env.example stay usable and in step with the code (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from omega_memory_plugin.providers import MongoProviderSettings, QdrantProviderSettings
from omega_memory_plugin.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
# Variables the OMEGA provider factory reads itself (not Settings fields: no prefix).
PROVIDER_VARIABLES = {
    name.upper() for cls in (QdrantProviderSettings, MongoProviderSettings) for name in cls.model_fields
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else list(command)


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_services_exist(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"mongo", "qdrant", "omega-mcp", "omega-projector", "prometheus", "grafana"}


@pytest.mark.parametrize(
    "name, repository",
    [
        ("mongo", "mongo"),
        ("qdrant", "qdrant/qdrant"),
        ("prometheus", "prom/prometheus"),
        ("grafana", "grafana/grafana"),
    ],
)
def test_images_are_pinned(compose: dict[str, Any], name: str, repository: str) -> None:
    image = compose["services"][name]["image"]
    repo, _, tag = image.rpartition(":")
    assert repo == repository
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{image} is not pinned to an exact version"


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name in ("mongo", "qdrant", "prometheus", "grafana"):
        sources = {v.split(":", 1)[0] for v in compose["services"][name]["volumes"]}
        data = {s for s in sources if not s.startswith((".", "/"))}  # configuration comes in read-only
        assert data, f"{name} keeps its data in no named volume"
        assert all(v.endswith(":ro") for v in compose["services"][name]["volumes"] if v.startswith("./"))
        used |= data
    assert used == declared
    assert any(v.endswith(":/data/db") for v in compose["services"]["mongo"]["volumes"])
    assert any(v.endswith(":/qdrant/storage") for v in compose["services"]["qdrant"]["volumes"])


def test_mongo_is_a_replica_set(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    command = _command(mongo)
    assert "--replSet" in command and command[command.index("--replSet") + 1] == "rs0"
    check = _healthcheck_text(mongo)
    assert "rs.initiate" in check and "rs.status" in check  # initiates once, idempotently
    assert "'rs0'" in check


@pytest.mark.parametrize("name", ["mongo", "qdrant", "omega-mcp", "omega-projector", "prometheus", "grafana"])
def test_healthchecks_present(compose: dict[str, Any], name: str) -> None:
    check = compose["services"][name]["healthcheck"]
    assert check["test"] and check["test"][0] in ("CMD", "CMD-SHELL")
    assert check["interval"] and check["retries"] > 0


@pytest.mark.parametrize(
    "name, port",
    [
        ("mongo", 27017),
        ("qdrant", 6333),
        ("omega-mcp", 8765),
        ("omega-projector", 8080),
        ("prometheus", 9090),
        ("grafana", 3000),
    ],
)
def test_ports_only_on_loopback(compose: dict[str, Any], name: str, port: int) -> None:
    ports = [str(p) for p in compose["services"][name]["ports"]]
    assert f"127.0.0.1:{port}:{port}" in ports
    assert all(p.startswith("127.0.0.1:") for p in ports)


def _env_example_names() -> set[str]:
    # Both set (NAME=value) and documented-but-unset (# NAME=) lines count.
    return set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.M))


def test_env_example_names_every_setting() -> None:
    names = _env_example_names()
    missing = [f"OMEGA_{field.upper()}" for field in Settings.model_fields if f"OMEGA_{field.upper()}" not in names]
    assert not missing, f".env.example lacks {missing}"


def test_env_example_names_nothing_stale() -> None:
    fields = {f"OMEGA_{field.upper()}" for field in Settings.model_fields}
    stale = _env_example_names() - fields - PROVIDER_VARIABLES
    assert not stale, f".env.example documents variables no code reads: {sorted(stale)}"
    assert PROVIDER_VARIABLES <= _env_example_names()


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # Copying the file to .env must change nothing: every value it sets is the code's default.
    for field in Settings.model_fields:
        monkeypatch.delenv(f"OMEGA_{field.upper()}", raising=False)
    from_file = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert from_file == Settings(_env_file=None)  # type: ignore[call-arg]
    # and the file does set the non-empty defaults, so a reader sees them
    assert from_file.model_fields_set >= {f for f, info in Settings.model_fields.items() if info.default is not None}


@pytest.mark.parametrize("name", [".env.example", "docker-compose.yml"])
def test_mongo_urls_shown_ask_for_durable_writes(name: str) -> None:
    # A URL copied from these files must give what docs/mongo-log.md promises of a returned append.
    urls = re.findall(r"mongodb://\S+", (ROOT / name).read_text())
    assert urls, f"{name} shows no MongoDB URL"
    for url in urls:
        assert "w=majority" in url and "journal=true" in url, f"{name}: {url} lacks w=majority&journal=true"


def test_nothing_says_the_mongo_log_has_not_landed() -> None:
    for name in (".env.example", "docker-compose.yml"):
        assert "lands" not in (ROOT / name).read_text(), f"{name} still says the MongoDB log has not landed"
