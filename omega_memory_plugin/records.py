"""What reads return: one stored memory, with its score when it came from a search."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """A memory as the index holds it.

    ``version`` counts the writes to this memory (1 for the first); ``position`` is the log
    position of the event that produced this state; ``score`` is set on search results only.
    """

    id: str
    text: str
    metadata: dict[str, Any]
    namespace: str
    collection: str
    version: int
    position: int
    score: float | None = None
    embedding_model: str | None = None
    vectors: dict[str, list[float]] | None = field(default=None, repr=False)
    #: when it leaves every read (None: never); set by ``upsert(..., ttl=...)`` / ``expires_at=``
    expires_at: datetime | None = None
    #: the random id of the data key that seals it in the log (:mod:`.keys`); None: stored in clear
    key: str | None = field(default=None, repr=False, compare=False)
