"""LlamaIndex ``MetadataFilters`` in omega's filter syntax (:mod:`omega_memory_plugin.filters`).

Each LlamaIndex operator maps to one the index evaluates itself, so a filter costs no
post-filtering and means the same on every backend:

==========================  ===============================================================
LlamaIndex                  omega (Qdrant)
==========================  ===============================================================
EQ, NE                      ``$eq``, ``$ne`` (``$ne`` also matches a missing key)
GT, GTE, LT, LTE            ``$gt`` ... (numbers only: a string bound raises)
IN, NIN                     ``$in``, ``$nin`` (a non-empty list)
ANY                         ``$in``: a list field holding any of the values
ALL                         ``$and`` of ``$eq``: a list field holding every value
CONTAINS                    ``$contains``: Python's ``in``, a list holding it or a string holding it
TEXT_MATCH                  ``$text``: case-sensitive substring of a string value
TEXT_MATCH_INSENSITIVE      ``$itext``: the same with both sides lower-cased
IS_EMPTY                    ``$empty``: missing, null, ``""`` or ``[]``
AND / OR / NOT              ``$and`` / ``$or`` / ``$not`` of ``$or`` (none of them match)
==========================  ===============================================================

Example::

    >>> from llama_index.core.vector_stores import MetadataFilter, MetadataFilters, FilterOperator
    >>> to_filter(MetadataFilters(filters=[MetadataFilter(key="year", value=2020, operator=FilterOperator.GTE)]))
    {'$and': [{'year': {'$gte': 2020}}]}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.vector_stores.types import FilterCondition, FilterOperator, MetadataFilter, MetadataFilters

from omega_memory_plugin.errors import FilterError
from omega_memory_plugin.filters import parse_filter

from .nodes import NODE_ID_KEY, REF_DOC_ID_KEY

Spec = dict[str, Any]


def _as_list(f: MetadataFilter) -> list[Any]:
    if not isinstance(f.value, list) or not f.value:
        raise FilterError(f"{f.operator.name} on {f.key!r} needs a non-empty list of values, got {f.value!r}")
    return f.value


_LEAVES: dict[FilterOperator, Callable[[MetadataFilter], Spec]] = {
    FilterOperator.EQ: lambda f: {f.key: {"$eq": f.value}},
    FilterOperator.NE: lambda f: {f.key: {"$ne": f.value}},
    FilterOperator.GT: lambda f: {f.key: {"$gt": f.value}},
    FilterOperator.GTE: lambda f: {f.key: {"$gte": f.value}},
    FilterOperator.LT: lambda f: {f.key: {"$lt": f.value}},
    FilterOperator.LTE: lambda f: {f.key: {"$lte": f.value}},
    FilterOperator.IN: lambda f: {f.key: {"$in": _as_list(f)}},
    FilterOperator.NIN: lambda f: {f.key: {"$nin": _as_list(f)}},
    FilterOperator.ANY: lambda f: {f.key: {"$in": _as_list(f)}},
    FilterOperator.ALL: lambda f: {"$and": [{f.key: {"$eq": v}} for v in _as_list(f)]},
    FilterOperator.CONTAINS: lambda f: {f.key: {"$contains": f.value}},
    FilterOperator.TEXT_MATCH: lambda f: {f.key: {"$text": f.value}},
    FilterOperator.TEXT_MATCH_INSENSITIVE: lambda f: {f.key: {"$itext": f.value}},
    FilterOperator.IS_EMPTY: lambda f: {f.key: {"$empty": True}},
}


def _leaf(f: MetadataFilter) -> Spec:
    build = _LEAVES.get(f.operator)
    if build is None:
        supported = ", ".join(op.name for op in _LEAVES)
        raise FilterError(
            f"filter operator {f.operator.name} (on {f.key!r}) is not supported by OmegaMemoryVectorStore; "
            f"supported: {supported}"
        )
    spec = build(f)
    try:
        parse_filter(spec)  # raises here, naming the LlamaIndex filter, rather than deep in a query
    except FilterError as exc:
        raise FilterError(f"{f.operator.name} filter on {f.key!r} with value {f.value!r}: {exc}") from exc
    return spec


def _node(filters: MetadataFilters) -> Spec | None:
    items = [spec for spec in (_item(f) for f in filters.filters) if spec is not None]
    if not items:
        return None  # an empty group constrains nothing, as in LlamaIndex's own stores
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return {"$and": items}
    if condition == FilterCondition.OR:
        return {"$or": items}
    if condition == FilterCondition.NOT:
        return {"$not": {"$or": items}}  # LlamaIndex's NOT: none of the filters match
    raise FilterError(f"filter condition {condition!r} is not supported; use AND, OR or NOT")


def _item(f: MetadataFilter | MetadataFilters) -> Spec | None:
    return _node(f) if isinstance(f, MetadataFilters) else _leaf(f)


def to_filter(filters: MetadataFilters | None) -> Spec | None:
    """Translate LlamaIndex filters; raise :class:`~omega_memory_plugin.errors.FilterError` naming
    the first filter the store cannot honour."""
    if filters is None:
        return None
    if not isinstance(filters, MetadataFilters):
        raise FilterError(f"filters must be MetadataFilters, got {type(filters).__name__}")
    return _node(filters)


def restricted(
    spec: Spec | None, *, node_ids: Sequence[str] | None = None, doc_ids: Sequence[str] | None = None
) -> Spec | None:
    """``spec`` narrowed to some node ids and/or documents (each given as a non-empty list)."""
    parts = [
        *([{NODE_ID_KEY: {"$in": list(node_ids)}}] if node_ids is not None else []),
        *([{REF_DOC_ID_KEY: {"$in": list(doc_ids)}}] if doc_ids is not None else []),
        *([spec] if spec is not None else []),
    ]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}
