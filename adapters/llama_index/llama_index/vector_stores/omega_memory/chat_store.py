"""A LlamaIndex chat store whose every message is an event in an omega memory log.

Each chat key is a :class:`~omega_memory_plugin.conversation.Conversation`: adding a message
appends a ``memory.upserted`` event, ``set_messages`` replaces the history in one commit, and
``delete_messages`` erases it with one ``namespace.erased`` event. Messages are stored as
``ChatMessage.model_dump(mode="json")`` and rebuilt with ``ChatMessage.model_validate``, so
roles, content blocks and ``additional_kwargs`` come back as they were (objects inside
``additional_kwargs`` come back as their JSON form, as from any persisted chat store).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store.base import BaseChatStore

from omega_memory_plugin import Memory
from omega_memory_plugin.conversation import DEFAULT_CHAT_COLLECTION, Conversation
from omega_memory_plugin.embeddings import Embedder
from omega_memory_plugin.origin import writes_as

from .base import ORIGIN


def _item(message: ChatMessage) -> tuple[str, dict[str, Any]]:
    if not isinstance(message, ChatMessage):
        raise TypeError(f"expected a llama_index ChatMessage, got {type(message).__name__}")
    return message.content or "", message.model_dump(mode="json")


def _messages(payloads: Sequence[dict[str, Any]]) -> list[ChatMessage]:
    return [ChatMessage.model_validate(p) for p in payloads]


def _one(payload: dict[str, Any] | None) -> ChatMessage | None:
    return None if payload is None else ChatMessage.model_validate(payload)


class OmegaChatStore(BaseChatStore):
    """LlamaIndex chat store over an event-sourced :class:`~omega_memory_plugin.Memory`.

    Args:
        memory: the Memory that keeps the conversations.
        collection: the memory collection of the conversations (default ``"chat"``).
        embedder: embeds message texts so conversations can be searched with
            ``memory.search(namespace=<chat key>, collection=...)``; default the offline
            ``"hash:256"``.

    Example::

        from llama_index.core.memory import ChatMemoryBuffer
        from llama_index.vector_stores.omega_memory import OmegaChatStore

        chat_store = OmegaChatStore(Memory(".omega-memory"))
        buffer = ChatMemoryBuffer.from_defaults(chat_store=chat_store, chat_store_key="user-7")
        buffer.put(ChatMessage(role="user", content="hi"))
    """

    collection: str = Field(default=DEFAULT_CHAT_COLLECTION, description="Memory collection of the conversations.")
    _memory: Memory = PrivateAttr()
    _embedder: Embedder | str | None = PrivateAttr(default=None)

    def __init__(
        self, memory: Memory, *, collection: str = DEFAULT_CHAT_COLLECTION, embedder: Embedder | str | None = None
    ) -> None:
        super().__init__(collection=collection)
        self._memory = memory
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "OmegaChatStore"

    @property
    def memory(self) -> Memory:
        return self._memory

    def _conversation(self, key: str) -> Conversation:
        return Conversation(self._memory, key, collection=self.collection, embedder=self._embedder)

    @writes_as(ORIGIN)
    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the history of ``key`` with ``messages`` (one commit)."""
        self._conversation(key).replace([_item(m) for m in messages])

    @writes_as(ORIGIN)
    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        await self._conversation(key).areplace([_item(m) for m in messages])

    def get_messages(self, key: str, **kwargs: Any) -> list[ChatMessage]:
        """The history of ``key``, oldest first (empty for an unknown key)."""
        return _messages(self._conversation(key).messages())

    async def aget_messages(self, key: str, **kwargs: Any) -> list[ChatMessage]:
        return _messages(await self._conversation(key).amessages())

    @writes_as(ORIGIN)
    def add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        """Append ``message``; with ``idx``, insert it there instead (the history is rewritten)."""
        conversation = self._conversation(key)
        if idx is None:
            conversation.append([_item(message)])
            return
        items = [_item(m) for m in _messages(conversation.messages())]
        items.insert(idx, _item(message))
        conversation.replace(items)

    @writes_as(ORIGIN)
    async def async_add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        conversation = self._conversation(key)
        if idx is None:
            await conversation.aappend([_item(message)])
            return
        items = [_item(m) for m in _messages(await conversation.amessages())]
        items.insert(idx, _item(message))
        await conversation.areplace(items)

    @writes_as(ORIGIN)
    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Erase the history of ``key`` (one event) and return it; ``None`` if there was none."""
        conversation = self._conversation(key)
        messages = _messages(conversation.messages())
        if not messages and key not in Conversation.keys(self._memory, self.collection):
            return None
        conversation.clear()
        return messages

    @writes_as(ORIGIN)
    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        conversation = self._conversation(key)
        messages = _messages(await conversation.amessages())
        if not messages and key not in await Conversation.akeys(self._memory, self.collection):
            return None
        await conversation.aclear()
        return messages

    @writes_as(ORIGIN)
    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Remove and return the message at ``idx`` (negative counts from the end); ``None`` if out of range."""
        return _one(self._conversation(key).delete_at(idx))

    @writes_as(ORIGIN)
    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        return _one(await self._conversation(key).adelete_at(idx))

    @writes_as(ORIGIN)
    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Remove and return the last message; ``None`` for an empty history."""
        return _one(self._conversation(key).delete_at(-1))

    @writes_as(ORIGIN)
    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        return _one(await self._conversation(key).adelete_at(-1))

    def get_keys(self) -> list[str]:
        """Every chat key with a history (set or added to, and not deleted since)."""
        return Conversation.keys(self._memory, self.collection)

    async def aget_keys(self) -> list[str]:
        return await Conversation.akeys(self._memory, self.collection)
