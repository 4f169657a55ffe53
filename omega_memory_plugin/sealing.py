"""Sealing a memory's content for the log: AES-256-GCM (``cryptography``) under its subject's data key.

What is sealed is everything personal an event carries: the text, the metadata and the vectors
(which can be inverted back into text). What stays in clear is the structure the log needs to stay
a log: positions, versions, event, memory and namespace ids, the embedding model, the origin and
the expiry. Each event is sealed with a fresh 96-bit random nonce, and its event id is the
associated data, so a sealed body copied onto another event does not open.

Destroying a subject's key (``Memory.forget``) makes every body sealed under it noise: that is
crypto-shredding, erasure that reaches an append-only log without rewriting it.

Example::

    >>> import uuid
    >>> box, event_id = cipher(new_key()), uuid.uuid4()
    >>> sealed = seal(box, event_id, "likes tea", {"topic": "drinks"}, {"dense": b"\\0\\0\\x80?"})
    >>> unseal(box, event_id, sealed)
    ('likes tea', {'topic': 'drinks'}, {'dense': b'\\x00\\x00\\x80?'})
"""

from __future__ import annotations

import os
import struct
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import json_text
from .errors import EventLogError

KEY_BYTES = 32  # AES-256
_NONCE = 12
_COUNTS = struct.Struct("<III")  # text bytes, metadata bytes, number of vectors
_VECTOR = struct.Struct("<HI")  # name bytes, vector bytes


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def cipher(key: bytes) -> AESGCM:
    """The AES-GCM cipher of one data key: made once per key and call, used for every event."""
    return AESGCM(key)


def seal(box: AESGCM, event_id: UUID, text: str, metadata: dict[str, Any], vectors: dict[str, bytes]) -> bytes:
    """``nonce || AES-GCM(counts, vector names and sizes, text, metadata JSON, vectors)``. The
    layout is binary, not JSON, because this runs once per memory written: the vectors are the
    float32 bytes they already are, and empty metadata costs nothing."""
    text_bytes = text.encode()
    meta_bytes = json_text.dumps_bytes(metadata) if metadata else b""
    parts = [_COUNTS.pack(len(text_bytes), len(meta_bytes), len(vectors))]
    for name, raw in vectors.items():
        name_bytes = name.encode()
        parts += [_VECTOR.pack(len(name_bytes), len(raw)), name_bytes]
    parts += [text_bytes, meta_bytes, *vectors.values()]
    nonce = os.urandom(_NONCE)
    return nonce + box.encrypt(nonce, b"".join(parts), event_id.bytes)


def unseal(box: AESGCM, event_id: UUID, sealed: bytes) -> tuple[str, dict[str, Any], dict[str, bytes]]:
    """(text, metadata, vectors) of a sealed body; raises :class:`EventLogError` if it was not
    sealed with this key for ``event_id`` (tampered with, or the wrong key)."""
    try:
        plain = box.decrypt(sealed[:_NONCE], sealed[_NONCE:], event_id.bytes)
    except InvalidTag as exc:
        raise EventLogError(
            f"the sealed content of event {event_id} does not open with its key: the log or the key store was "
            "altered outside omega (restore both from the same backup)"
        ) from exc
    text_size, meta_size, count = _COUNTS.unpack_from(plain)
    offset = _COUNTS.size
    sizes = []
    for _ in range(count):
        name_size, size = _VECTOR.unpack_from(plain, offset)
        offset += _VECTOR.size
        sizes.append((plain[offset : offset + name_size].decode(), size))
        offset += name_size
    text = plain[offset : offset + text_size].decode()
    offset += text_size
    metadata = json_text.loads(plain[offset : offset + meta_size]) if meta_size else {}
    offset += meta_size
    vectors = {}
    for name, size in sizes:
        vectors[name] = plain[offset : offset + size]
        offset += size
    return text, metadata, vectors
