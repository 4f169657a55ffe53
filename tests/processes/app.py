"""One application process of the multi-process tests: a Memory on the shared log and index,
driven by JSON commands on stdin, one JSON reply per line on stdout.

Run by :class:`tests.processes.driver.AppProcess`; ``argv[1]`` is the Settings as JSON.
"""

from __future__ import annotations

import json
import sys
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
    if command == "rebuild":
        return memory.rebuild(progress=False)
    if command == "verify":
        return memory.verify().as_dict()
    if command == "health":
        return memory.health()
    raise ValueError(f"unknown command {command!r}")


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
