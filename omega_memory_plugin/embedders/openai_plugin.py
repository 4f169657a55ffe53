"""Registers the OpenAI-compatible embedder for names ``openai:<model>``.

The server and key come from the settings: ``OMEGA_OPENAI_BASE_URL`` (default OpenAI's) and
``OMEGA_OPENAI_API_KEY`` (or ``OPENAI_API_KEY``). Kept apart from the client so that httpx, the
``openai`` extra, is imported only when such a name is asked for.
"""

from __future__ import annotations

from ..embeddings import Embedder
from ..hookspecs import hookimpl
from ..settings import Settings


@hookimpl
def omega_memory_embedder(name: str, settings: Settings) -> Embedder | None:
    kind, _, model = name.partition(":")
    if kind != "openai":
        return None
    from .openai_compatible import OpenAICompatibleEmbedder

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return OpenAICompatibleEmbedder(model, base_url=settings.openai_base_url, api_key=key)
