"""Checks applied once, at the facade, before an event is built.

Everything past this point (log, projector, index) trusts what it receives, so each check lives
here and nowhere else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidIdError, InvalidMetadataError, InvalidTextError, InvalidVectorError

MAX_ID_LENGTH = 512


def check_id(memory_id: object) -> str:
    if not isinstance(memory_id, str) or not memory_id:
        raise InvalidIdError(f"memory id must be a non-empty string, got {memory_id!r}")
    if len(memory_id) > MAX_ID_LENGTH:
        raise InvalidIdError(f"memory id is {len(memory_id)} characters; the limit is {MAX_ID_LENGTH}")
    return memory_id


def check_namespace(namespace: object) -> str:
    if not isinstance(namespace, str) or not namespace:
        raise InvalidIdError(f"namespace must be a non-empty string, got {namespace!r}")
    return namespace


def check_text(text: object, max_bytes: int) -> str:
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InvalidTextError("text is empty; a memory needs some text to store")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise InvalidTextError(
            f"text is {size} bytes; the limit is {max_bytes} (raise OMEGA_MAX_TEXT_BYTES or split it)"
        )
    return text


def check_metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a dict, got {type(metadata).__name__}")
    _check_keys(metadata, "metadata")
    try:
        # allow_nan=False: NaN is not JSON and would not round-trip through every backend.
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidMetadataError(f"metadata is not JSON-serialisable: {exc}") from exc
    return dict(metadata)


def _check_keys(value: object, where: str) -> None:
    # JSON would silently turn a key 1 into "1", and the memory would not come back as written.
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidMetadataError(f"{where} keys must be strings, got {key!r}")
            _check_keys(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_keys(item, where)


def check_vector(name: str, values: object, dimension: int | None) -> np.ndarray:
    """Return the vector as float32, or raise naming what is wrong with it."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise InvalidVectorError(f"vector {name!r} must be a list of numbers, got {type(values).__name__}")
    try:
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported below
            array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(f"vector {name!r} must contain only numbers: {exc}") from exc
    if array.ndim != 1 or array.size == 0:
        raise InvalidVectorError(f"vector {name!r} must be a flat, non-empty list of numbers")
    if dimension is not None and array.size != dimension:
        raise InvalidVectorError(
            f"vector {name!r} has dimension {array.size}, but the collection stores dimension {dimension}"
        )
    if not np.isfinite(array).all():
        bad = next(i for i, v in enumerate(array.tolist()) if not math.isfinite(v))
        raise InvalidVectorError(f"vector {name!r} has a non-finite value (NaN or inf) at index {bad}")
    return array
