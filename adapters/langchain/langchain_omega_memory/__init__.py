"""LangChain integration for omega-memory-plugin: an event-sourced vector store and chat history."""

from .chat_message_histories import OmegaChatMessageHistory
from .embeddings import OmegaHashEmbeddings
from .omega_embedder import LangChainEmbedder
from .vectorstores import OmegaMemoryVectorStore, RetrievalMode

__all__ = [
    "LangChainEmbedder",
    "OmegaChatMessageHistory",
    "OmegaHashEmbeddings",
    "OmegaMemoryVectorStore",
    "RetrievalMode",
]
