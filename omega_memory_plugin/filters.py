"""Metadata filters: the dict syntax users write, parsed once into a small tree.

The syntax is the one LangChain and MongoDB users know::

    {"topic": "tea"}                                   # equality
    {"year": {"$gte": 2020, "$lt": 2025}}              # ranges (numbers)
    {"tag": {"$in": ["a", "b"]}, "lang": {"$ne": "fr"}}
    {"$or": [{"topic": "tea"}, {"topic": "coffee"}]}   # $and / $or / $not
    {"author.name": "ada"}                             # dotted keys reach nested objects
    {"summary": {"$exists": True}}
    {"tags": {"$exists": False}}                       # missing, null or [] (Qdrant's IsEmpty)
    {"title": {"$text": "green t"}}                    # substring of a string value
    {"title": {"$itext": "GREEN T"}}                   # the same, ignoring case
    {"tags": {"$contains": "hot"}}                     # Python's `in`: a list holding it, a string holding it
    {"title": {"$empty": True}}                        # missing, null, "" or []

Every index backend translates the same tree, so a filter means the same thing everywhere. Where a
stored value is a list, a condition matches if any element matches (as in Qdrant and MongoDB).
``$ne`` and ``$nin`` also match memories that lack the key.

``$exists: False`` is Qdrant's *is empty*: the key is missing, null, or an empty list (an empty
string is a value, so it exists). ``$text`` is a case-sensitive substring test on string values
(Qdrant's ``match: {substring}``, the same on every index whether or not a text index exists);
numbers and other non-strings never match it. ``$itext`` is the same test with both sides
lower-cased (``str.lower``, as LlamaIndex's ``TEXT_MATCH_INSENSITIVE`` defines it); indexes match it
against a lower-cased copy of the metadata's strings (``payload.METADATA_LOWER``).
``$contains`` is Python's ``in`` as LlamaIndex's ``CONTAINS`` uses it: a list value holding an
element equal to the operand, a string value (not in a list) holding it as a substring, or a value
equal to it. ``$empty: true`` matches a missing key, null, ``""`` and ``[]`` (``$exists: false``
without ``""``). Indexes tell a string from a list by a copy of the metadata's strings that are
not in lists (``payload.METADATA_STRINGS``). Word-based full-text search is not a filter here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from .errors import FilterError

CompareOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists", "text", "itext", "contains", "empty"]
_OPERATORS: dict[str, CompareOp] = {
    "$eq": "eq",
    "$ne": "ne",
    "$gt": "gt",
    "$gte": "gte",
    "$lt": "lt",
    "$lte": "lte",
    "$in": "in",
    "$nin": "nin",
    "$exists": "exists",
    "$text": "text",
    "$itext": "itext",
    "$contains": "contains",
    "$empty": "empty",
}
_RANGE_OPS = ("gt", "gte", "lt", "lte")
Scalar: TypeAlias = str | int | float | bool


@dataclass(frozen=True, slots=True)
class Compare:
    key: str
    op: CompareOp
    value: Any


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class Unexpired:
    """Memories that have not expired at ``now`` (seconds since the epoch): no expiry, or a later
    one. Never written by users: the facade adds it to every read (:mod:`.expiry`)."""

    now: float


Node: TypeAlias = Compare | And | Or | Not | Unexpired


def parse_filter(spec: Mapping[str, Any] | None) -> Node | None:
    """Parse a filter dict; raise :class:`FilterError` naming the first problem found."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise FilterError(f"a filter must be a dict, got {type(spec).__name__}")
    if not spec:
        return None
    return _parse_object(spec)


def _parse_object(spec: Mapping[str, Any]) -> Node:
    if not isinstance(spec, Mapping) or not spec:
        raise FilterError(f"expected a non-empty filter dict, got {spec!r}")
    nodes = [_parse_entry(key, value) for key, value in spec.items()]
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _parse_entry(key: str, value: Any) -> Node:
    if key in ("$and", "$or"):
        if not isinstance(value, list) or not value:
            raise FilterError(f"{key} takes a non-empty list of filters, got {value!r}")
        items = tuple(_parse_object(item) for item in value)
        return And(items) if key == "$and" else Or(items)
    if key == "$not":
        return Not(_parse_object(value))
    if key.startswith("$"):
        raise FilterError(f"unknown filter operator {key!r}; supported: $and, $or, $not, {', '.join(_OPERATORS)}")
    if not key or '"' in key or "\\" in key:
        raise FilterError(f"a filter key must be a non-empty metadata key without '\"' or '\\', got {key!r}")
    if isinstance(value, Mapping):
        if not value or not all(isinstance(k, str) and k.startswith("$") for k in value):
            raise FilterError(
                f"filter on {key!r}: a dict value must hold operators such as $eq or $in; "
                "to match a nested field use a dotted key like 'parent.child'"
            )
        nodes = [_compare(key, op, operand) for op, operand in value.items()]
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))
    return _compare(key, "$eq", value)


def _compare(key: str, operator: str, operand: Any) -> Compare:
    op = _OPERATORS.get(operator)
    if op is None:
        raise FilterError(f"unknown filter operator {operator!r} on {key!r}; supported: {', '.join(_OPERATORS)}")
    if op in ("eq", "ne", "contains"):
        _require_scalar(key, operator, operand)
    elif op in _RANGE_OPS:
        if isinstance(operand, bool) or not isinstance(operand, (int, float)):
            raise FilterError(f"{operator} on {key!r} needs a number, got {operand!r}")
    elif op in ("in", "nin"):
        if not isinstance(operand, (list, tuple)) or not operand:
            raise FilterError(f"{operator} on {key!r} needs a non-empty list, got {operand!r}")
        for item in operand:
            _require_scalar(key, operator, item)
        operand = tuple(operand)
    elif op == "text" or op == "itext":
        # An empty substring would match every string and no other value: surely not what was meant.
        if not isinstance(operand, str) or not operand:
            raise FilterError(f"{operator} on {key!r} needs a non-empty string, got {operand!r}")
        if op == "itext":
            operand = operand.lower()
    elif not isinstance(operand, bool):
        raise FilterError(f"{operator} on {key!r} needs true or false, got {operand!r}")
    return Compare(key, op, operand)


def _require_scalar(key: str, operator: str, operand: Any) -> None:
    if not isinstance(operand, (str, int, float)):
        raise FilterError(f"{operator} on {key!r} needs a string, number or boolean, got {operand!r}")


# -- evaluation in Python (the in-memory index, and tests that compare backends) ---------------

_MISSING = object()


def lookup(metadata: Mapping[str, Any], key: str) -> Any:
    value: Any = metadata
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def same_value(stored: Any, wanted: Scalar) -> bool:
    """Equality that keeps booleans apart from numbers, as Qdrant does."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(stored, (int, float)) and isinstance(wanted, (int, float)):
        return float(stored) == float(wanted)
    return type(stored) is type(wanted) and stored == wanted


def _in_range(stored: Any, op: str, bound: float) -> bool:
    if isinstance(stored, bool) or not isinstance(stored, (int, float)):
        return False
    return {"gt": stored > bound, "gte": stored >= bound, "lt": stored < bound, "lte": stored <= bound}[op]


def matches(node: Node | None, metadata: Mapping[str, Any], expires_at: float | None = None) -> bool:
    """Whether a memory (its metadata, and when it expires) satisfies the filter tree."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(item, metadata, expires_at) for item in node.items)
    if isinstance(node, Or):
        return any(matches(item, metadata, expires_at) for item in node.items)
    if isinstance(node, Not):
        return not matches(node.item, metadata, expires_at)
    if isinstance(node, Unexpired):
        return expires_at is None or expires_at > node.now
    stored = lookup(metadata, node.key)
    values = stored if isinstance(stored, list) else [stored]
    if node.op == "exists":
        present = stored is not _MISSING and stored is not None and stored != []
        return present == bool(node.value)
    if node.op == "empty":
        nothing = stored is _MISSING or stored is None or stored == [] or stored == ""
        return nothing == bool(node.value)
    if node.op == "contains":
        if isinstance(stored, list):
            return any(same_value(v, node.value) for v in stored)
        if isinstance(stored, str) and isinstance(node.value, str):
            return node.value in stored
        return stored is not _MISSING and same_value(stored, node.value)
    if node.op == "eq":
        return any(same_value(v, node.value) for v in values)
    if node.op == "ne":
        return not any(same_value(v, node.value) for v in values)
    if node.op == "in":
        return any(same_value(v, w) for v in values for w in node.value)
    if node.op == "nin":
        return not any(same_value(v, w) for v in values for w in node.value)
    if node.op == "text":
        return any(isinstance(v, str) and node.value in v for v in values)
    if node.op == "itext":
        return any(isinstance(v, str) and node.value in v.lower() for v in values)
    return any(_in_range(v, node.op, node.value) for v in values)
