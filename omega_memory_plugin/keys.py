"""Where the data keys that seal memory content live: the key-store interface (a plugin hook).

One key per *subject* (a namespace unless a write names another subject, e.g. a user id that
spans namespaces). Events record only a key's random id; the store maps ids to key bytes, and a
subject to its current key. ``destroy(subject)`` is crypto-shredding: once it returns, the key's
bytes must be unrecoverable from the store's own storage (the built-in stores overwrite them:
SQLite with ``secure_delete`` and a WAL truncation, MongoDB by deleting the document).

Built-in stores keep keys in the log's own storage: a ``data_keys`` table in the SQLite file, a
``<prefix>keys`` collection beside the MongoDB log, a dict for ``memory://``. An application
with a KMS implements :class:`KeyStore` and returns it from the ``omega_memory_key_store`` hook::

    from omega_memory_plugin import hookimpl

    @hookimpl
    def omega_memory_key_store(log, settings):
        return MyKmsKeyStore(...)  # wraps each data key with the KMS's master key
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from .sealing import new_key


@dataclass(frozen=True, slots=True)
class DataKey:
    id: str  # random: events carry it in clear, so it must say nothing about the subject
    secret: bytes


class KeyStore(abc.ABC):
    """The data keys of one memory. Methods are async; calls from one Memory never overlap."""

    @abc.abstractmethod
    async def key_for(self, subject: str) -> DataKey:
        """The subject's current key, made now if it has none. Concurrent callers (also in other
        processes) of one subject must get the same key."""

    @abc.abstractmethod
    async def secrets(self, ids: Collection[str]) -> dict[str, bytes]:
        """The keys with these ids that still exist (destroyed ones are left out)."""

    @abc.abstractmethod
    async def destroy(self, subject: str) -> list[str]:
        """Destroy every key of ``subject``; return their ids. Once this returns, the keys must not
        be recoverable from the store (see :attr:`scrubbed`)."""

    @abc.abstractmethod
    async def key_ids(self, subject: str) -> list[str]:
        """The ids of the subject's keys (none if it has none or was forgotten)."""

    #: Answered from this process's own storage (a local file, process memory), with no network
    #: and no socket on the Memory's event loop (see ``EventLog.local``).
    local: bool = False

    #: False if the last ``destroy`` could not also overwrite the store's copies (e.g. a SQLite
    #: WAL a reader held open): the key is gone from every read, its bytes may linger on disk.
    scrubbed: bool = True

    async def open(self) -> None:
        """Prepare storage; called once before any other method."""

    async def close(self) -> None:
        """Release what :meth:`open` took."""


class InMemoryKeyStore(KeyStore):
    """Keys in a dict: the store of ``memory://`` logs."""

    local = True

    def __init__(self) -> None:
        self._keys: dict[str, DataKey] = {}  # subject -> key

    async def key_for(self, subject: str) -> DataKey:
        if subject not in self._keys:
            self._keys[subject] = DataKey(uuid.uuid4().hex, new_key())
        return self._keys[subject]

    async def secrets(self, ids: Collection[str]) -> dict[str, bytes]:
        return {key.id: key.secret for key in self._keys.values() if key.id in ids}

    async def destroy(self, subject: str) -> list[str]:
        key = self._keys.pop(subject, None)
        return [key.id] if key else []

    async def key_ids(self, subject: str) -> list[str]:
        return [self._keys[subject].id] if subject in self._keys else []
