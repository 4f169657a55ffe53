"""How LangGraph checkpoints are kept in omega: one record per checkpoint, per channel value
(blob) and per pending write, all in one collection of the saver's omega namespace.

* A *checkpoint* record holds the checkpoint without its channel values and its metadata, each as
  the saver's serializer made them (msgpack for LangGraph's default), plus the fields lists filter
  on: thread, checkpoint namespace, id, parent, run id and the filterable copy of the metadata
  (:mod:`.json_fields`).
* A *blob* record holds one channel's value at one version (as ``InMemorySaver`` keeps them: a
  checkpoint stores only the channels that changed, and names every channel's version).
* A *write* record holds one pending write of a task.
* A *head* record names the newest checkpoint of a thread's namespace, so that reading the latest
  state is one lookup, however long the thread (it is a hint: when the checkpoint it names is
  gone, the thread's checkpoints are scanned instead).

Serialized bytes travel base64-encoded in the record's metadata (omega metadata is JSON). Ids are
hashes of what identifies a record, so any thread id or namespace is safe in them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, CheckpointTuple, PendingWrite
from langgraph.checkpoint.serde.base import SerializerProtocol

from omega_memory_plugin.records import MemoryRecord

from .json_fields import filter_copy

VECTOR = [1.0]  # records are found by their fields, never by a vector (the collection has dimension 1)
METADATA = "m"  # the filterable copy of a checkpoint's metadata


def record_id(kind: str, *parts: Any) -> str:
    return hashlib.sha256(json.dumps([kind, *parts], ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def checkpoint_id(thread: Any, ns: str, checkpoint: str) -> str:
    return record_id("checkpoint", thread, ns, checkpoint)


def blob_id(thread: Any, ns: str, channel: str, version: Any) -> str:
    return record_id("blob", thread, ns, channel, version)


def write_id(thread: Any, ns: str, checkpoint: str, task: str, idx: int) -> str:
    return record_id("write", thread, ns, checkpoint, task, idx)


def head_id(thread: Any, ns: str) -> str:
    return record_id("head", thread, ns)


def head_metadata(thread: Any, ns: str, checkpoint: str) -> dict[str, Any]:
    return {"kind": "head", "thread": thread, "ns": ns, "checkpoint": checkpoint}


def pack(typed: tuple[str, bytes]) -> list[str]:
    return [typed[0], base64.b64encode(typed[1]).decode("ascii")]


def unpack(packed: list[str]) -> tuple[str, bytes]:
    return packed[0], base64.b64decode(packed[1])


def checkpoint_metadata(
    thread: Any,
    ns: str,
    checkpoint: str,
    parent: str | None,
    serialized: tuple[str, bytes],
    metadata: Mapping[str, Any],
    serialized_metadata: tuple[str, bytes],
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kind": "checkpoint",
        "thread": thread,
        "ns": ns,
        "checkpoint": checkpoint,
        "parent": parent,
        METADATA: filter_copy(metadata),
        "body": pack(serialized),
        "metadata": pack(serialized_metadata),
    }
    if isinstance(metadata.get("run_id"), str):
        fields["run"] = metadata["run_id"]
    return fields


def blob_metadata(thread: Any, ns: str, channel: str, version: Any, value: tuple[str, bytes]) -> dict[str, Any]:
    return {"kind": "blob", "thread": thread, "ns": ns, "channel": channel, "version": version, "value": pack(value)}


def write_metadata(
    thread: Any, ns: str, checkpoint: str, task: str, idx: int, channel: str, path: str, value: tuple[str, bytes]
) -> dict[str, Any]:
    return {
        "kind": "write",
        "thread": thread,
        "ns": ns,
        "checkpoint": checkpoint,
        "task": task,
        "idx": idx,
        "channel": channel,
        "path": path,
        "value": pack(value),
    }


def config_of(thread: Any, ns: str, checkpoint: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns, "checkpoint_id": checkpoint}}


def body(record: MemoryRecord, serde: SerializerProtocol) -> Checkpoint:
    """The checkpoint a record holds, without its channel values."""
    checkpoint: Checkpoint = serde.loads_typed(unpack(record.metadata["body"]))
    return checkpoint


def blob_ids(record: MemoryRecord, checkpoint: Checkpoint) -> list[str]:
    """The blobs holding the channel values of a checkpoint: one per channel, at its version."""
    thread, ns = record.metadata["thread"], record.metadata["ns"]
    return [blob_id(thread, ns, channel, version) for channel, version in checkpoint["channel_versions"].items()]


def to_tuple(
    record: MemoryRecord,
    checkpoint: Checkpoint,
    blobs: Mapping[str, MemoryRecord],
    writes: list[MemoryRecord],
    serde: SerializerProtocol,
) -> CheckpointTuple:
    """A checkpoint record with its channel values (``blobs``, by id) and pending writes
    (``writes``, in LangGraph's order) as the tuple LangGraph reads."""
    meta = record.metadata
    thread, ns = meta["thread"], meta["ns"]
    values: dict[str, Any] = {}
    for channel, version in checkpoint["channel_versions"].items():
        blob = blobs.get(blob_id(thread, ns, channel, version))
        if blob is not None and blob.metadata["value"][0] != "empty":
            values[channel] = serde.loads_typed(unpack(blob.metadata["value"]))
    pending: list[PendingWrite] = [
        (w.metadata["task"], w.metadata["channel"], serde.loads_typed(unpack(w.metadata["value"]))) for w in writes
    ]
    return CheckpointTuple(
        config=config_of(thread, ns, meta["checkpoint"]),
        checkpoint={**checkpoint, "channel_values": values},
        metadata=serde.loads_typed(unpack(meta["metadata"])),
        parent_config=config_of(thread, ns, meta["parent"]) if meta["parent"] else None,
        pending_writes=pending,
    )
