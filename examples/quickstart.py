"""Quickstart: an event-sourced memory on the embedded defaults (SQLite log + Qdrant Edge index).

Run it with `make demo`. Nothing to install or start: the memory lives in ./.omega-memory (the
CLI's default), and stays there for you to explore with the commands printed at the end. Run again,
it starts by erasing the namespaces it writes (two events: the log keeps what came before).
The built-in "hash" embedder needs no network; swap in a real one with
`Memory(embedder=my_embedder)` where my_embedder has `name`, `dimension` and `embed(texts)`.
"""

from __future__ import annotations

from pathlib import Path

from omega_memory_plugin import Memory

WHERE = Path(".omega-memory")


def main() -> None:
    with Memory(WHERE, embedder="hash:384", namespace="ada") as memory:
        memory.erase_namespace("ada")  # a fresh start on a second run; nothing is lost from the log
        memory.erase_namespace("bob")
        start = memory.health()["log"]["position"]

        # 1. Agents write memories: each write is an event in the log, then in the index.
        memory.upsert("Ada prefers green tea in the morning", id="pref-tea", metadata={"topic": "drinks"})
        memory.upsert("Ada is allergic to peanuts", id="allergy", metadata={"topic": "health"})
        memory.upsert("Ada's standup is at 9:30", id="standup", metadata={"topic": "work"})
        before_transaction = memory.health()["log"]["position"]  # a log position: a moment to go back to
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
            if event.position > start and event.type == "memory.upserted":  # this run's; narrows event.data
                print(f"  v{event.version} @{event.position} {event.type}: {event.data.text}")

        # 4. The index is disposable: rebuild it from the log and get the same answers.
        before = [(h.id, round(h.score or 0, 5)) for h in memory.search(text="Ada drinks tea", limit=2)]
        position = memory.rebuild(progress=False)
        after = [(h.id, round(h.score or 0, 5)) for h in memory.search(text="Ada drinks tea", limit=2)]
        print(f"\nRebuilt the index from {position} events; same results: {before == after}")

        # 5. Look at the past: the memory as it was before the transaction.
        with memory.as_of(before_transaction) as past:
            print(f"Before the transaction Ada had {past.count()} memories; now {memory.count()}.")

        # 6. Prove it: the index holds exactly the memories the log says are alive.
        print(memory.verify())

    print(f"""
The memory stays in {WHERE}/ (log.db is the log, index/ the index). Explore it:
  omega-memory stats                                           # counts, log position, index health
  omega-memory search "what does Ada drink" --namespace ada --embedder hash:384
  omega-memory history pref-tea --namespace ada                # every version of one memory
  omega-memory replay                                          # rebuild the index from the log
(with .venv/bin/ in front when the virtual environment is not activated)""")


if __name__ == "__main__":
    main()
