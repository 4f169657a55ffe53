"""omega-memory-plugin: event-sourced memory for agent frameworks.

Every change is an immutable event in a durable log; a projector applies the log to a Qdrant
index; the index can be rebuilt from the log at any time.
"""

from .errors import (
    AppendVetoedError,
    ConcurrencyError,
    DirectoryLockedError,
    EmbedderError,
    EmbeddingModelError,
    EventLogError,
    FilterError,
    IdempotencyKeyError,
    IndexUnavailableError,
    InvalidIdError,
    InvalidInputError,
    InvalidMetadataError,
    InvalidTextError,
    InvalidVectorError,
    KeyStoreError,
    MemoryClosedError,
    MissingExtraError,
    OmegaMemoryError,
    ProjectorModeError,
    ReadOnlyMemoryError,
    TimeOrderError,
    UnsupportedBackendError,
    UnsupportedFilterError,
)
from .events import Distance, Event
from .forgetting import ForgetReport
from .hookspecs import hookimpl
from .importing import ImportReport
from .lineage import Explanation
from .memory import Memory
from .origin import writing_as
from .records import MemoryRecord
from .reembedding import ReembedReport
from .retention import CompactReport
from .settings import Settings
from .verification import VerifyReport

__all__ = [
    "AppendVetoedError",
    "CompactReport",
    "ConcurrencyError",
    "DirectoryLockedError",
    "Distance",
    "EmbedderError",
    "EmbeddingModelError",
    "Event",
    "Explanation",
    "EventLogError",
    "FilterError",
    "ForgetReport",
    "IdempotencyKeyError",
    "ImportReport",
    "IndexUnavailableError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidMetadataError",
    "InvalidTextError",
    "InvalidVectorError",
    "KeyStoreError",
    "Memory",
    "MemoryClosedError",
    "MissingExtraError",
    "MemoryRecord",
    "OmegaMemoryError",
    "ProjectorModeError",
    "ReadOnlyMemoryError",
    "ReembedReport",
    "Settings",
    "TimeOrderError",
    "VerifyReport",
    "UnsupportedBackendError",
    "UnsupportedFilterError",
    "hookimpl",
    "writing_as",
]
__version__ = "0.1.0"
