"""Canonical input: every value that can reach the log is checked here, once, at the facade.

Texts, ids, namespaces, collections, metadata keys and values, vectors and versions all pass
through these functions before an event is built (the Memory, its transactions and writers, the
LangChain and LlamaIndex adapters and the OMEGA provider all call them; none keeps a copy of its
own). Everything past this point (log, projector, index) trusts what it receives, so a value these
functions accept must be storable by every log and applicable by every index, and must come back
exactly as written:

* strings are valid Unicode that UTF-8 can encode (a lone surrogate such as ``"\\ud800"`` cannot be
  stored by SQLite, MongoDB or Qdrant, and would make every later replay fail);
* numbers are finite; integers fit in 64 bits (BSON and Qdrant payloads store int64 exactly,
  anything larger would come back as a float); ``True`` is never accepted as a number;
* metadata is JSON-shaped (``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``,
  ``bool``, ``None``), nested at most :data:`MAX_DEPTH` levels. Tuples are refused rather than
  silently turned into lists, so what is read back equals what was written.

Each error is an :class:`~omega_memory_plugin.errors.InvalidInputError` subclass that names the
field and says what to do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InvalidIdError, InvalidInputError, InvalidMetadataError, InvalidTextError, InvalidVectorError

MAX_ID_LENGTH = 512
MAX_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_string(value: object, field: str, error: type[InvalidInputError] = InvalidInputError) -> str:
    """``value`` if it is a ``str`` that UTF-8 can encode; else raise ``error`` naming ``field``."""
    if not isinstance(value, str):
        raise error(f"{field} must be a string, got {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error(
                f"{field} is not valid Unicode: {value[exc.start : exc.end]!a} at index {exc.start} is a lone "
                "surrogate, which no log or index can store; decode the source text with errors='replace' "
                "or fix its encoding"
            ) from None
    return value


def check_id(memory_id: object, field: str = "memory id") -> str:
    if not isinstance(memory_id, str):
        raise InvalidIdError(f"{field} must be a non-empty string, got {memory_id!r}")
    check_string(memory_id, field, InvalidIdError)
    if not memory_id:
        raise InvalidIdError(f"{field} must be a non-empty string, got ''")
    if len(memory_id) > MAX_ID_LENGTH:
        raise InvalidIdError(f"{field} is {len(memory_id)} characters; the limit is {MAX_ID_LENGTH}")
    return memory_id


def check_namespace(namespace: object) -> str:
    return check_id(namespace, "namespace")


def check_subject(subject: object) -> str:
    """Whose data key seals a memory (``upsert(..., subject=...)``, ``forget(subject)``): an id."""
    return check_id(subject, "subject")


def check_collection(name: object) -> str:
    if not isinstance(name, str) or not _COLLECTION_NAME.match(name):
        raise InvalidIdError(
            f"collection name must be 1-64 letters, digits, '_' or '-' (starting with a letter or digit), got {name!r}"
        )
    return name


def check_text(text: object, max_bytes: int) -> str:
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a string, got {type(text).__name__}")
    check_string(text, "text", InvalidTextError)
    if not text.strip():
        raise InvalidTextError("text is empty; a memory needs some text to store")
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > max_bytes:
        raise InvalidTextError(
            f"text is {size} bytes; the limit is {max_bytes} (raise OMEGA_MAX_TEXT_BYTES or split it)"
        )
    return text


def check_version(value: object, field: str = "expected_version") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInputError(f"{field} must be an integer >= 0 (0: the memory must not exist), got {value!r}")
    return value


def check_count(value: object, field: str) -> int:
    """A positive integer argument such as ``limit`` (``True`` is not 1)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(f"{field} must be a positive integer, got {value!r}")
    return value


def check_metadata(metadata: object) -> dict[str, Any]:
    """A copy of ``metadata`` if it is JSON-shaped and storable everywhere (see the module doc)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidMetadataError(f"metadata must be a dict, got {type(metadata).__name__}")
    _check_value(metadata, "metadata", 0)
    return dict(metadata)


def check_metadata_key(key: object, where: str) -> str:
    # A dot would make a key unreachable by filters (which address nested keys as "a.b"), and
    # MongoDB refuses keys that start with "$" or hold NUL: refused for every backend alike.
    if not isinstance(key, str):
        raise InvalidMetadataError(f"{where} keys must be strings, got {key!r}")
    check_string(key, f"{where} key {key!r}", InvalidMetadataError)
    # A '"' or '\\' cannot be written in a Qdrant JSON path, even quoted: such a key could never be filtered.
    if not key or "." in key or key.startswith("$") or any(c in key for c in '\x00"\\'):
        raise InvalidMetadataError(
            f"{where} key {key!r} is not allowed: keys must be non-empty, without '.', '\"', '\\', NUL or a "
            "leading '$' (filters address nested keys as 'parent.child'); rename it"
        )
    return key


def _check_value(value: Any, where: str, depth: int) -> None:
    # bool before int (it is one); subclasses such as numpy's float64 or an IntEnum are accepted
    # as the plain value they equal.
    if isinstance(value, str):
        if not value.isascii():
            check_string(value, where, InvalidMetadataError)
    elif value is None or isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise InvalidMetadataError(
                f"{where} is {value}, outside the 64-bit integer range the log stores exactly; store it as a string"
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidMetadataError(
                f"{where} is {value}; metadata numbers must be finite (NaN and inf are not JSON)"
            )
    elif depth >= MAX_DEPTH:
        raise InvalidMetadataError(f"{where} is nested deeper than {MAX_DEPTH} levels; flatten it")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_metadata_key(key, where)
            _check_value(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]", depth + 1)
    else:
        hint = " (use a list)" if isinstance(value, tuple | set) else ""
        raise InvalidMetadataError(
            f"{where} is a {type(value).__name__}, which is not JSON{hint}; metadata values are str, int, float, "
            "bool, None, lists and dicts"
        )


def check_vector_sizes(sizes: Mapping[str, object]) -> dict[str, int]:
    """A collection's named vectors (name -> dimension): at least one, each dimension a positive integer."""
    if not sizes or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in sizes.values()):
        raise InvalidVectorError(f"vector sizes must be positive integers, got {dict(sizes)!r}")
    return {check_vector_name(name): size for name, size in sizes.items()}  # type: ignore[misc]


def check_vector(name: str, values: object, dimension: int | None) -> np.ndarray:
    """Return the vector as float32, or raise naming what is wrong with it."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "fiu":
            raise InvalidVectorError(f"vector {name!r} must hold numbers, got an array of {values.dtype}")
    elif isinstance(values, Sequence) and not isinstance(values, str | bytes):
        # One pass over the distinct element types (cheap): numpy would read "1.5" and True as numbers.
        for kind in set(map(type, values)):
            if kind is bool or kind is np.bool_ or not issubclass(kind, int | float | np.integer | np.floating):
                bad = next(v for v in values if type(v) is kind)
                if isinstance(bad, Sequence | np.ndarray) and not isinstance(bad, str | bytes):
                    raise InvalidVectorError(
                        f"vector {name!r} must be a flat list of numbers, got a nested {kind.__name__}"
                    )
                raise InvalidVectorError(f"vector {name!r} must contain only numbers, got {bad!r}")
    else:
        raise InvalidVectorError(f"vector {name!r} must be a list of numbers, got {type(values).__name__}")
    if isinstance(values, np.ndarray) and values.dtype == np.float32:
        array = values  # a query's vector, most often: nothing to convert
    else:
        try:
            with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, reported below
                array = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidVectorError(f"vector {name!r} must be a flat list of numbers: {exc}") from exc
    if array.ndim != 1 or array.size == 0:
        raise InvalidVectorError(f"vector {name!r} must be a flat, non-empty list of numbers")
    if dimension is not None and array.size != dimension:
        raise InvalidVectorError(
            f"vector {name!r} has dimension {array.size}, but the collection stores dimension {dimension}"
        )
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InvalidVectorError(
            f"vector {name!r} has a non-finite value (NaN or inf, or beyond float32's range) at index {bad}"
        )
    return array


def check_vector_name(name: object) -> str:
    check_string(name, "vector name", InvalidVectorError)
    if not name:
        raise InvalidVectorError("vector names must be non-empty strings")
    if name.startswith("_"):  # type: ignore[attr-defined]
        raise InvalidVectorError(
            f"vector name {name!r} starts with '_', which is kept for the index's own vectors (its BM25 "
            "sparse vector is '_bm25'); rename it"
        )
    return name  # type: ignore[return-value]


def check_fusion_weights(weights: object, mode: str, fusion: str) -> tuple[float, float]:
    """``(dense, sparse)`` weights of a hybrid RRF fusion: two finite numbers, 0 or more, not both 0."""
    if mode != "hybrid" or fusion != "rrf":
        raise InvalidInputError("weights=(dense, sparse) go with mode='hybrid' and fusion='rrf'")
    if (
        not isinstance(weights, Sequence)
        or len(weights) != 2
        or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w >= 0 for w in weights
        )
        or not any(weights)
    ):
        raise InvalidInputError(
            f"weights is a pair (dense, sparse) of numbers, 0 or more and not both 0, got {weights!r}"
        )
    return (float(weights[0]), float(weights[1]))
