"""Registers the model embedders by name: ``openai:<model>``, ``fastembed:<model>`` and
``sentence-transformers:<model>``.

Each is configured from the settings (``OMEGA_OPENAI_*``, ``OMEGA_FASTEMBED_*``,
``OMEGA_SENTENCE_TRANSFORMERS_DEVICE``) and imported only when such a name is asked for, so that
its extra (httpx, fastembed, sentence-transformers) is needed only by those who use it.
"""

from __future__ import annotations

from collections.abc import Callable

from ..embeddings import Embedder
from ..hookspecs import hookimpl
from ..settings import Settings


def _openai(model: str, settings: Settings) -> Embedder:
    from .openai_compatible import OpenAICompatibleEmbedder

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return OpenAICompatibleEmbedder(model, base_url=settings.openai_base_url, api_key=key)


def _fastembed(model: str, settings: Settings) -> Embedder:
    from .fastembed_embedder import FastEmbedEmbedder

    return FastEmbedEmbedder(
        model, cache_dir=settings.fastembed_cache_dir, local_files_only=settings.fastembed_local_files_only
    )


def _sentence_transformers(model: str, settings: Settings) -> Embedder:
    from .sentence_transformers_embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(model, device=settings.sentence_transformers_device)


BUILDERS: dict[str, Callable[[str, Settings], Embedder]] = {
    "openai": _openai,
    "fastembed": _fastembed,
    "sentence-transformers": _sentence_transformers,
}


@hookimpl
def omega_memory_embedder(name: str, settings: Settings) -> Embedder | None:
    kind, _, model = name.partition(":")
    build = BUILDERS.get(kind)
    return build(model, settings) if build is not None else None
