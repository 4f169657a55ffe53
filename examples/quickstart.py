"""Quickstart: an event-sourced memory on the embedded defaults (SQLite log + Qdrant Edge index).

Run it with `make demo`. Nothing to install or start: the memory lives in ./.omega-memory.
The built-in "hash" embedder needs no network; swap in a real one with
`Memory(embedder=my_embedder)` where my_embedder has `name`, `dimension` and `embed(texts)`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from omega_memory_plugin import Memory


def main() -> None:
    where = Path(tempfile.mkdtemp(prefix="omega-quickstart-"))
    with Memory(where, embedder="hash:384", namespace="ada") as memory:
        # 1. Agents write memories: each write is an event in the log, then in the index.
        memory.upsert("Ada prefers green tea in the morning", id="pref-tea", metadata={"topic": "drinks"})
        memory.upsert("Ada is allergic to peanuts", id="allergy", metadata={"topic": "health"})
        memory.upsert("Ada's standup is at 9:30", id="standup", metadata={"topic": "work"})
        with memory.transaction() as tx:  # many writes, one atomic commit
            tx.upsert("Ada drinks espresso after lunch", id="pref-coffee", metadata={"topic": "drinks"})
            tx.upsert("Bob prefers black coffee", id="bob-coffee", namespace="bob")

        # 2. Search by meaning, scoped to a namespace and filtered on metadata.
        print("What does Ada drink?")
        for hit in memory.search(text="what does Ada drink", filter={"topic": "drinks"}, limit=3):
            print(f"  {hit.score:.3f}  {hit.id:12} {hit.text}")

        # 3. Memories change; the log keeps every version.
        memory.upsert("Ada switched to oolong tea", id="pref-tea", metadata={"topic": "drinks"})
        print("\nHistory of 'pref-tea':")
        for event in memory.history("pref-tea"):
            print(f"  v{event.version} @{event.position} {event.type}: {event.data.text}")

        # 4. The index is disposable: rebuild it from the log and get the same answers.
        before = [(h.id, round(h.score or 0, 5)) for h in memory.search(text="Ada drinks tea", limit=2)]
        position = memory.rebuild(progress=False)
        after = [(h.id, round(h.score or 0, 5)) for h in memory.search(text="Ada drinks tea", limit=2)]
        print(f"\nRebuilt the index from {position} events; same results: {before == after}")

        # 5. Look at the past: the memory as it was at log position 3.
        with memory.as_of(3) as past:
            print(f"At position 3 Ada had {past.count()} memories; now {memory.count()}.")

        # 6. Prove it: the index holds exactly the memories the log says are alive.
        print(memory.verify())
    shutil.rmtree(where)


if __name__ == "__main__":
    main()
