"""JSON documents as filterable metadata, and LangGraph's filters translated onto them.

LangGraph stores JSON values (a store item's value, a checkpoint's metadata) and filters them the
way ``InMemoryStore`` and ``InMemorySaver`` do: ``{"key": value}`` is Python equality on the
document's top-level key, a nested dict matches as containment, and ``$eq``, ``$ne``, ``$gt``,
``$gte``, ``$lt`` and ``$lte`` compare. omega's metadata and filters differ in three ways, which the
*filterable copy* made here takes care of:

* omega refuses keys with ``.``, a leading ``$``, NUL or nothing (filters address nested keys as
  ``a.b``): keys are percent-escaped (:func:`escape_key`), a bijection, so ``{"a.b": 1}`` stays
  reachable as one key;
* omega matches a condition against any element of a stored list (as Qdrant does), LangGraph
  compares the list as a whole: a list is stored as ``{"%L": "<canonical JSON>"}``, so only an
  equal list matches it (``%L`` is never the escape of a key);
* omega stores 64-bit integers and finite floats only: larger integers become floats and
  non-finite floats are left out of the copy (they equal nothing, as ``nan`` does in Python).

The copy is for filtering only: the document itself is kept exactly elsewhere in the record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from omega_memory_plugin.errors import FilterError, InvalidInputError, UnsupportedFilterError

LIST = "%L"  # the key holding a list's canonical JSON in the copy
INT64 = 2**63
RANGES = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = ("$eq", "$ne", *RANGES)


def escape_key(key: str) -> str:
    """A key as omega metadata can hold it: ``%``, ``.``, ``$`` and NUL percent-encoded, and the
    empty key as a lone ``%`` (which no other key becomes)."""
    if not key:
        return "%"
    return key.replace("%", "%25").replace(".", "%2E").replace("$", "%24").replace("\x00", "%00")


def filter_copy(document: Mapping[str, Any]) -> dict[str, Any]:
    """The filterable copy of a JSON document (see the module doc)."""
    copy: dict[str, Any] = {}
    for key, value in document.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"keys of a stored value must be strings, got {key!r}; convert it with str()")
        stored = _copy_value(value)
        if stored is not _SKIP:
            copy[escape_key(key)] = stored
    return copy


_SKIP = object()


def _copy_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return filter_copy(value)
    if isinstance(value, list | tuple):
        return {LIST: canonical_json(value)}
    if isinstance(value, float) and not math.isfinite(value):
        return _SKIP
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        return float(value)
    if value is None or isinstance(value, str | int | float):
        return value
    return _SKIP  # not JSON: nothing equals it in a filter


def canonical_json(value: Any) -> str:
    """JSON in which values Python finds equal are one string: dict keys sorted, integral floats
    written as integers."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def translate(spec: Mapping[str, Any] | None, prefix: str) -> list[dict[str, Any]]:
    """A LangGraph filter on a document as omega filter conditions (to be and-ed) on its copy
    stored at metadata key ``prefix``. Raises :class:`FilterError` naming what cannot be asked."""
    if not spec:
        return []
    if not isinstance(spec, Mapping):
        raise FilterError(f"a filter is a dict of keys to values or operators, got {spec!r}")
    conditions: list[dict[str, Any]] = []
    for key, wanted in spec.items():
        if not isinstance(key, str):
            raise FilterError(f"filter keys are strings, got {key!r}")
        path = f"{prefix}.{escape_key(key)}"
        if isinstance(wanted, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in wanted):
            for operator, operand in wanted.items():
                conditions.append(_operator(path, operator, operand))
        elif isinstance(wanted, Mapping):
            if not wanted:
                raise UnsupportedFilterError(
                    f"filter on {key!r}: an empty dict would match any dict value; filter on one of its keys"
                )
            if any(v is None for v in wanted.values()):
                raise UnsupportedFilterError(
                    f"filter on {key!r}: None inside a nested dict cannot be told from a missing key here; "
                    "use {'$eq': None} on a top-level key"
                )
            conditions += translate(wanted, path)
        else:
            conditions.append(_equal(path, wanted, "$eq"))
    return conditions


def _operator(path: str, operator: Any, operand: Any) -> dict[str, Any]:
    if operator in ("$eq", "$ne"):
        return _equal(path, operand, operator)
    if operator in RANGES:
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise FilterError(f"{operator} on {path!r} compares numbers, got {operand!r}")
        return {path: {operator: operand}}
    raise FilterError(f"unknown filter operator {operator!r}; supported: {', '.join(OPERATORS)}")


def _equal(path: str, operand: Any, operator: str) -> dict[str, Any]:
    if operand is None:  # null or missing (value.get(key) is None)
        return {path: {"$exists": operator == "$ne"}}
    if isinstance(operand, list | tuple):
        return {f"{path}.{LIST}": {operator: canonical_json(operand)}}
    if isinstance(operand, Mapping):
        raise UnsupportedFilterError(
            f"{operator} with a dict operand on {path!r}: filter on its keys instead ({{'key': {{'child': value}}}})"
        )
    stored = _copy_value(operand)
    if stored is _SKIP:
        raise FilterError(f"{operator} on {path!r}: {operand!r} is not a JSON scalar")
    return {path: {operator: stored}}
