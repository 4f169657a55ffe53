"""Deduplication without races (issue 15): in a collection created with ``dedup=True``, writers of
the same fact converge on one memory, on every log and index, whichever process created the
collection, and under four concurrent writer processes on the Mongo log."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from omega_memory_plugin import InvalidInputError, Memory

FACTS = [f"Fact number {i}: Ada likes {drink}" for i, drink in enumerate(["tea", "coffee", "mate", "water"] * 3)]


def test_the_same_fact_written_twice_is_one_memory(memory: Memory) -> None:
    memory.create_collection("facts", 16, dedup=True)
    first = memory.upsert("Ada likes  green tea", namespace="ada", collection="facts")
    again = memory.upsert(" ada LIKES green\ttea ", namespace="ada", collection="facts")
    assert again == first
    assert memory.count(namespace="ada", collection="facts") == 1
    assert memory.get(first, namespace="ada", collection="facts")[0].version == 2
    other = memory.upsert("Ada likes green tea", namespace="bob", collection="facts")  # another namespace
    assert memory.count(namespace="bob", collection="facts") == 1 and other != first
    assert memory.upsert("explicit", id="mine", namespace="ada", collection="facts") == "mine"
    with memory.transaction() as tx:
        staged = tx.upsert("ADA likes green tea", namespace="ada", collection="facts")
    assert staged == first
    plain = {memory.upsert("same text", namespace="ada") for _ in range(2)}  # a collection without dedup
    assert len(plain) == 2
    assert memory.create_collection("facts", 16, dedup=True) is False
    with pytest.raises(InvalidInputError):
        memory.create_collection("facts", 16)  # exists with dedup


def test_a_collection_created_by_another_process_deduplicates_here_too(mongo_url: str) -> None:
    with Memory(log_url=mongo_url, index_url="memory://", embedder="hash:16") as here:
        with Memory(log_url=mongo_url, index_url="memory://", embedder="hash:16") as there:
            there.create_collection("facts", 16, dedup=True)
            a = there.upsert("Ada likes tea", namespace="ada", collection="facts")
        b = here.upsert("ada likes tea", namespace="ada", collection="facts")  # staged before learning it
        assert a == b and here.count(namespace="ada", collection="facts") == 1


def test_four_concurrent_writer_processes_converge_on_one_memory_per_fact(mongo_url: str) -> None:
    with Memory(log_url=mongo_url, index_url="memory://", embedder="hash:16") as memory:
        memory.create_collection("facts", 16, dedup=True)
    script = textwrap.dedent(
        f"""
        import sys
        from omega_memory_plugin import Memory
        facts = {FACTS!r}
        n = int(sys.argv[1])
        with Memory(log_url={mongo_url!r}, index_url="memory://", embedder="hash:16") as memory:
            for i, fact in enumerate(facts):
                text = fact.upper() if (i + n) % 2 else "  " + fact.replace(" ", "  ")
                memory.upsert(text, namespace="ada", collection="facts")
            memory.upsert(f"writer {{n}} was here", namespace="ada", collection="facts")
        """
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in range(4)]
    assert [w.wait(timeout=300) for w in writers] == [0] * 4
    with Memory(log_url=mongo_url, index_url="memory://", embedder="hash:16") as memory:
        records = memory.scan(namespace="ada", collection="facts", limit=None)
        assert len(records) == len(set(FACTS)) + 4
        shared = [r for r in records if not r.text.strip().lower().startswith("writer")]
        assert sorted(r.version for r in shared) == [4] * len(set(FACTS))
        assert memory.verify().ok
