"""How a memory is laid out in a Qdrant point, shared by every index (Qdrant Edge, qdrant-client, in-memory).

This module enforces two invariants, for every index:

* **identity**: :func:`point_id` maps (collection, namespace, memory id) to a point id
  injectively, so no tenant's memory can land on another's point;
* **exact values**: :func:`to_record` returns the metadata exactly as :func:`to_payload` was given
  it (every float bit for bit, integers as integers), whatever the index does to numbers.

User metadata lives under one key (``metadata``) so it can never collide with the fields the
library keeps beside it; filters address it as ``metadata.<key>``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pydantic_core

from ..errors import IndexUnavailableError
from ..events import MemoryUpsertedEvent, vector_array
from ..records import MemoryRecord

#: The version of the point-id derivation and payload layout. Indexes record it with their state
#: (:class:`~omega_memory_plugin.index.base.IndexState`); an index built with another layout
#: addresses or reads points differently and must be rebuilt from the log. Bump it on any change
#: to :func:`point_id`, :func:`to_payload` or the keys below.
#: 2: point ids over the length-prefixed (collection, namespace, id) triple, exact metadata in ``metadata_json``.
#: 3: every point also holds the sparse vector ``_bm25`` of its text (bm25.py), for sparse and hybrid search.
#: 4: ``metadata_lower``, the metadata's strings lower-cased, for ``$itext``.
#: 5: ``metadata_strings``, the metadata's strings that are not in lists, for ``$contains`` and ``$empty``.
LAYOUT = 5

MEMORY_ID = "memory_id"
NAMESPACE = "namespace"
TEXT = "text"
METADATA = "metadata"
#: The metadata as JSON text, the copy reads return. ``metadata`` stays beside it for filters.
#: Why: Qdrant Edge (qdrant-edge-py 0.9) stores floats exactly but reads payloads back through a
#: float parser that is off by one ulp for about 1 in 9 random floats (937.9228155259179 comes
#: back as 937.922815525918); a string comes back exactly from every index.
METADATA_JSON = "metadata_json"
#: The strings of the metadata, lower-cased, where they are (other values left out): what the
#: case-insensitive substring filter ``$itext`` matches, since Qdrant has no case-insensitive one.
METADATA_LOWER = "metadata_lower"
#: The metadata's strings that are not list elements, where they are: tells a string value from a
#: list (Qdrant matches a key against both alike), for ``$contains`` (a substring of a string, an
#: element of a list) and ``$empty`` (``""`` is empty, ``[""]`` is not).
METADATA_STRINGS = "metadata_strings"
VERSION = "version"
POSITION = "position"
EMBEDDING_MODEL = "embedding_model"
#: when the memory leaves every read, in seconds since the epoch (absent: never; :mod:`..expiry`)
EXPIRES_AT = "expires_at"
#: the id of the data key sealing the memory in the log (absent: in clear), so that a re-embedding
#: seals the new vectors under the same key
KEY = "key"

# Fixed so that point ids are the same in every index ever built from the same log.
_POINT_NAMESPACE = uuid.UUID("6f6d6567-612d-6d65-6d6f-72792d706c75")
_POINT_PREFIX = _POINT_NAMESPACE.bytes


def point_id(collection: str, namespace: str, memory_id: str) -> str:
    """The Qdrant point id of a memory (Qdrant accepts only UUIDs and integers; ids are any string).

    The name hashed gives the length of the collection and of the namespace before each, so it
    can be read back into exactly one triple: two different triples always have different names
    (joining with a separator did not: ``("team", "a\x1fx")`` and ``("team\x1fa", "x")`` shared a
    point). Strings are valid Unicode (validation.py), so the name always encodes.

    >>> point_id("c", "team", "a\x1fx") != point_id("c", "team\x1fa", "x")
    True
    """
    # uuid.uuid5, written out: it runs once per point applied, and the UUID object it builds cost
    # as much as the hash (10 µs a point against 3). Equal to uuid5 for every name (tested).
    name = f"{len(collection)}:{collection}{len(namespace)}:{namespace}{memory_id}"
    digest = bytearray(hashlib.sha1(_POINT_PREFIX + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_BARE = re.compile(r"[A-Za-z0-9_-]+")


def metadata_key(key: str, copy: str = METADATA) -> str:
    """The payload key a filter on metadata ``key`` addresses: in the metadata, or in one of its
    copies (``METADATA_LOWER`` for ``$itext``, ``METADATA_STRINGS`` for ``$contains`` / ``$empty``).

    A Qdrant JSON path takes bare only letters, digits, ``_`` and ``-``: every other part of a
    dotted key (``"a b"``, ``"50%"``) is quoted. Keys with ``"`` or ``\\``, which no path can
    quote, are refused where metadata enters (:func:`~omega_memory_plugin.validation.check_metadata_key`)."""
    return ".".join([copy, *(part if _BARE.fullmatch(part) else f'"{part}"' for part in key.split("."))])


def metadata_json(metadata: dict[str, Any]) -> str:
    """The exact text of ``metadata``: the shortest digits that read back to the same float
    (``-0.0`` and subnormals included), integers digit for digit.

    pydantic-core (already a dependency) rather than ``json``: 1.6 against 11.7 µs for an
    8-key metadata, and just as exact (360,000 random floats read back bit for bit, both ways;
    the conformance suite checks the round trip on every index)."""
    return pydantic_core.to_json(metadata).decode()


def lowered(value: Any) -> Any:
    """``value``'s strings lower-cased, in its shape: a dict keeps the keys that hold strings, a list
    its strings (a filter key never reaches into a list); ``None`` where there is no string."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict):
        kept = {k: low for k, v in value.items() if (low := lowered(v)) is not None}
        return kept or None
    if isinstance(value, list):
        strings = [v.lower() for v in value if isinstance(v, str)]
        return strings or None
    return None


def scalar_strings(value: Any) -> Any:
    """``value``'s strings that are not in lists, in its shape; ``None`` where there is none."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        kept = {k: found for k, v in value.items() if (found := scalar_strings(v)) is not None}
        return kept or None
    return None


def to_payload(event: MemoryUpsertedEvent) -> dict[str, Any]:
    payload = {
        MEMORY_ID: event.memory_id,
        NAMESPACE: event.namespace,
        TEXT: event.data.text,
        METADATA: event.data.metadata,
        METADATA_JSON: metadata_json(event.data.metadata),
        VERSION: event.version,
        POSITION: event.position,
        EMBEDDING_MODEL: event.data.embedding_model,
    }
    if event.data.expires_at is not None:
        payload[EXPIRES_AT] = event.data.expires_at.timestamp()
    if event.data.key is not None:
        payload[KEY] = event.data.key
    strings = lowered(event.data.metadata)
    if strings is not None:
        payload[METADATA_LOWER] = strings
    scalars = scalar_strings(event.data.metadata)
    if scalars is not None:
        payload[METADATA_STRINGS] = scalars
    return payload


def to_vectors(event: MemoryUpsertedEvent) -> dict[str, list[float]]:
    return {name: vector_array(raw).tolist() for name, raw in event.data.vectors.items()}


def to_record(
    collection: str,
    payload: dict[str, Any],
    score: float | None = None,
    vectors: dict[str, list[float]] | None = None,
) -> MemoryRecord:
    exact = payload.get(METADATA_JSON)
    if exact is None:
        raise IndexUnavailableError(
            f"memory {payload.get(MEMORY_ID)!r} in collection {collection!r} was written by an older layout of "
            f"the index (before layout {LAYOUT}); rebuild the index from the log with Memory.rebuild() "
            "or `omega-memory replay`"
        )
    return MemoryRecord(  # positional (the fields' order): a quarter cheaper, ten times a search
        payload[MEMORY_ID],
        payload[TEXT],
        pydantic_core.from_json(exact),
        payload[NAMESPACE],
        collection,
        payload[VERSION],
        payload[POSITION],
        score,
        payload.get(EMBEDDING_MODEL),
        vectors,
        None if (expires := payload.get(EXPIRES_AT)) is None else datetime.fromtimestamp(expires, UTC),
        payload.get(KEY),
    )
