"""The one place memory content is sealed and opened: a log that wraps any log.

Every event the Memory appends passes :meth:`SealedLog.append`, and every event it reads (the
projector's replays, ``as_of``, history, lineage, idempotency checks) passes its reads. So the
stored log holds memory content only sealed (:mod:`omega_memory_plugin.sealing`), and everything
above sees plain events, except one kind: an event whose key was destroyed (``Memory.forget``)
or whose content compaction dropped comes back with ``data.sealed`` set and its content empty
(``data.forgotten``). The projector treats such an upsert as a delete, so no replay, rebuild or
point-in-time view can show it again.

The key store is asked on each commit and on each batch read, never cached across calls: a key
another process destroyed is gone for this one at its next read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import KeyStoreError
from ..events import Event, MemoryReembedded, MemoryUpserted, Sealable, StreamKey, replaced
from ..keys import KeyStore
from ..sealing import cipher, seal, unseal
from .base import POLL_SECONDS, Envelope, EventLog, StreamHead

_Key: TypeAlias = tuple[str, "AESGCM | None"]  # a key's id, and its cipher (None: destroyed)


class SealedLog(EventLog):
    """``inner`` with the content of its events sealed under per-subject keys from ``keys``;
    ``encrypt=False`` stores new content in clear (old sealed events still open).

    Example::

        log = SealedLog(SQLiteEventLog("/tmp/m/log.db"), SQLiteKeyStore("/tmp/m/log.db"))
    """

    def __init__(self, inner: EventLog, keys: KeyStore | None, *, encrypt: bool = True) -> None:
        self.inner = inner
        self.keys = keys
        self.encrypt = encrypt
        self.name = inner.name
        self.local = inner.local and (keys is None or keys.local)  # unsealing reads the keys

    def __getattr__(self, name: str) -> Any:  # what a backend offers beyond the contract (tests, tools)
        if name == "inner":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def open(self) -> None:
        if self.encrypt and self.keys is None:
            raise KeyStoreError(
                f"no installed plugin keeps the data keys of the log {self.name}, so its content cannot be sealed: "
                "implement the omega_memory_key_store hook for it, or store content in clear with "
                "encryption=False (OMEGA_ENCRYPTION=false)"
            )
        await self.inner.open()
        if self.keys is not None:
            await self.keys.open()

    async def close(self) -> None:
        try:
            if self.keys is not None:
                await self.keys.close()
        finally:
            await self.inner.close()

    # -- writing -------------------------------------------------------------------------------

    async def append(
        self, events: Sequence[Event], expected_versions: Mapping[StreamKey, int] | None = None
    ) -> list[Event]:
        stored, plain = await self._seal(events)
        recorded = await self.inner.append(stored, expected_versions)
        opened: list[Event] = []
        unknown = False
        for event in recorded:
            mine = plain.get(event.event_id)
            # The copy this commit sealed comes back as its plain twin; an event id recorded before
            # (a retry) comes back as stored then, and is opened like any read.
            if mine is not None and isinstance(event.data, Sealable) and event.data.sealed is mine[1]:
                event = replaced(event, {"data": mine[0]})
            elif isinstance(event.data, Sealable):
                unknown = True
            opened.append(event)
        return await self._open(opened) if unknown else opened

    async def _seal(self, events: Sequence[Event]) -> tuple[list[Event], dict[UUID, tuple[Any, bytes | None]]]:
        stored: list[Event] = []
        plain: dict[UUID, tuple[Any, bytes | None]] = {}
        keys: dict[tuple[str, str], _Key] = {}
        for event in events:
            data = event.data
            if not isinstance(data, Sealable) or data.sealed is not None:
                stored.append(event)
                continue
            never = {"subject": None} if isinstance(data, MemoryUpserted) else {}  # the subject is never stored
            if not self.encrypt:
                if never and data.subject is not None:  # type: ignore[union-attr]
                    event = replaced(event, {"data": replaced(data, never)})
                stored.append(event)
                continue
            key_id, box = await self._key(data, event.namespace, keys)
            body = b"" if box is None else seal(box, event.event_id, data.text, data.metadata, data.vectors)
            sealed = replaced(data, {"text": "", "metadata": {}, "vectors": {}, "key": key_id, "sealed": body, **never})
            stored.append(replaced(event, {"data": sealed}))
            if box is not None:  # else the stored form (forgotten) is what reads will show
                plain[event.event_id] = (replaced(data, {"key": key_id, **never}), body)
        return stored, plain

    async def _key(
        self, data: MemoryUpserted | MemoryReembedded, namespace: str, keys: dict[tuple[str, str], _Key]
    ) -> _Key:
        """The key a content event is sealed under: a re-embedding under its memory's key (None
        if that was destroyed meanwhile: the new vectors are then stored as forgotten), an upsert
        under its subject's (the namespace's unless it names one). ``keys`` remembers them for
        the rest of the call, by ``("id", key id)`` or ``("subject", subject)``."""
        assert self.keys is not None
        if isinstance(data, MemoryReembedded) and data.key is not None:
            if ("id", data.key) not in keys:
                secret = (await self.keys.secrets([data.key])).get(data.key)
                keys["id", data.key] = (data.key, None if secret is None else cipher(secret))
            return keys["id", data.key]
        subject = data.namespace if isinstance(data, MemoryReembedded) else data.subject or namespace
        if ("subject", subject) not in keys:
            key = await self.keys.key_for(subject)
            keys["subject", subject] = (key.id, cipher(key.secret))
        return keys["subject", subject]

    # -- reading -------------------------------------------------------------------------------

    async def _open(self, events: list[Event]) -> list[Event]:
        """``events`` with their sealed content opened where its key still exists."""
        wanted = {e.data.key for e in events if isinstance(e.data, Sealable) and e.data.sealed and e.data.key}
        if not wanted or self.keys is None:
            return events
        ciphers = {key_id: cipher(secret) for key_id, secret in (await self.keys.secrets(wanted)).items()}
        if not ciphers:
            return events
        opened = []
        for event in events:
            data = event.data
            if isinstance(data, Sealable) and data.sealed and data.key is not None and data.key in ciphers:
                text, metadata, vectors = unseal(ciphers[data.key], event.event_id, data.sealed)
                content = {"text": text, "metadata": metadata, "vectors": vectors, "sealed": None}
                event = replaced(event, {"data": replaced(data, content)})
            opened.append(event)
        return opened

    async def read(
        self, from_position: int = 0, until: int | datetime | None = None, batch: int = 1000
    ) -> AsyncIterator[list[Event]]:
        async for events in self.inner.read(from_position, until, batch):
            yield await self._open(events)

    def envelopes(
        self, from_position: int = 0, until: int | datetime | None = None, batch: int = 1000
    ) -> AsyncIterator[list[Envelope]]:
        return self.inner.envelopes(from_position, until, batch)

    async def stream(self, key: StreamKey) -> list[Event]:
        return await self._open(await self.inner.stream(key))

    async def heads(self, keys: Sequence[StreamKey]) -> dict[StreamKey, StreamHead]:
        return await self.inner.heads(keys)

    async def collections(self) -> list[Event]:
        return await self.inner.collections()

    async def last_position(self) -> int:
        return await self.inner.last_position()

    async def position_at(self, when: datetime) -> int:
        return await self.inner.position_at(when)

    async def get_checkpoint(self, name: str) -> int:
        return await self.inner.get_checkpoint(name)

    async def set_checkpoint(self, name: str, position: int) -> None:
        await self.inner.set_checkpoint(name, position)

    async def redact(self, positions: Collection[int]) -> int:
        return await self.inner.redact(positions)

    async def wait_for_append(self, after: int, timeout: float, poll: float = POLL_SECONDS) -> int:
        return await self.inner.wait_for_append(after, timeout, poll)


def portable(event: Event) -> Event:
    """``event`` as it leaves the memory (an export): opened content without its key's id."""
    data = event.data
    if isinstance(data, Sealable) and data.sealed is None and data.key is not None:
        return replaced(event, {"data": replaced(data, {"key": None})})
    return event
