"""A third-party omega-memory plugin, as a package author would write one.

It provides the embedder ``shout:<dim>`` (letters counted into ``dim`` buckets: deterministic,
no model) and redacts the word "secret" from memories before they reach the log.

Example::

    from omega_memory_plugin import Memory

    with Memory("./mem", embedder="shout:8") as memory:
        memory.upsert("my secret plan")  # stored as "my [redacted] plan"
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from omega_memory_plugin import Settings, hookimpl
from omega_memory_plugin.events import Event, MemoryUpsertedEvent

_SECRET = re.compile(r"secret", re.IGNORECASE)


class ShoutEmbedder:
    """Counts the upper-cased letters of a text into ``dimension`` buckets, L2-normalised."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.name = f"shout:{dimension}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> list[float]:
        counts = [0.0] * self.dimension
        for char in text.upper():
            if char.isalpha():
                counts[ord(char) % self.dimension] += 1.0
        norm = math.sqrt(sum(c * c for c in counts)) or 1.0
        return [c / norm for c in counts]


@hookimpl
def omega_memory_embedder(name: str, settings: Settings) -> ShoutEmbedder | None:
    kind, _, size = name.partition(":")
    if kind != "shout" or not size.isdigit() or int(size) < 2:
        return None
    return ShoutEmbedder(int(size))


@hookimpl
def omega_memory_before_append(events: Sequence[Event]) -> list[Event] | None:
    if not any(isinstance(e, MemoryUpsertedEvent) and _SECRET.search(e.data.text) for e in events):
        return None  # nothing to redact: leave the commit as it is
    return [_redacted(e) for e in events]


def _redacted(event: Event) -> Event:
    if not isinstance(event, MemoryUpsertedEvent):
        return event
    text = _SECRET.sub("[redacted]", event.data.text)
    return event.model_copy(update={"data": event.data.model_copy(update={"text": text})})
