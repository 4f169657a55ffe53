"""The data keys of a MongoDB log, in a ``<prefix>keys`` collection of the log's database.

One document per key: ``{_id: <random key id>, subject, secret}``, with a unique index on the
subject so that writers in several processes agree on one key per subject. Destroying a key
deletes its document; what the server keeps of deleted documents on its own disks (journal,
freed pages, oplog, backups) is the server's, and is said in the README.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection
from typing import Any

from bson import Binary
from pymongo import IndexModel
from pymongo.errors import DuplicateKeyError

from ..errors import KeyStoreError
from ..keys import DataKey, KeyStore
from ..sealing import new_key
from .mongo_errors import ensure_indexes, retrying

_SUBJECT_INDEX = IndexModel("subject", name="subject", unique=True)


class MongoKeyStore(KeyStore):
    """Example: ``MongoKeyStore(log.db, prefix="omega_")`` (beside the log's collections)."""

    def __init__(self, database: Any, prefix: str = "omega_", timeout: float = 30.0) -> None:
        self.keys = database[f"{prefix}keys"]
        self.timeout = timeout

    async def open(self) -> None:
        await retrying(
            "creating the data keys' index", lambda: ensure_indexes(self.keys, [_SUBJECT_INDEX]), self.timeout
        )

    async def key_for(self, subject: str) -> DataKey:
        for _ in range(3):  # found, or made and found; a forget in between deletes it: again
            doc = await retrying("reading a data key", lambda: self.keys.find_one({"subject": subject}), self.timeout)
            if doc is not None:
                return DataKey(doc["_id"], bytes(doc["secret"]))
            made = {"_id": uuid.uuid4().hex, "subject": subject, "secret": Binary(new_key())}

            async def insert(made: dict[str, Any] = made) -> None:
                # Another writer may have made the subject's key first (or a retried insert of
                # this one landed already): either way the subject's one key is read back next.
                with contextlib.suppress(DuplicateKeyError):
                    await self.keys.insert_one(made)

            await retrying("making a data key", insert, self.timeout)
        raise KeyStoreError(
            f"the data key of a subject in {self.keys.full_name} keeps disappearing (forgotten meanwhile)"
        )

    async def secrets(self, ids: Collection[str]) -> dict[str, bytes]:
        docs = await retrying(
            "reading data keys", lambda: self.keys.find({"_id": {"$in": list(ids)}}).to_list(None), self.timeout
        )
        return {doc["_id"]: bytes(doc["secret"]) for doc in docs}

    async def key_ids(self, subject: str) -> list[str]:
        docs = await retrying(
            "reading data keys", lambda: self.keys.find({"subject": subject}, {"_id": 1}).to_list(None), self.timeout
        )
        return [doc["_id"] for doc in docs]

    async def destroy(self, subject: str) -> list[str]:
        ids = await self.key_ids(subject)
        await retrying("destroying data keys", lambda: self.keys.delete_many({"subject": subject}), self.timeout)
        return ids
