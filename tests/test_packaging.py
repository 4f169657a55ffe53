"""The packages as users install them: built wheels, each adapter in a fresh virtual environment
with only the core's wheel beside it (issue 11). Slow (it installs from the package index, or
pip's cache), so each environment is built once per session."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIP = ["-m", "pip", "--disable-pip-version-check", "--quiet"]


def run(*arguments: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run([str(a) for a in arguments], cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    for project in (ROOT, *(ROOT / "adapters" / name for name in ("langchain", "langgraph", "llama_index"))):
        run(sys.executable, *PIP, "wheel", "--no-deps", "--wheel-dir", out, project)
    built = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(built) == {
        "omega_memory_plugin",
        "langchain_omega_memory",
        "langgraph_omega_memory",
        "llama_index_vector_stores_omega_memory",
    }
    return built


def fresh_environment(where: Path, *wheels: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    run(python, *PIP, "install", *wheels)
    return python


def test_the_core_wheel_holds_the_library_its_license_and_its_extras(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["omega_memory_plugin"]) as wheel:
        names = wheel.namelist()
        metadata = Parser().parsestr(wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert "omega_memory_plugin/memory.py" in names and "omega_memory_plugin/py.typed" in names
    assert "omega_memory_plugin/testing/log_conformance.py" in names  # the conformance suites ship
    assert not [n for n in names if "/testing/servers/" in n]  # the test servers' builders do not
    assert any(n.endswith("licenses/LICENSE") for n in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert {"mongo", "qdrant", "openai", "testing", "all"} <= set(metadata.get_all("Provides-Extra") or [])
    required = metadata.get_all("Requires-Dist") or []
    assert not [r for r in required if r.startswith(("pymongo", "qdrant-client")) and "extra ==" not in r]
    assert "Typing :: Typed" in (metadata.get_all("Classifier") or [])


def test_the_langchain_adapter_installs_alone_beside_the_core_wheel(wheels: dict[str, Path], tmp_path: Path) -> None:
    python = fresh_environment(tmp_path / "venv", wheels["omega_memory_plugin"], wheels["langchain_omega_memory"])
    script = textwrap.dedent(
        """
        from langchain_omega_memory import OmegaHashEmbeddings, OmegaMemoryVectorStore
        from omega_memory_plugin import Memory

        with Memory("./m") as memory:
            store = OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(64), namespace="u")
            store.add_texts(["likes green tea", "runs on Sundays"], ids=["tea", "run"])
            print(store.similarity_search("green tea", k=1)[0].id)
        """
    )
    assert run(python, "-c", script, cwd=tmp_path).strip() == "tea"


def test_the_llama_index_adapter_installs_alone_beside_the_core_wheel(wheels: dict[str, Path], tmp_path: Path) -> None:
    python = fresh_environment(
        tmp_path / "venv", wheels["omega_memory_plugin"], wheels["llama_index_vector_stores_omega_memory"]
    )
    script = textwrap.dedent(
        """
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.vector_stores.omega_memory import OmegaHashEmbedding, OmegaMemoryVectorStore
        from omega_memory_plugin import Memory

        with Memory("./m") as memory:
            store = OmegaMemoryVectorStore(memory, namespace="u")
            index = VectorStoreIndex.from_documents(
                [Document(text="Ada likes green tea"), Document(text="Bob runs on Sundays")],
                storage_context=StorageContext.from_defaults(vector_store=store), embed_model=OmegaHashEmbedding(64),
            )
            print(index.as_retriever(similarity_top_k=1).retrieve("green tea")[0].get_content())
        """
    )
    assert run(python, "-c", script, cwd=tmp_path).strip() == "Ada likes green tea"


def test_the_langgraph_adapter_installs_alone_beside_the_core_wheel(wheels: dict[str, Path], tmp_path: Path) -> None:
    python = fresh_environment(tmp_path / "venv", wheels["omega_memory_plugin"], wheels["langgraph_omega_memory"])
    script = textwrap.dedent(
        """
        from langgraph.checkpoint.base import empty_checkpoint
        from langgraph_omega_memory import OmegaSaver, OmegaStore

        with OmegaStore(path="./store") as store:
            store.put(("users", "ada"), "tea", {"text": "likes green tea"})
            print(store.get(("users", "ada"), "tea").value["text"])
        with OmegaSaver(path="./threads") as saver:
            config = {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}
            saved = saver.put(config, empty_checkpoint(), {"step": -1}, {})
            print(saver.get_tuple(saved).metadata["step"])
        """
    )
    assert run(python, "-c", script, cwd=tmp_path).split() == ["likes", "green", "tea", "-1"]
