"""The Memory a store or saver works on: one given (the caller closes it), or one it opens from
``path=`` and ``Memory`` options (it closes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omega_memory_plugin import Memory
from omega_memory_plugin.errors import InvalidInputError

ORIGIN = "langgraph-omega-memory"  # the writer the store's and the saver's events record (memory.explain)


def memory_for(memory: Memory | None, path: str | Path | None, options: dict[str, Any]) -> tuple[Memory, bool]:
    """The memory to use, and whether the caller opened it here (so must close it)."""
    if memory is None:
        return Memory(path, **options), True
    if path is not None or options:
        raise InvalidInputError("pass a Memory, or path= and Memory options to open one, not both")
    return memory, False
