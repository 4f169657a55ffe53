"""The served stack, checked without Docker: the omega services of docker-compose.yml, the
Dockerfile, Prometheus' scrape targets and alert rules, and the Grafana dashboard's queries
against the metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from omega_memory_plugin.cli import build_parser
from omega_memory_plugin.serve import metrics

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return loaded


def exported() -> set[str]:
    """Every sample name the metrics module can produce (histogram and counter suffixes included)."""
    names: set[str] = set()
    for family in metrics.REGISTRY.collect():
        base = family.name
        names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_count", f"{base}_sum", f"{base}_created"}
    return names


def test_the_omega_services_run_the_image_of_this_checkout(services: dict[str, Any]) -> None:
    for name, command in [("omega-mcp", ["serve", "mcp"]), ("omega-projector", ["project", "--follow"])]:
        service = services[name]
        assert service["build"] == "." and service["image"] == "omega-memory-plugin:local"
        assert service["command"][: len(command)] == command
        build_parser().parse_args(service["command"])  # a command line the CLI accepts
        env = service["environment"]
        assert env["OMEGA_INDEX_URL"] == "http://qdrant:6333"
        assert (
            env["OMEGA_LOG_URL"].startswith("mongodb://mongo:27017/")
            and "directConnection=true" in env["OMEGA_LOG_URL"]
        )
        assert env["OMEGA_METRICS"] == "true" and env["OMEGA_PROJECTOR"] == "external"
        assert {"mongo", "qdrant"} <= set(service["depends_on"])
        assert all(d["condition"] == "service_healthy" for d in service["depends_on"].values())
    assert services["omega-mcp"]["depends_on"]["omega-projector"]["condition"] == "service_healthy"
    assert "8765/metrics" in " ".join(services["omega-mcp"]["healthcheck"]["test"])
    assert "8080/health" in " ".join(services["omega-projector"]["healthcheck"]["test"])


def test_no_default_password_is_left_open(services: dict[str, Any]) -> None:
    password = services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}", password), "compose must refuse to start without one"
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_the_dockerfile_is_slim_pinned_and_unprivileged() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    (base,) = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), f"{base} is not a pinned slim image"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    installs = [line for line in lines if "pip install" in line]
    assert installs and '".[mongo,qdrant,openai,mcp,metrics]"' in installs[0]  # the package of this checkout
    copied = {line.split()[1] for line in lines if line.startswith("COPY ")}
    assert {"omega_memory_plugin", "pyproject.toml"} <= copied
    assert json.loads(next(line for line in lines if line.startswith("ENTRYPOINT "))[len("ENTRYPOINT ") :]) == [
        "omega-memory"
    ]


def test_prometheus_scrapes_the_omega_services_where_they_serve_metrics(services: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: (job["metrics_path"], job["static_configs"][0]["targets"]) for job in config["scrape_configs"]
    }
    assert targets["omega-mcp"] == ("/metrics", ["omega-mcp:8765"])
    assert targets["omega-projector"] == ("/metrics", ["omega-projector:8080"])
    assert "--http" in services["omega-mcp"]["command"] and services["omega-mcp"]["command"][-1].endswith(":8765")
    assert services["omega-projector"]["command"][-1].endswith(":8080")
    mounted = " ".join(services["prometheus"]["volumes"])
    assert "deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml" in mounted
    assert "deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml" in mounted
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(omega_[a-z_]+)", expr))


def test_alert_rules_use_metrics_the_code_exports() -> None:
    rules = [
        r
        for group in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
        for r in group["rules"]
    ]
    used = set().union(*(_metric_names(rule["expr"]) for rule in rules))
    assert {"omega_projection_lag_seconds", "omega_observer_failures_total"} <= used
    assert used <= exported(), f"alerts on metrics nobody exports: {sorted(used - exported())}"
    assert all(rule["annotations"]["summary"] for rule in rules)


def test_the_dashboard_is_provisioned_and_queries_exported_metrics(services: dict[str, Any]) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "omega-memory.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*map(_metric_names, expressions))
    assert used <= exported(), f"the dashboard queries metrics nobody exports: {sorted(used - exported())}"
    for wanted in (
        "omega_search_seconds_bucket",
        "omega_events_appended_total",
        "omega_projection_lag_events",
        "omega_index_points",
    ):
        assert wanted in used
    assert any("histogram_quantile(0.99" in e for e in expressions) and any(
        "histogram_quantile(0.95" in e for e in expressions
    )
    assert any("process_resident_memory_bytes" in e for e in expressions)
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "omega.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    mounted = " ".join(services["grafana"]["volumes"])
    assert "deploy/grafana/dashboards:/var/lib/grafana/dashboards" in mounted
    assert "deploy/grafana/provisioning:/etc/grafana/provisioning" in mounted
    source = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    assert {t["datasource"]["uid"] for panel in dashboard["panels"] for t in panel["targets"]} == {
        source["datasources"][0]["uid"]
    }
