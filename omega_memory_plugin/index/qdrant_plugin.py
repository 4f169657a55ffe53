"""Registers the qdrant-client index for ``http(s)://`` and ``qdrant-local://`` URLs.

Kept apart from :mod:`.qdrant` so that importing qdrant-client (about a second: it pulls in grpc)
is paid only by memories that use a Qdrant server, not by every embedded open, and so that it can
be an optional dependency (the ``qdrant`` extra).
"""

from __future__ import annotations

from ..extras import require
from ..hookspecs import hookimpl
from ..settings import Settings
from ..urls import scheme, url_path
from .base import Projection


@hookimpl
def omega_memory_projection(url: str, settings: Settings) -> Projection | None:
    kind = scheme(url)
    if kind not in ("http", "https", "qdrant-local"):
        return None
    require("qdrant_client", extra="qdrant", needed_by="a Qdrant server index")
    from qdrant_client import AsyncQdrantClient

    from .qdrant import QdrantProjection

    if kind == "qdrant-local":
        location = url.split("://", 1)[1]
        memory = location == ":memory:"
        client = AsyncQdrantClient(location=":memory:") if memory else AsyncQdrantClient(path=str(url_path(url)))
    else:
        client = AsyncQdrantClient(url=url, api_key=settings.qdrant_api_key)
    return QdrantProjection(
        client, prefix=settings.qdrant_prefix, owns_client=True, lease_seconds=settings.qdrant_lease_seconds
    )
