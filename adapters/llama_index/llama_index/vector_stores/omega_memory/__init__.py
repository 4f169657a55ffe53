"""LlamaIndex integration for omega-memory-plugin: an event-sourced vector store and chat store.

Example::

    from omega_memory_plugin import Memory
    from llama_index.vector_stores.omega_memory import OmegaMemoryVectorStore, OmegaChatStore

    memory = Memory(".omega-memory")
    vector_store = OmegaMemoryVectorStore(memory, namespace="user-7")
    chat_store = OmegaChatStore(memory)
"""

from llama_index.vector_stores.omega_memory.base import OmegaMemoryVectorStore
from llama_index.vector_stores.omega_memory.chat_store import OmegaChatStore
from llama_index.vector_stores.omega_memory.embeddings import OmegaHashEmbedding
from llama_index.vector_stores.omega_memory.omega_embedder import LlamaIndexEmbedder

__all__ = ["LlamaIndexEmbedder", "OmegaChatStore", "OmegaHashEmbedding", "OmegaMemoryVectorStore"]
