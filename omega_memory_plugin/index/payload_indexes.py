"""Payload indexes for the metadata keys that filters use, created the first time a filter does.

Without one, Qdrant checks a metadata condition by reading each candidate point's payload: a
one-key filter over 10,000 points took 10 ms on Qdrant Edge, and 25 ms once payloads carried a
LlamaIndex node's 700 bytes; with an index on the key, 0.3 ms (benchmarks/README.md). Qdrant
advises indexing the fields one filters on, and a memory learns which those are when they are
used, so the index makes one per key on first use.

An index only makes a condition faster: Qdrant gives the same answer with or without it
(``tests/test_payload_indexes.py`` checks this against the reference evaluator for every index
kind on every key). For floats this holds on Edge only because the copy Edge filters on stores
each float as one Edge reads back unchanged (``edge._edge_float``): an index made at write time
saw the written float, one made later the float as read back, and about 1 in 9 differed. Values of another type than the index's are still found, by payload check.
Numbers never get an integer index: Qdrant's holds only integers, and a range or equality served
by it misses stored floats such as 4.5 (tried: four filter cases of the test then fail).
"""

from __future__ import annotations

from typing import Literal

from ..filters import And, Compare, Node, Not, Or

IndexKind = Literal["keyword", "float", "bool"]


def wanted_indexes(node: Node | None) -> dict[str, IndexKind]:
    """Metadata key -> the kind of index that serves the filter's conditions on it.

    Strings want a keyword index, numbers a float index (numbers are compared as ranges, so that
    2 equals 2.0, and a float index holds integers too), booleans the index's boolean facts.
    ``$exists`` and ``$text`` are served by no payload index. The first condition on a key decides.

    >>> from ..filters import parse_filter
    >>> wanted_indexes(parse_filter({"topic": "tea", "year": {"$gte": 2020}}))
    {'topic': 'keyword', 'year': 'float'}
    """
    wanted: dict[str, IndexKind] = {}
    _collect(node, wanted)
    return wanted


def _collect(node: Node | None, wanted: dict[str, IndexKind]) -> None:
    if node is None:
        return
    if isinstance(node, (And, Or)):
        for item in node.items:
            _collect(item, wanted)
    elif isinstance(node, Not):
        _collect(node.item, wanted)
    elif isinstance(node, Compare):
        kind = _kind(node)
        if kind is not None:
            wanted.setdefault(node.key, kind)


def _kind(node: Compare) -> IndexKind | None:
    if node.op in ("exists", "text", "itext", "contains", "empty"):
        return None
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, str) for v in values):
        return "keyword"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    return None  # a mix of types: no single index serves it
