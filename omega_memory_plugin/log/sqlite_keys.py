"""The data keys of a SQLite log, in a ``data_keys`` table of the log's own file.

Destroying a key must leave no copy in the file: the connection runs with ``secure_delete`` (a
deleted row's bytes are overwritten with zeros, in its table and in the subject index), and a
``wal_checkpoint(TRUNCATE)`` afterwards moves the zeroed pages into the database file and empties
the WAL, which still held the pages as they were when the key was written.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Collection
from pathlib import Path

from ..errors import KeyStoreError
from ..keys import DataKey, KeyStore
from ..sealing import new_key

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    id      TEXT PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE,
    secret  BLOB NOT NULL
);
"""
_CHECKPOINT_TRIES = 50  # a reader in another process may hold the WAL for a moment


class SQLiteKeyStore(KeyStore):
    """Example: ``SQLiteKeyStore("/data/memory/log.db")`` (the log's own file)."""

    local = True

    def __init__(self, path: str | Path, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout_ms / 1000
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        try:
            self._db = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=self._busy_timeout
            )
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise KeyStoreError(f"cannot open the data keys in {self.path}: {exc}") from exc

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise KeyStoreError("the key store is not open")
        return self._db

    async def key_for(self, subject: str) -> DataKey:
        try:
            row = self.db.execute("SELECT id, secret FROM data_keys WHERE subject = ?", (subject,)).fetchone()
            if row is None:
                # Another writer may make the subject's key at the same moment: the UNIQUE subject
                # keeps one, and both read that one back.
                self.db.execute(
                    "INSERT OR IGNORE INTO data_keys (id, subject, secret) VALUES (?, ?, ?)",
                    (uuid.uuid4().hex, subject, new_key()),
                )
                row = self.db.execute("SELECT id, secret FROM data_keys WHERE subject = ?", (subject,)).fetchone()
        except sqlite3.Error as exc:
            raise KeyStoreError(f"cannot read the data key of a subject in {self.path}: {exc}") from exc
        return DataKey(row[0], bytes(row[1]))

    async def secrets(self, ids: Collection[str]) -> dict[str, bytes]:
        wanted = list(ids)
        found: dict[str, bytes] = {}
        try:
            for start in range(0, len(wanted), 500):  # under SQLite's bound-parameter limit
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key_id, secret in self.db.execute(f"SELECT id, secret FROM data_keys WHERE id IN ({marks})", chunk):
                    found[key_id] = bytes(secret)
        except sqlite3.Error as exc:
            raise KeyStoreError(f"cannot read data keys in {self.path}: {exc}") from exc
        return found

    async def key_ids(self, subject: str) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT id FROM data_keys WHERE subject = ?", (subject,))]

    async def destroy(self, subject: str) -> list[str]:
        try:
            ids = await self.key_ids(subject)
            self.db.execute("DELETE FROM data_keys WHERE subject = ?", (subject,))
        except sqlite3.Error as exc:
            raise KeyStoreError(f"cannot destroy the data keys of a subject in {self.path}: {exc}") from exc
        self.scrubbed = await self._truncate_wal()
        return ids

    async def _truncate_wal(self) -> bool:
        for _ in range(_CHECKPOINT_TRIES):
            busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return True
            await asyncio.sleep(0.02)
        return False

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
