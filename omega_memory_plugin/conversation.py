"""A chat conversation kept as an event stream: the shared core of every framework's chat history.

Each message is a memory in the ``chat`` collection, in a namespace of its own (the conversation
key), so appending is a ``memory.upserted`` event, clearing is one ``namespace.erased`` event, and
messages are read back in log order. Messages are embedded (by default with the offline hash
embedder), so a conversation can also be searched with :meth:`Memory.search`.

The framework adapters only convert their message types to and from JSON payloads::

    conversation = Conversation(memory, "session-42")
    conversation.append([("hi, I'm Ada", {"role": "user", "content": "hi, I'm Ada"})])
    conversation.messages()  # -> [{"role": "user", "content": "hi, I'm Ada"}]

A registry collection (``<collection>-keys``, namespace ``conversations``) holds one memory per
conversation, written with its first message, so that :meth:`Conversation.keys` can list them on
every index backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .embeddings import Embedder
from .errors import InvalidInputError
from .forgetting import forget
from .records import MemoryRecord
from .staging import StagedWrite, embed_missing, stage_delete, stage_erase
from .twins import twins

if TYPE_CHECKING:
    from .engine import Engine
    from .memory import Memory

DEFAULT_CHAT_COLLECTION = "chat"
DEFAULT_CHAT_EMBEDDER = "hash:256"
PAYLOAD = "message"  # the metadata key that holds the framework's message exactly as given
_REGISTRY_NAMESPACE = "conversations"

Item = tuple[str, Mapping[str, Any]]  # (text to embed and search, JSON payload to return)


class Conversation:
    """One conversation (chat session) of a :class:`~omega_memory_plugin.Memory`.

    Args:
        memory: the Memory that stores it.
        key: the conversation id (a session id); it is the namespace its messages live in.
        collection: where conversations are kept (default ``"chat"``).
        embedder: embeds message texts; default ``"hash:256"``, offline and cheap. Pass the
            Memory's embedder (or any) to make conversations semantically searchable.
    """

    def __init__(
        self,
        memory: Memory,
        key: str,
        *,
        collection: str = DEFAULT_CHAT_COLLECTION,
        embedder: Embedder | str | None = None,
    ) -> None:
        self.memory = memory
        chosen = embedder if embedder is not None else DEFAULT_CHAT_EMBEDDER
        self.embedder: Embedder = memory.plugins.embedder(chosen) if isinstance(chosen, str) else chosen
        self.key, self.collection = memory._scope(key, collection)
        self._registry = registry_collection(self.collection)
        self._registered = False
        # Its messages are sealed under a key of their own, so that clear() can shred them
        # without touching memories of the same namespace in other collections.
        self.subject = f"chat:{self.collection}:{self.key}"

    def _ready_engine(self) -> Engine:
        return self.memory._ready_engine()

    def _message_write(self, text: str, payload: Mapping[str, Any]) -> StagedWrite:
        if not isinstance(payload, Mapping):
            raise InvalidInputError(f"a message payload must be a dict, got {type(payload).__name__}")
        # The index needs some text; a message with none (a tool call, say) is found by its role.
        text = (
            text
            if isinstance(text, str) and text.strip()
            else f"({payload.get('type') or payload.get('role') or 'message'})"
        )
        return self.memory._stage_upsert(
            text,
            id=uuid.uuid4().hex,
            metadata={PAYLOAD: dict(payload)},
            namespace=self.key,
            collection=self.collection,
            subject=self.subject,
        )

    def _stage(self, items: Sequence[Item]) -> list[StagedWrite]:
        if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
            raise InvalidInputError("messages must be a list of (text, payload) pairs")
        writes = [self._message_write(text, payload) for text, payload in items]
        embed_missing(writes, self.embedder)
        return writes

    def _register(self) -> StagedWrite:
        write = self.memory._stage_upsert(
            self.key, id=self.key, namespace=_REGISTRY_NAMESPACE, collection=self._registry
        )
        embed_missing([write], self.embedder)
        return write

    async def _registration(self) -> list[StagedWrite]:
        """The registry write this conversation still needs (none once it is known to be listed)."""
        if not self._registered:
            listed = await self.memory._get(self.key, namespace=_REGISTRY_NAMESPACE, collection=self._registry)
            self._registered = bool(listed)
        return [] if self._registered else [self._register()]

    # -- reading -------------------------------------------------------------------------------

    async def _records(self) -> list[MemoryRecord]:
        records = await self.memory._scan(limit=None, namespace=self.key, collection=self.collection)
        # Log position is the order messages were appended in, across every writer process.
        return sorted(records, key=lambda r: r.position)

    def _messages(self) -> Coroutine[Any, Any, list[dict[str, Any]]]:
        """Every message payload, oldest first."""

        async def run() -> list[dict[str, Any]]:
            return [r.metadata[PAYLOAD] for r in await self._records()]

        return run()

    messages, amessages = twins(_messages)

    def _search(self, text: str, limit: int = 4) -> Coroutine[Any, Any, list[dict[str, Any]]]:
        """The messages closest to ``text`` (embedded by this conversation's embedder), best first."""
        vector = self.embedder.embed([text])[0]
        return self._search_vector(vector, limit)

    async def _search_vector(self, vector: Sequence[float] | np.ndarray, limit: int) -> list[dict[str, Any]]:
        hits = await self.memory._search(vector, limit=limit, namespace=self.key, collection=self.collection)
        return [hit.metadata[PAYLOAD] for hit in hits]

    search, asearch = twins(_search)

    # -- writing -------------------------------------------------------------------------------

    def _append(self, items: Sequence[Item]) -> Coroutine[Any, Any, None]:
        """Append messages, given as ``(text, payload)`` pairs, in one atomic commit."""
        writes = self._stage(items)

        async def run() -> None:
            if writes:
                await self.memory._commit([*await self._registration(), *writes])
                self._registered = True

        return run()

    append, aappend = twins(_append)

    def _replace(self, items: Sequence[Item]) -> Coroutine[Any, Any, None]:
        """Replace the whole conversation with these messages, in one atomic commit."""
        writes = self._stage(items)

        async def run() -> None:
            erase = stage_erase(self.key, self.collection)
            await self.memory._commit([erase, *await self._registration(), *writes])
            self._registered = True

        return run()

    replace, areplace = twins(_replace)

    def _clear(self) -> Coroutine[Any, Any, None]:
        """Forget every message (one ``namespace.erased`` event), unlist the conversation, and
        destroy the key that sealed its messages in the log (:mod:`.forgetting`): no
        replay or ``as_of`` view shows them again. The index's files may keep the deleted points
        until the next ``rebuild()`` (``Memory.forget`` of the subject rebuilds at once)."""

        async def run() -> None:
            erase = stage_erase(self.key, self.collection)
            await self.memory._commit([erase, stage_delete(self.key, _REGISTRY_NAMESPACE, self._registry)])
            self._registered = False
            await forget(self.memory, self.subject, compact_index=False, look=False)

        return run()

    clear, aclear = twins(_clear)

    def _delete_at(self, index: int) -> Coroutine[Any, Any, dict[str, Any] | None]:
        """Remove the message at ``index`` (``-1`` is the last) and return it; ``None`` if out of range."""
        if not isinstance(index, int) or isinstance(index, bool):
            raise InvalidInputError(f"a message index must be an integer, got {index!r}")

        async def run() -> dict[str, Any] | None:
            records = await self._records()
            if not -len(records) <= index < len(records):
                return None
            record = records[index]
            await self.memory._commit([stage_delete(record.id, self.key, self.collection)])
            payload: dict[str, Any] = record.metadata[PAYLOAD]
            return payload

        return run()

    delete_at, adelete_at = twins(_delete_at)

    # -- listing -------------------------------------------------------------------------------

    @staticmethod
    def keys(memory: Memory, collection: str = DEFAULT_CHAT_COLLECTION) -> list[str]:
        """The keys of every conversation written to and not cleared since, in key order."""
        return memory._ready_engine().run(_keys(memory, collection))

    @staticmethod
    async def akeys(memory: Memory, collection: str = DEFAULT_CHAT_COLLECTION) -> list[str]:
        return await memory._ready_engine().arun(_keys(memory, collection))


def registry_collection(collection: str) -> str:
    return f"{collection}-keys"


async def _keys(memory: Memory, collection: str) -> list[str]:
    registry = registry_collection(collection)
    return [r.id for r in await memory._scan(limit=None, namespace=_REGISTRY_NAMESPACE, collection=registry)]
