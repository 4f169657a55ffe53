"""Reading the path out of the URLs that select backends."""

from __future__ import annotations

from pathlib import Path


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def url_path(url: str) -> Path:
    """``scheme:///relative`` -> ``relative``; ``scheme:////absolute`` -> ``/absolute``.

    (The SQLAlchemy convention: three slashes end the authority, a fourth starts an absolute path.)
    """
    rest = url.split("://", 1)[1]
    return Path(rest[1:] if rest.startswith("/") else rest)
