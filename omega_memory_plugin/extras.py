"""Optional dependencies: the embedded default (SQLite log, Qdrant Edge index) needs none of them.

A backend that needs one asks for it here when it is first used, so that a missing package is a
:class:`~omega_memory_plugin.errors.MissingExtraError` naming the extra to install, not an
``ImportError`` from deep inside, and so that an embedded open never imports them at all.

Example::

    >>> require("pymongo", extra="mongo", needed_by="the MongoDB event log")  # doctest: +SKIP
    MissingExtraError: the MongoDB event log needs pymongo, which is not installed:
    pip install 'omega-memory-plugin[mongo]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError

DISTRIBUTION = "omega-memory-plugin"


def require(module: str, *, extra: str, needed_by: str) -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` saying which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{needed_by} needs {module}, which is not installed: pip install '{DISTRIBUTION}[{extra}]'"
        ) from exc
