"""The exceptions users catch.

Every error the library raises on purpose derives from :class:`OmegaMemoryError`. Errors caused by
bad input also derive from :class:`ValueError`, so framework code that catches ``ValueError``
(LangChain, LlamaIndex) handles them without knowing this package. Driver errors are translated at
the boundary with ``raise ... from exc`` so the cause stays visible.
"""

from __future__ import annotations


class OmegaMemoryError(Exception):
    """Root of every error raised by omega-memory-plugin."""


class InvalidInputError(OmegaMemoryError, ValueError):
    """A write or query was rejected before anything was written."""


class InvalidVectorError(InvalidInputError):
    """A vector has the wrong dimension, a non-finite value, or is not a flat list of numbers."""


class EmbeddingModelError(InvalidVectorError):
    """Vectors of one embedding model were written to, or searched in, a collection that holds
    another model's: their scores would mean nothing. The message names both models."""


class InvalidTextError(InvalidInputError):
    """Text is missing, not a string, or larger than the configured limit."""


class InvalidMetadataError(InvalidInputError):
    """Metadata is not a JSON object with string keys and JSON-serialisable values."""


class InvalidIdError(InvalidInputError):
    """A memory id is empty, not a string, or too long."""


class FilterError(InvalidInputError):
    """A metadata filter uses an unknown operator or a value of the wrong shape."""


class UnsupportedFilterError(FilterError):
    """The index cannot evaluate this filter (e.g. a server version without the condition it
    needs); it raises instead of answering something else."""


class ConcurrencyError(OmegaMemoryError):
    """A write expected a memory at one version and found another.

    Attributes name the memory and both versions so a caller can reload and retry.
    """

    def __init__(self, memory_id: str, expected: int, actual: int, namespace: str = "") -> None:
        self.memory_id = memory_id
        self.expected = expected
        self.actual = actual
        self.namespace = namespace
        super().__init__(
            f"memory {memory_id!r} (namespace {namespace!r}) is at version {actual}, "
            f"but the write expected version {expected}; reload it with history()/get() and retry"
        )


class IdempotencyKeyError(OmegaMemoryError, ValueError):
    """An idempotency key was used before for a different write: a retry must carry the same
    content, and a new write a new key. Nothing was written."""


class TimeOrderError(InvalidInputError):
    """Events given with a time of their own (an import) would be recorded before the log's last
    event: times never go back along positions. Import into an empty memory, or record the events
    at the time of the import (``keep_times=False``, ``omega-memory import --record-now``)."""


class AppendVetoedError(OmegaMemoryError):
    """A ``before_append`` plugin refused the write; nothing was appended."""


class UnsupportedBackendError(OmegaMemoryError):
    """No installed plugin provides a log, index or embedder for the given URL or name."""


class MissingExtraError(UnsupportedBackendError, ImportError):
    """A backend's optional dependencies are not installed; the message names the extra, e.g.
    ``pip install 'omega-memory-plugin[mongo]'``."""


class ReadOnlyMemoryError(OmegaMemoryError):
    """A write was attempted on a read-only (point-in-time) memory."""


class ProjectorModeError(OmegaMemoryError):
    """The projector mode does not allow this: ``projector="external"`` with an index only one
    process can open (Qdrant Edge, in-memory, qdrant-client local mode), or a call that applies
    events to the index (``rebuild()``, ``verify(repair=True)``) in a process that leaves applying
    to a projector worker. The message says where to run it instead."""


class DirectoryLockedError(OmegaMemoryError):
    """An embedded memory directory is already open for writing (by another process, or by
    another Memory in this one). Open it with ``Memory(path, read_only=True)`` to read it."""


class MemoryClosedError(OmegaMemoryError):
    """The Memory was closed; open a new one."""


class IndexUnavailableError(OmegaMemoryError):
    """The index could not answer; writes are still safe in the log and will be projected later."""


class EmbedderError(OmegaMemoryError):
    """An embedder could not embed (a server that refused, kept failing, or answered something
    that cannot be right); the message names the server and what it said. Nothing was written."""


class EventLogError(OmegaMemoryError):
    """The event log failed to read or write; the message says what the backend reported."""


class KeyStoreError(OmegaMemoryError):
    """The data keys that seal memory content cannot be read or written (:mod:`.keys`): no plugin
    provides a key store for this log, or the store failed. Nothing was written."""
