"""Translate a parsed filter into Qdrant's filter model.

Qdrant Edge and qdrant-client spell the same model with slightly different classes, so the
translation is written once against a small vocabulary that each index supplies. The namespace
condition is added here, for every query, so tenant scope is enforced in exactly one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedFilterError
from ..filters import And, Compare, Node, Not, Or, Unexpired
from .payload import EXPIRES_AT, METADATA, METADATA_LOWER, METADATA_STRINGS, NAMESPACE, metadata_key


@dataclass(frozen=True, slots=True)
class FilterVocabulary:
    filter: Callable[..., Any]  # filter(must=[...], should=[...], must_not=[...])
    match_value: Callable[[str, str | int | bool], Any]
    match_any: Callable[[str, list[str]], Any]
    range: Callable[..., Any]  # range(key, gt=..., gte=..., lt=..., lte=...)
    is_empty: Callable[[str], Any]
    # match_substring(key, text): Qdrant's `match: {substring}`. Optional so that a vocabulary
    # written before `$text` existed keeps working; such an index rejects `$text` by name. An
    # index may also supply one that raises UnsupportedFilterError (a server that lacks it).
    match_substring: Callable[[str, str], Any] | None = None
    # number_equals(key, value): numeric equality for an index that cannot compare the floats it
    # stores exactly (a Qdrant server re-reads them through a lossy parser). None: the range
    # [value, value], which is exact where the index compares the floats it was given.
    number_equals: Callable[[str, int | float], Any] | None = None


def scoped_filter(vocab: FilterVocabulary, namespace: str | None, node: Node | None) -> Any:
    """The filter for one query: the namespace (when given) AND the user's conditions."""
    must = []
    if namespace is not None:
        must.append(vocab.match_value(NAMESPACE, namespace))
    if node is not None:
        must.append(_condition(vocab, node))
    return vocab.filter(must=must) if must else None


def _condition(vocab: FilterVocabulary, node: Node) -> Any:
    if isinstance(node, And):
        return vocab.filter(must=[_condition(vocab, item) for item in node.items])
    if isinstance(node, Or):
        return vocab.filter(should=[_condition(vocab, item) for item in node.items])
    if isinstance(node, Not):
        return vocab.filter(must_not=[_condition(vocab, node.item)])
    if isinstance(node, Unexpired):
        return vocab.filter(must_not=[vocab.range(EXPIRES_AT, lte=node.now)])
    return _compare(vocab, node)


def _equals(vocab: FilterVocabulary, key: str, value: Any) -> Any:
    # Numbers match through a range so that 2 and 2.0 are equal, as they are in JSON.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if vocab.number_equals is not None:
            return vocab.number_equals(key, value)
        return vocab.range(key, gte=value, lte=value)
    return vocab.match_value(key, value)


def _one_of(vocab: FilterVocabulary, key: str, values: tuple[Any, ...]) -> Any:
    if all(isinstance(v, str) for v in values):
        return vocab.match_any(key, list(values))
    return vocab.filter(should=[_equals(vocab, key, v) for v in values])


def _compare(vocab: FilterVocabulary, node: Compare) -> Any:
    key = metadata_key(node.key)
    match node.op:
        case "eq":
            return _equals(vocab, key, node.value)
        case "ne":
            return vocab.filter(must_not=[_equals(vocab, key, node.value)])
        case "in":
            return _one_of(vocab, key, node.value)
        case "nin":
            return vocab.filter(must_not=[_one_of(vocab, key, node.value)])
        case "exists":
            empty = vocab.is_empty(key)
            return vocab.filter(must_not=[empty]) if node.value else empty
        case "text" | "itext":
            # Not MatchText: without a text index Qdrant (>= 1.19.1, and Edge) matches whole
            # lower-cased words with it, and with one it depends on the index's tokenizer.
            if vocab.match_substring is None:
                raise UnsupportedFilterError(
                    f"${node.op} on {node.key!r} is not supported by this index: its FilterVocabulary has no "
                    f"match_substring; filter without ${node.op}, or give the vocabulary one"
                )
            return vocab.match_substring(
                metadata_key(node.key, METADATA_LOWER if node.op == "itext" else METADATA), node.value
            )
        case "contains":
            # An element of a list or the value itself (Qdrant matches a key against both), or a
            # substring of a string that is not in a list (the strings copy holds only those).
            either = [_equals(vocab, key, node.value)]
            if isinstance(node.value, str):
                if vocab.match_substring is None:
                    raise UnsupportedFilterError(
                        f"$contains of a string on {node.key!r} is not supported by this index: its FilterVocabulary "
                        "has no match_substring"
                    )
                either.append(vocab.match_substring(metadata_key(node.key, METADATA_STRINGS), node.value))
            return vocab.filter(should=either)
        case "empty":
            nothing = vocab.filter(
                should=[vocab.is_empty(key), vocab.match_value(metadata_key(node.key, METADATA_STRINGS), "")]
            )
            return nothing if node.value else vocab.filter(must_not=[nothing])
        case op:
            return vocab.range(key, **{op: node.value})
