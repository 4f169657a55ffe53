"""LangChain chat message history kept as an omega memory event stream.

Each message appended is a ``memory.upserted`` event of its conversation; ``clear()`` is one
``namespace.erased`` event; messages are read back in log order, exactly as they were written
(LangChain's own ``message_to_dict`` form is what is stored).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from omega_memory_plugin import Memory
from omega_memory_plugin.conversation import DEFAULT_CHAT_COLLECTION, Conversation
from omega_memory_plugin.embeddings import Embedder
from omega_memory_plugin.origin import writes_as

from .vectorstores import ORIGIN


class OmegaChatMessageHistory(BaseChatMessageHistory):
    """The messages of one chat session, stored in a :class:`~omega_memory_plugin.Memory`.

    Args:
        session_id: the conversation's key. Sessions are namespaces of the ``chat`` collection,
            so make the id unique across users (e.g. ``f"{user_id}:{thread_id}"``).
        memory: where the conversation is kept.
        collection: the collection holding conversations (default ``"chat"``).
        embedder: embeds message texts so a conversation can be searched; default the offline
            ``"hash:256"`` embedder (no model call per message).

    Example (the history a chain's prompt reads; ``RunnableWithMessageHistory``, which
    langchain-core 1.x deprecates, still takes it too)::

        memory = Memory(".omega-memory")
        history = OmegaChatMessageHistory("ada:thread-1", memory)
        history.add_messages([HumanMessage("I'm Ada"), AIMessage("Hello Ada")])
        answer = chain.invoke({"question": "what is my name?", "history": history.messages})
    """

    def __init__(
        self,
        session_id: str,
        memory: Memory,
        *,
        collection: str = DEFAULT_CHAT_COLLECTION,
        embedder: Embedder | str | None = None,
    ) -> None:
        self.session_id = session_id
        self.conversation = Conversation(memory, session_id, collection=collection, embedder=embedder)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """Every message of the session, oldest first."""
        return messages_from_dict(self.conversation.messages())

    async def aget_messages(self) -> list[BaseMessage]:
        return messages_from_dict(await self.conversation.amessages())

    @writes_as(ORIGIN)
    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages, all in one atomic commit."""
        self.conversation.append(_items(messages))

    @writes_as(ORIGIN)
    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await self.conversation.aappend(_items(messages))

    @writes_as(ORIGIN)
    def clear(self) -> None:
        """Forget the session's messages (one ``namespace.erased`` event; the log keeps the past)."""
        self.conversation.clear()

    @writes_as(ORIGIN)
    async def aclear(self) -> None:
        await self.conversation.aclear()


def _items(messages: Sequence[BaseMessage]) -> list[tuple[str, dict[str, Any]]]:
    items = []
    for message in messages:
        if not isinstance(message, BaseMessage):
            raise TypeError(f"chat history takes LangChain messages, got {type(message).__name__}")
        items.append((_text(message), message_to_dict(message)))
    return items


def _text(message: BaseMessage) -> str:
    # BaseMessage.text is a property (a str) in langchain-core 1.x and a method before it.
    text = message.text
    return str(text) if isinstance(text, str) else text()
