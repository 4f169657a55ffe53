"""One application process of the multi-process tests: a Memory on the shared log and index,
driven by JSON commands on stdin, one JSON reply per line on stdout.

Run by :class:`tests.processes.driver.AppProcess`; ``argv[1]`` is the Settings as JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from omega_memory_plugin import Memory, Settings


def _record(r: Any) -> dict[str, Any]:
    return {"id": r.id, "text": r.text, "version": r.version, "position": r.position, "namespace": r.namespace}


def run(memory: Memory, command: str, args: dict[str, Any]) -> Any:
    if command == "upsert":
        memory.upsert(args["text"], id=args["id"], namespace=args.get("namespace"), metadata=args.get("metadata"))
        (record,) = memory.get(args["id"], namespace=args.get("namespace"))
        return _record(record)
    if command == "delete":
        return memory.delete(args["id"], namespace=args.get("namespace"))
    if command == "erase":
        return memory.erase_namespace(args["namespace"])
    if command == "get":
        return [_record(r) for r in memory.get(args["ids"], namespace=args.get("namespace"))]
    if command == "search":
        hits = memory.search(text=args["text"], namespace=args.get("namespace"), limit=args.get("limit", 10))
        return [_record(r) for r in hits]
    if command == "scan":
        return [_record(r) for r in memory.scan(namespace=args.get("namespace"), limit=None)]
    if command == "churn":  # many small writes: upserts, deletes, an erase of another namespace
        for i in range(args["n"]):
            memory_id = f"m{i % 30}"
            if i % 5 == 4:
                memory.delete(memory_id)
            else:
                memory.upsert(f"churn {i}", id=memory_id)
            memory.upsert(f"other {i}", id=memory_id, namespace="other")
            if i == args["n"] // 2:
                memory.erase_namespace("other")
        return args["n"]
    if command == "soak":
        return soak(memory, **args)
    if command == "rebuild":
        return memory.rebuild(progress=False)
    if command == "verify":
        return memory.verify().as_dict()
    if command == "health":
        return memory.health()
    raise ValueError(f"unknown command {command!r}")


def soak(
    memory: Memory,
    name: str,
    seconds: float,
    acks: str,
    seed: int,
    erase_at: float | None = None,
    rebuild_at: float | None = None,
) -> dict[str, Any]:
    """Write and read continuously for ``seconds``: upserts of ids other processes write too,
    deletes, reads of what was written; one ``erase_namespace`` at ``erase_at`` seconds and one
    ``rebuild()`` at ``rebuild_at`` seconds, if given.

    Every acknowledged write is appended to the file ``acks`` (flushed at once, so that a process
    killed with SIGKILL leaves the record of what it was told succeeded). Every read is checked
    against what this process saw before: a memory never comes back at an older log position."""
    rng = random.Random(seed)
    seen: dict[tuple[str, str], int] = {}  # (namespace, id) -> highest position seen
    older: list[str] = []
    counts = {"upserts": 0, "deletes": 0, "reads": 0}
    started = time.monotonic()
    with open(acks, "a", encoding="utf-8") as out:
        while time.monotonic() - started < seconds:
            namespace = rng.choice(["shared", "shared", f"own-{name}"])
            memory_id = f"m{rng.randrange(20)}"
            if rebuild_at is not None and time.monotonic() - started >= rebuild_at:
                rebuild_at = None
                memory.rebuild(progress=False)
                continue
            if erase_at is not None and time.monotonic() - started >= erase_at:
                erase_at = None
                memory.erase_namespace("shared")
                out.write(json.dumps({"kind": "erase", "namespace": "shared"}) + "\n")
                out.flush()
                continue
            if rng.random() < 0.15:
                gone = memory.delete(memory_id, namespace=namespace)
                counts["deletes"] += 1
                out.write(json.dumps({"kind": "delete", "namespace": namespace, "id": memory_id, "count": gone}) + "\n")
            else:
                text = f"{name} {counts['upserts']}"
                memory.upsert(text, id=memory_id, namespace=namespace)
                counts["upserts"] += 1
                out.write(json.dumps({"kind": "upsert", "namespace": namespace, "id": memory_id, "text": text}) + "\n")
            out.flush()
            for record in memory.get([memory_id, f"m{rng.randrange(20)}"], namespace=namespace):
                counts["reads"] += 1
                key = (namespace, record.id)
                if record.position < seen.get(key, 0):
                    older.append(f"{key}: position {record.position} after {seen[key]}")
                seen[key] = max(seen.get(key, 0), record.position)
        # A write that waited long (an external-mode app whose worker lags) may have carried the
        # loop past these moments: each still happens exactly once.
        if rebuild_at is not None:
            memory.rebuild(progress=False)
        if erase_at is not None:
            memory.erase_namespace("shared")
            out.write(json.dumps({"kind": "erase", "namespace": "shared"}) + "\n")
    return {**counts, "older": older}


def main() -> None:
    settings = Settings(**json.loads(sys.argv[1]))
    with Memory(settings=settings) as memory:
        print(json.dumps({"ready": memory.health()["index"]["name"]}), flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            try:
                reply: dict[str, Any] = {"ok": run(memory, request["command"], request.get("args", {}))}
            except Exception as exc:  # reported to the test, which decides
                reply = {"error": type(exc).__name__, "message": str(exc)}
            print(json.dumps(reply, default=str), flush=True)


if __name__ == "__main__":
    main()
