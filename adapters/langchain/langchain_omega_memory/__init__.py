"""LangChain integration for omega-memory-plugin: an event-sourced vector store and chat history."""

from .chat_message_histories import OmegaChatMessageHistory
from .embeddings import OmegaHashEmbeddings
from .vectorstores import OmegaMemoryVectorStore, RetrievalMode

__all__ = ["OmegaChatMessageHistory", "OmegaHashEmbeddings", "OmegaMemoryVectorStore", "RetrievalMode"]
