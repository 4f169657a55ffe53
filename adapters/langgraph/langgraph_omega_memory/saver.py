"""``OmegaSaver``: LangGraph's checkpointer (``BaseCheckpointSaver``) on an omega event log.

Each checkpoint, channel value and pending write is a record of :mod:`.saver_records`, written
by one atomic commit of the log: a crash never leaves half a checkpoint, the thread's whole
history is in the log (``memory.history``, ``memory.as_of``), and ``memory.rebuild()`` brings
the same threads back. Deleting a thread, the checkpoints of some runs, or pruning a thread are
deletes in the log like any other.

Every operation is written once, async, and runs on the memory's engine; the sync methods wait
for it (:meth:`omega_memory_plugin.Memory.run`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from omega_memory_plugin import Memory
from omega_memory_plugin.errors import InvalidInputError
from omega_memory_plugin.origin import writes_as
from omega_memory_plugin.records import MemoryRecord

from . import saver_records as rec
from .json_fields import translate
from .opening import ORIGIN, memory_for

# Aliases: inside the class, ``list`` is the method LangGraph names so.
Records = list[MemoryRecord]
Tuples = list[CheckpointTuple]
Threads = list[Any]
Conditions = dict[str, Any] | list[dict[str, Any]]


class OmegaSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer whose threads live in an omega memory.

    Example::

        from langgraph_omega_memory import OmegaSaver

        with OmegaSaver(path="./agent-memory") as saver:
            graph = builder.compile(checkpointer=saver)
            graph.invoke({"messages": [...]}, {"configurable": {"thread_id": "ada-1"}})

    ``memory`` is an open :class:`~omega_memory_plugin.Memory` (the saver does not close it), or
    pass ``path=`` / ``log_url=`` / ``index_url=`` and other ``Memory`` options to open one that
    :meth:`close` closes. Records go to omega namespace ``namespace``, collection ``collection``.
    ``serde`` is LangGraph's serializer (default: its msgpack ``JsonPlusSerializer``).
    """

    def __init__(
        self,
        memory: Memory | None = None,
        *,
        path: str | Path | None = None,
        serde: SerializerProtocol | None = None,
        namespace: str = "langgraph",
        collection: str = "langgraph_checkpoints",
        **memory_options: Any,
    ) -> None:
        super().__init__(serde=serde)
        self.memory, self._owns_memory = memory_for(memory, path, memory_options)
        self.namespace = namespace
        self.collection = collection

    def close(self) -> None:
        """Close the memory if this saver opened it."""
        if self._owns_memory:
            self.memory.close()

    def __enter__(self) -> OmegaSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> OmegaSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # -- BaseCheckpointSaver: sync twins -----------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.memory.run(self._get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self.memory.run(self._list(config, filter, before, limit))

    @writes_as(ORIGIN)
    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.memory.run(self._put(config, checkpoint, metadata, new_versions))

    @writes_as(ORIGIN)
    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.memory.run(self._put_writes(config, writes, task_id, task_path))

    @writes_as(ORIGIN)
    def delete_thread(self, thread_id: str) -> None:
        self.memory.run(self._delete([thread_id]))

    @writes_as(ORIGIN)
    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.memory.run(self._delete_for_runs(list(run_ids)))

    @writes_as(ORIGIN)
    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.memory.run(self._copy_thread(source_thread_id, target_thread_id))

    @writes_as(ORIGIN)
    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self.memory.run(self._prune(list(thread_ids), strategy))

    # -- and the async ones ------------------------------------------------------------------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self.memory.arun(self._get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for found in await self.memory.arun(self._list(config, filter, before, limit)):
            yield found

    @writes_as(ORIGIN)
    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self.memory.arun(self._put(config, checkpoint, metadata, new_versions))

    @writes_as(ORIGIN)
    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self.memory.arun(self._put_writes(config, writes, task_id, task_path))

    @writes_as(ORIGIN)
    async def adelete_thread(self, thread_id: str) -> None:
        await self.memory.arun(self._delete([thread_id]))

    @writes_as(ORIGIN)
    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self.memory.arun(self._delete_for_runs(list(run_ids)))

    @writes_as(ORIGIN)
    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self.memory.arun(self._copy_thread(source_thread_id, target_thread_id))

    @writes_as(ORIGIN)
    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self.memory.arun(self._prune(list(thread_ids), strategy))

    def get_next_version(self, current: str | None, channel: None) -> str:
        """Versions that sort as they grow (as LangGraph's own savers make them)."""
        number = 0 if current is None else int(str(current).split(".")[0])
        return f"{number + 1:032}.{random.random():016}"

    # -- one implementation of each operation ----------------------------------------------------

    async def _scan(self, conditions: Conditions) -> Records:
        parts = [{k: v} for k, v in conditions.items()] if isinstance(conditions, dict) else conditions
        spec = parts[0] if len(parts) == 1 else {"$and": parts}
        return await self.memory.ascan(filter=spec, limit=None, namespace=self.namespace, collection=self.collection)

    async def _get(self, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        if not ids:
            return {}
        found = await self.memory.aget(list(dict.fromkeys(ids)), namespace=self.namespace, collection=self.collection)
        return {r.id: r for r in found}

    async def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread, ns = _thread(config), config["configurable"].get("checkpoint_ns", "")
        if checkpoint := get_checkpoint_id(config):
            found = list((await self._get([rec.checkpoint_id(thread, ns, checkpoint)])).values())
        else:
            found = await self._latest(thread, ns)
        tuples = await self._tuples(found)
        return tuples[0] if tuples else None

    async def _latest(self, thread: Any, ns: str) -> Records:
        """The newest checkpoint of a thread's namespace: the one its head names, or (no head, or
        its checkpoint deleted since, by delete_for_runs) the newest found by a scan."""
        head = (await self._get([rec.head_id(thread, ns)])).get(rec.head_id(thread, ns))
        if head is not None:
            named = await self._get([rec.checkpoint_id(thread, ns, head.metadata["checkpoint"])])
            if named:
                return list(named.values())
        return _newest_first(await self._scan({"kind": "checkpoint", "thread": thread, "ns": ns}))[:1]

    async def _tuples(self, records: Records) -> Tuples:
        """Checkpoint records as tuples, with their channel values and pending writes (one read of
        each, whatever the number of records)."""
        if not records:
            return []
        bodies = [rec.body(r, self.serde) for r in records]
        blobs = await self._get([i for r, b in zip(records, bodies, strict=True) for i in rec.blob_ids(r, b)])
        pending: dict[tuple[Any, str, str], Records] = defaultdict(list)
        threads = list({r.metadata["thread"] for r in records})
        checkpoints = list({r.metadata["checkpoint"] for r in records})
        for write in await self._scan(
            [{"kind": "write"}, {"thread": {"$in": threads}}, {"checkpoint": {"$in": checkpoints}}]
        ):
            meta = write.metadata
            pending[(meta["thread"], meta["ns"], meta["checkpoint"])].append(write)
        tuples = []
        for record, body in zip(records, bodies, strict=True):
            meta = record.metadata
            writes = sorted(
                pending[(meta["thread"], meta["ns"], meta["checkpoint"])],
                key=lambda w: writes_sort_key(w.metadata["path"], w.metadata["task"], w.metadata["idx"]),
            )
            tuples.append(rec.to_tuple(record, body, blobs, writes, self.serde))
        return tuples

    async def _list(
        self,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Tuples:
        conditions: list[dict[str, Any]] = [{"kind": "checkpoint"}]
        if config is not None:
            conditions.append({"thread": _thread(config)})
            if (ns := config["configurable"].get("checkpoint_ns")) is not None:
                conditions.append({"ns": ns})
            if checkpoint := get_checkpoint_id(config):
                conditions.append({"checkpoint": checkpoint})
        conditions += translate(filter, rec.METADATA)
        found = _newest_first(await self._scan(conditions))
        if before is not None and (bound := get_checkpoint_id(before)):
            found = [r for r in found if r.metadata["checkpoint"] < bound]
        if limit is not None:
            found = found[: max(limit, 0)]
        return await self._tuples(found)

    async def _put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread, ns = _thread(config), config["configurable"].get("checkpoint_ns", "")
        body: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = body.pop("channel_values", {})
        stored_metadata = get_checkpoint_metadata(config, metadata)
        head = (await self._get([rec.head_id(thread, ns)])).get(rec.head_id(thread, ns))
        transaction = self.memory.transaction()
        if head is None or head.metadata["checkpoint"] < checkpoint["id"]:  # ids sort as they were made
            transaction.upsert(
                "head",
                id=rec.head_id(thread, ns),
                vectors=rec.VECTOR,
                metadata=rec.head_metadata(thread, ns, checkpoint["id"]),
                namespace=self.namespace,
                collection=self.collection,
            )
        transaction.upsert(
            f"checkpoint {checkpoint['id']}",
            id=rec.checkpoint_id(thread, ns, checkpoint["id"]),
            vectors=rec.VECTOR,
            metadata=rec.checkpoint_metadata(
                thread,
                ns,
                checkpoint["id"],
                config["configurable"].get("checkpoint_id"),
                self.serde.dumps_typed(body),
                stored_metadata,
                self.serde.dumps_typed(stored_metadata),
            ),
            namespace=self.namespace,
            collection=self.collection,
        )
        for channel, version in new_versions.items():
            value = self.serde.dumps_typed(values[channel]) if channel in values else ("empty", b"")
            transaction.upsert(
                f"channel {channel}",
                id=rec.blob_id(thread, ns, channel, version),
                vectors=rec.VECTOR,
                metadata=rec.blob_metadata(thread, ns, channel, version, value),
                namespace=self.namespace,
                collection=self.collection,
            )
        await transaction.acommit()
        return rec.config_of(thread, ns, checkpoint["id"])

    async def _put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> None:
        thread, ns = _thread(config), config["configurable"].get("checkpoint_ns", "")
        checkpoint = get_checkpoint_id(config)
        if not checkpoint:
            raise InvalidInputError("put_writes needs the config of a saved checkpoint (with its checkpoint_id)")
        indexed = [(WRITES_IDX_MAP.get(channel, n), channel, value) for n, (channel, value) in enumerate(writes)]
        ids = [rec.write_id(thread, ns, checkpoint, task_id, idx) for idx, _, _ in indexed]
        # A regular write already saved is kept (a task's writes are saved once); the special
        # ones (errors, interrupts: negative indexes) replace what was there.
        existing = await self._get([i for i, (idx, _, _) in zip(ids, indexed, strict=True) if idx >= 0])
        transaction = self.memory.transaction()
        for record_id, (idx, channel, value) in zip(ids, indexed, strict=True):
            if record_id in existing:
                continue
            transaction.upsert(
                f"write {channel}",
                id=record_id,
                vectors=rec.VECTOR,
                metadata=rec.write_metadata(
                    thread, ns, checkpoint, task_id, idx, channel, task_path, self.serde.dumps_typed(value)
                ),
                namespace=self.namespace,
                collection=self.collection,
            )
        if len(transaction):
            await transaction.acommit()

    async def _delete_records(self, records: Records) -> None:
        if records:
            await self.memory.adelete([r.id for r in records], namespace=self.namespace, collection=self.collection)

    async def _delete(self, threads: Threads) -> None:
        if threads:
            await self._delete_records(await self._scan({"thread": {"$in": threads}}))

    async def _delete_for_runs(self, run_ids: Threads) -> None:
        if not run_ids:
            return
        doomed = await self._scan([{"kind": "checkpoint"}, {"run": {"$in": run_ids}}])
        if not doomed:
            return
        keys = {(r.metadata["thread"], r.metadata["ns"], r.metadata["checkpoint"]) for r in doomed}
        writes = await self._scan(
            [
                {"kind": "write"},
                {"thread": {"$in": list({k[0] for k in keys})}},
                {"checkpoint": {"$in": list({k[2] for k in keys})}},
            ]
        )
        await self._delete_records(
            doomed + [w for w in writes if (w.metadata["thread"], w.metadata["ns"], w.metadata["checkpoint"]) in keys]
        )

    async def _copy_thread(self, source: Any, target: Any) -> None:
        records = await self._scan({"thread": source})
        if not records:
            return
        transaction = self.memory.transaction()
        for record in records:
            meta = {**record.metadata, "thread": target}
            transaction.upsert(
                record.text,
                id=_record_id(meta),
                vectors=rec.VECTOR,
                metadata=meta,
                namespace=self.namespace,
                collection=self.collection,
            )
        await transaction.acommit()

    async def _prune(self, thread_ids: Threads, strategy: str) -> None:
        if strategy == "delete":
            await self._delete(thread_ids)
            return
        if strategy != "keep_latest":
            raise InvalidInputError(f"strategy is 'keep_latest' or 'delete', got {strategy!r}")
        if not thread_ids:
            return
        records = await self._scan({"thread": {"$in": thread_ids}})
        checkpoints = [r for r in records if r.metadata["kind"] == "checkpoint"]
        latest: dict[tuple[Any, str], MemoryRecord] = {}
        for record in _newest_first(checkpoints):
            latest.setdefault((record.metadata["thread"], record.metadata["ns"]), record)
        kept = {r.id for r in latest.values()} | {r.id for r in records if r.metadata["kind"] == "head"}
        kept |= {i for r in latest.values() for i in rec.blob_ids(r, rec.body(r, self.serde))}
        kept_checkpoints = {(r.metadata["thread"], r.metadata["ns"], r.metadata["checkpoint"]) for r in latest.values()}
        kept |= {
            r.id
            for r in records
            if r.metadata["kind"] == "write"
            and (r.metadata["thread"], r.metadata["ns"], r.metadata["checkpoint"]) in kept_checkpoints
        }
        await self._delete_records([r for r in records if r.id not in kept])


def _thread(config: RunnableConfig) -> Any:
    try:
        thread = config["configurable"]["thread_id"]
    except KeyError:
        raise InvalidInputError(
            "the config names no thread: pass {'configurable': {'thread_id': ...}} to the graph"
        ) from None
    return thread


def _newest_first(records: Records) -> Records:
    # Checkpoint ids are uuid6 strings: they sort as they were created.
    return sorted(records, key=lambda r: r.metadata["checkpoint"], reverse=True)


def _record_id(meta: dict[str, Any]) -> str:
    """A record's id from its fields (a copied record gets the id its new thread gives it)."""
    kind, thread, ns = meta["kind"], meta["thread"], meta["ns"]
    if kind == "checkpoint":
        return rec.checkpoint_id(thread, ns, meta["checkpoint"])
    if kind == "blob":
        return rec.blob_id(thread, ns, meta["channel"], meta["version"])
    if kind == "head":
        return rec.head_id(thread, ns)
    return rec.write_id(thread, ns, meta["checkpoint"], meta["task"], meta["idx"])
