"""Third-party plugins published in the ``omega_memory`` entry-point group are picked up.

The package in ``tests/plugin_fixture`` is installed with pip into a directory of its own, and a
child Python process with that directory on ``PYTHONPATH`` opens a Memory: the plugin's embedder
and its redacting ``before_append`` hook must be in effect without any configuration, and gone
when entry points are turned off (``OMEGA_LOAD_ENTRYPOINTS=false``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURE = Path(__file__).parent / "plugin_fixture"

CHILD = """
import json
import sys
from pathlib import Path

from omega_memory_plugin import Memory, UnsupportedBackendError

try:
    memory = Memory(Path(sys.argv[1]), embedder="shout:8")
except UnsupportedBackendError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    raise SystemExit(0)
with memory:
    memory.upsert("my secret plan", id="plan")
    record = memory.get("plan")[0]
    print(json.dumps({
        "plugins": sorted(name for name, _ in memory.plugins.manager.list_name_plugin()),
        "embedder": memory.embedder.name,
        "history": [
            {"text": e.data.text, "embedding_model": e.data.embedding_model} for e in memory.history("plan")
        ],
        "get": {"text": record.text, "embedding_model": record.embedding_model},
        "search": [hit.id for hit in memory.search(text="plan", limit=5)],
    }))
"""


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture plugin, pip-installed into a directory of its own; nothing is written in the repo."""
    work = tmp_path_factory.mktemp("shout")
    source = shutil.copytree(FIXTURE, work / "source", ignore=shutil.ignore_patterns("__pycache__"))
    target = work / "site"
    # --no-build-isolation builds with the venv's own setuptools (a dev dependency), so no network.
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation",
           "--no-cache-dir", "--disable-pip-version-check", "--target", str(target), str(source)]  # fmt: skip
    done = subprocess.run(pip, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def run_child(site_dir: Path, tmp_path: Path, **env: str) -> dict[str, Any]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OMEGA_")}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "mem")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # no stray .env from the repo
        env={**clean, "PYTHONPATH": str(site_dir), **env},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_entry_point_plugin_provides_embedder_and_redacts(site_dir: Path, tmp_path: Path) -> None:
    result = run_child(site_dir, tmp_path)
    assert "shout" in result["plugins"]  # registered under its entry-point name
    assert result["embedder"] == "shout:8"
    assert result["history"] == [{"text": "my [redacted] plan", "embedding_model": "shout:8"}]
    assert result["get"] == {"text": "my [redacted] plan", "embedding_model": "shout:8"}
    assert result["search"] == ["plan"]


def test_entry_points_can_be_turned_off(site_dir: Path, tmp_path: Path) -> None:
    result = run_child(site_dir, tmp_path, OMEGA_LOAD_ENTRYPOINTS="false")
    assert result["error"] == "UnsupportedBackendError"
    assert "'shout:8'" in result["message"]
