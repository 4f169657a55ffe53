"""The embedders of model libraries: fastembed (the real library, offline: no model can be had here,
so its catalogue, its lazy loading and its failure to load are what is tested) and
sentence-transformers (not installed here: PyTorch; its missing extra, and the wrapper against the
interface the library documents)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omega_memory_plugin import EmbedderError, Memory, MissingExtraError, Settings
from omega_memory_plugin.embedders.fastembed_embedder import FastEmbedEmbedder
from omega_memory_plugin.embedders.sentence_transformers_embedder import SentenceTransformerEmbedder

BGE = "BAAI/bge-small-en-v1.5"


@pytest.fixture
def offline(tmp_path: Path) -> Settings:
    """fastembed reading an empty cache only: it never reaches the network."""
    return Settings(fastembed_cache_dir=tmp_path / "models", fastembed_local_files_only=True)


def test_fastembed_knows_its_models_without_loading_them(tmp_path: Path) -> None:
    embedder = FastEmbedEmbedder(BGE, cache_dir=tmp_path / "models", local_files_only=True)
    assert (embedder.name, embedder.dimension) == (f"fastembed:{BGE}", 384)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
    with pytest.raises(EmbedderError, match="fastembed has no text model 'no/such-model'; it has"):
        FastEmbedEmbedder("no/such-model")


def test_fastembed_without_its_model_says_how_to_provide_it_and_writes_nothing(
    tmp_path: Path, offline: Settings
) -> None:
    with Memory(tmp_path / "m", embedder=f"fastembed:{BGE}", settings=offline) as memory:
        assert memory.embedder is not None and memory.embedder.dimension == 384
        with pytest.raises(
            EmbedderError, match="cannot load fastembed model .*local_files_only.*OMEGA_FASTEMBED_CACHE_DIR"
        ):
            memory.upsert("Ada prefers green tea", id="tea")
        assert list(memory.events()) == []
        vector = np.random.default_rng(1).standard_normal(384).astype(np.float32)  # made by the model elsewhere
        memory.upsert("Ada prefers green tea", id="tea", vectors=vector, embedding_model=f"fastembed:{BGE}")
    with Memory(tmp_path / "m", settings=offline) as memory:  # finds the recorded model's embedder, lazily
        assert memory.embedder is not None and memory.embedder.name == f"fastembed:{BGE}"
        assert memory.search(text="green tea", mode="sparse")[0].id == "tea"
        with pytest.raises(EmbedderError, match="cannot load"):
            memory.search(text="green tea")


class Loaded:
    """A loaded model as sentence-transformers documents it: ``get_sentence_embedding_dimension()``
    and ``encode(sentences, batch_size=, convert_to_numpy=, normalize_embeddings=, show_progress_bar=)``."""

    def __init__(self, dimension: int = 8, wrong: bool = False) -> None:
        self.dimension, self.wrong, self.calls = dimension, wrong, []  # type: list[dict[str, Any]]

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    def encode(self, sentences: Sequence[str], **options: Any) -> np.ndarray:
        self.calls.append(options)
        rows = [np.random.default_rng(sum(map(ord, s))).standard_normal(self.dimension) for s in sentences]
        array = np.asarray(rows, dtype=np.float64)
        if options["normalize_embeddings"]:
            array /= np.linalg.norm(array, axis=1, keepdims=True)
        return array[:, :-1] if self.wrong else array


def test_sentence_transformers_without_the_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'omega-memory-plugin\[sentence-transformers\]'"):
        Memory(tmp_path / "m", embedder="sentence-transformers:all-MiniLM-L6-v2")


def test_a_loaded_sentence_transformer_is_an_embedder(tmp_path: Path) -> None:
    model = Loaded()
    embedder = SentenceTransformerEmbedder(model, name="tiny", batch_size=16)
    with Memory(tmp_path / "m", embedder=embedder) as memory:
        memory.upsert("Ada prefers green tea", id="tea")
        memory.upsert("Bob runs along the river", id="run")
        (hit, _) = memory.search(text="Bob runs along the river")
        assert (hit.id, hit.embedding_model) == ("run", "sentence-transformers:tiny")
        assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert model.calls[0] == {
        "batch_size": 16,
        "convert_to_numpy": True,
        "normalize_embeddings": True,
        "show_progress_bar": False,
    }
    with pytest.raises(EmbedderError, match="needs name="):
        SentenceTransformerEmbedder(Loaded())
    with pytest.raises(EmbedderError, match=r"shape \(1, 7\)"):
        SentenceTransformerEmbedder(Loaded(wrong=True), name="broken").embed(["x"])
