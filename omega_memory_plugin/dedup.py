"""Deduplication without races: in a collection created with ``dedup=True``, a memory written
without an id gets an id derived from its normalised text and its namespace (:func:`content_id`).

Two writers of the same fact, in any process and at the same moment, therefore write the same
memory: the log orders their writes as versions of one memory (optimistic concurrency, per stream),
instead of a check-then-insert leaving two memories. Normalised means what a person would call the
same sentence: Unicode NFKC, case-folded, whitespace collapsed and trimmed. An explicit id always
wins (the caller knows best). The flag is recorded in the collection's ``collection.created``
event, so every process, and every replay, applies the same rule.

Example::

    memory.create_collection("facts", 384, dedup=True)
    a = memory.upsert("Ada likes  green tea", collection="facts", namespace="ada")
    b = memory.upsert("ada likes green tea", collection="facts", namespace="ada")
    assert a == b  # one memory, at version 2
"""

from __future__ import annotations

import json
import unicodedata
import uuid

_NAMESPACE = uuid.UUID("0d7d6c3a-3b0e-4d5f-a7a4-5f1f0e9c2b64")  # of omega-memory-plugin's content ids


def normalised(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def content_id(namespace: str, text: str) -> str:
    """The id of the memory holding ``text`` in ``namespace`` of a dedup collection."""
    return uuid.uuid5(_NAMESPACE, json.dumps([namespace, normalised(text)], ensure_ascii=False)).hex
