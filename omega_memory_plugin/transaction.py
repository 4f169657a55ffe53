"""Batched writes: a transaction commits many writes as one atomic append; a buffered writer
commits automatically by size or time for bulk ingestion."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .events import CollectionCreated
from .staging import (
    DEFAULT_VECTOR,
    StagedWrite,
    VectorsInput,
    check_dimensions,
    embed_missing,
    stage_delete,
    stage_erase,
    vector_sizes,
)

if TYPE_CHECKING:
    from .events import Event
    from .memory import Memory


class _Stager:
    """The write methods of a batch: each checks its input at once, so a bad write raises at the
    line that made it, before the batch is committed."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory
        self._writes: list[StagedWrite] = []
        self.idempotency_key: str | None = None  # a Transaction's, if it was given one
        # Dimensions of collections first written by this batch, so a mismatch raises when staged.
        self._dimensions: dict[str, CollectionCreated] = {}

    def _add(self, write: StagedWrite) -> None:
        self._writes.append(write)

    def _check_dimensions(self, write: StagedWrite) -> None:
        """Raise now, at the line that staged it, if the write's vectors cannot fit its collection
        (the commit checks again against the log, which another process may have changed)."""
        sizes = vector_sizes(write)
        embedder = self._memory.embedder_for(write.collection)
        if not sizes and embedder is not None:
            sizes = {DEFAULT_VECTOR: embedder.dimension}  # embedded at commit, at this size
        schema = self._memory.collections().get(write.collection) or self._dimensions.get(write.collection)
        if schema is None:
            self._dimensions[write.collection] = CollectionCreated(vectors=sizes)
        else:
            check_dimensions(sizes, schema, write.collection, write.memory_id)

    def upsert(
        self,
        text: str,
        *,
        id: str | None = None,
        vectors: VectorsInput | None = None,
        metadata: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        collection: str | None = None,
        expected_version: int | None = None,
        embedding_model: str | None = None,
        ttl: float | timedelta | None = None,
        expires_at: datetime | None = None,
        subject: str | None = None,
    ) -> str:
        """Stage a memory write (same arguments as :meth:`Memory.upsert`); return its id."""
        write = self._memory._stage_upsert(
            text,
            id=id,
            vectors=vectors,
            metadata=metadata,
            namespace=namespace,
            collection=collection,
            expected_version=expected_version,
            embedding_model=embedding_model,
            ttl=ttl,
            expires_at=expires_at,
            subject=subject,
            idempotency_key=self.idempotency_key,
            index=len(self._writes),
        )
        self._check_dimensions(write)
        self._add(write)
        return write.memory_id

    def delete(self, ids: str | Sequence[str], *, namespace: str | None = None, collection: str | None = None) -> None:
        namespace, collection = self._memory._scope(namespace, collection)
        for memory_id in [ids] if isinstance(ids, str) else ids:
            self._add(stage_delete(memory_id, namespace, collection))

    def erase_namespace(self, namespace: str, *, collection: str | None = None) -> None:
        namespace, collection = self._memory._scope(namespace, collection)
        self._add(stage_erase(namespace, collection))

    def _take(self) -> list[StagedWrite]:
        writes, self._writes = self._writes, []
        for collection in {w.collection for w in writes}:  # one embedder call per collection
            embed_missing([w for w in writes if w.collection == collection], self._memory.embedder_for(collection))
        return writes


class Transaction(_Stager):
    """All staged writes are appended as one commit: all of them, or none if the block raises.

    Works as ``with memory.transaction() as tx:`` and ``async with memory.transaction() as tx:``.
    With an idempotency key, a retried commit writes nothing (:mod:`..idempotency`).
    """

    def __init__(self, memory: Memory, idempotency_key: str | None = None) -> None:
        super().__init__(memory)
        self.events: list[Event] = []
        self.idempotency_key = idempotency_key

    def __len__(self) -> int:
        return len(self._writes)

    def commit(self) -> list[Event]:
        self.events = self._memory._ready_engine().run(self._memory._commit(self._take(), self.idempotency_key))
        return self.events

    async def acommit(self) -> list[Event]:
        self.events = await self._memory._ready_engine().arun(self._memory._commit(self._take(), self.idempotency_key))
        return self.events

    def rollback(self) -> None:
        self._writes.clear()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    async def __aenter__(self) -> Transaction:
        return self

    async def __aexit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            await self.acommit()
        else:
            self.rollback()


class BufferedWriter(_Stager):
    """Collects writes and commits them in batches of ``batch_size``, or after ``flush_seconds``
    since the first unflushed write, and on :meth:`close`.

    A commit failure in the background (rare: input is checked when staged) is raised by the
    next call to the writer.

    Example::

        with memory.writer(batch_size=1000) as w:
            for doc in docs:
                w.upsert(doc.text, id=doc.id, vectors=doc.vector)
    """

    def __init__(self, memory: Memory, batch_size: int = 1000, flush_seconds: float = 1.0) -> None:
        super().__init__(memory)
        if batch_size < 1 or flush_seconds <= 0:
            raise ValueError("batch_size must be >= 1 and flush_seconds > 0")
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.written = 0
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._failure: BaseException | None = None

    def _add(self, write: StagedWrite) -> None:
        with self._lock:
            self._raise_failure()
            self._writes.append(write)
            if len(self._writes) >= self.batch_size:
                self.flush()
            elif self._timer is None:
                self._timer = threading.Timer(self.flush_seconds, self._flush_in_background)
                self._timer.daemon = True
                self._timer.start()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        except BaseException as exc:  # surfaced by the next call on the writer
            self._failure = exc

    def flush(self) -> int:
        """Commit what is buffered now; return how many writes were committed."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._writes:
                return 0
            writes = self._take()
            self._memory._ready_engine().run(self._memory._commit(writes))
            self.written += len(writes)
            return len(writes)

    def close(self) -> None:
        with self._lock:
            self._raise_failure()
            self.flush()

    def discard(self) -> int:
        """Drop what is buffered and not yet committed; return how many writes were dropped."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            dropped, self._writes = len(self._writes), []
            return dropped

    def __enter__(self) -> BufferedWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        # A block that raised commits nothing more: what was buffered since the last commit is
        # dropped, as a transaction would be (batches already committed stay committed).
        if exc_type is None:
            self.close()
        else:
            self.discard()
