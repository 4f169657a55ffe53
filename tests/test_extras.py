"""The embedded default needs no optional dependency, and a backend whose extra is missing says
which extra to install (issue 11).

Each case runs in a fresh interpreter in which PyMongo (with its ``bson``), qdrant-client and
httpx cannot be imported (``sys.modules[name] = None`` makes ``import name`` raise ImportError), as
after ``pip install omega-memory-plugin`` without extras.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WITHOUT_EXTRAS = """
import sys
for name in ("pymongo", "bson", "motor", "qdrant_client", "grpc", "httpx"):
    sys.modules[name] = None
"""


def run_without_extras(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = WITHOUT_EXTRAS + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_embedded_default_runs_without_any_extra(tmp_path: Path) -> None:
    result = run_without_extras(
        """
        from omega_memory_plugin import Memory
        from omega_memory_plugin.cli import main

        with Memory("./m", embedder="hash:64") as memory:
            memory.upsert("Ada prefers green tea", id="pref-1", namespace="ada")
            assert memory.search(text="green tea", namespace="ada")[0].id == "pref-1"
            memory.rebuild()
        main(["--path", "./m", "stats"])
        print("ok")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("ok")


@pytest.mark.parametrize(
    ("arguments", "extra"),
    [
        ('log_url="mongodb://127.0.0.1:1/x"', "mongo"),
        ('log_url="mongodb+srv://cluster.example.invalid/x"', "mongo"),
        ('index_url="http://127.0.0.1:1"', "qdrant"),
        ('index_url="qdrant-local://:memory:"', "qdrant"),
        ('embedder="openai:text-embedding-3-small"', "openai"),
    ],
)
def test_a_backend_without_its_extra_names_the_extra(tmp_path: Path, arguments: str, extra: str) -> None:
    result = run_without_extras(
        f"""
        from omega_memory_plugin import Memory, MissingExtraError, UnsupportedBackendError

        try:
            Memory("./m", {arguments})
        except MissingExtraError as exc:
            assert isinstance(exc, UnsupportedBackendError) and isinstance(exc, ImportError)
            print(exc)
        else:
            raise SystemExit("no error")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert f"pip install 'omega-memory-plugin[{extra}]'" in message
    assert len(message) < 200 and "Traceback" not in result.stderr


def test_a_memory_of_a_model_whose_extra_is_missing_opens_and_says_so_when_it_embeds(tmp_path: Path) -> None:
    result = run_without_extras(
        """
        from omega_memory_plugin import Memory, MissingExtraError

        with Memory("./m") as memory:
            memory.upsert("Ada drinks tea", id="t", vectors=[1.0, 0.0], embedding_model="openai:text-embedding-3-small")
        with Memory("./m") as memory:  # opens: reading needs no embedder
            assert memory.get("t")[0].text == "Ada drinks tea"
            try:
                memory.search(text="tea")
            except MissingExtraError as exc:
                print(exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'omega-memory-plugin[openai]'" in result.stdout
