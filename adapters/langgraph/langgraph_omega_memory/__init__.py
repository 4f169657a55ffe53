"""LangGraph on omega-memory-plugin: a long-term memory store and a checkpointer whose every write
is an event in omega's log.

* :class:`OmegaStore` (``BaseStore``): namespaced items with semantic search, filters and TTL.
* :class:`OmegaSaver` (``BaseCheckpointSaver``): thread state, pending writes, time travel.
"""

from .saver import OmegaSaver
from .store import OmegaStore

__all__ = ["OmegaSaver", "OmegaStore"]
