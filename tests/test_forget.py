"""Crypto-shredding (issue 15): ``forget(subject)`` erases a subject from every surface, every
replay and every file, on every kind of log and index; the log's structure stays intact."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from conftest import Opener, log_position
from omega_memory_plugin import Memory
from omega_memory_plugin.cli import main
from omega_memory_plugin.embeddings import HashEmbedder
from omega_memory_plugin.errors import EventLogError, KeyStoreError
from omega_memory_plugin.events import MemoryReembedded, MemoryUpserted
from omega_memory_plugin.providers import MemoryProvider

SECRET = "Ana's door code is 4711"  # every text of the subject contains "Ana"
#: what byte scans look for: whole texts, which random bytes (ciphertext, vectors) cannot contain by chance
ANA_BYTES = [SECRET.encode(), b"Ana Lima", b"Ana likes green tea", b"Ana booked room 12"]


def write_people(memory: Memory) -> None:
    memory.upsert(SECRET, id="code", namespace="ana", metadata={"who": "Ana Lima"})
    memory.upsert("Ana likes green tea", id="tea", namespace="ana")
    memory.upsert("Ana booked room 12", id="room", namespace="hotel", subject="ana")  # another namespace
    memory.upsert("Ana once owned this id", id="shared", namespace="hotel", subject="ana")
    memory.upsert("Bob owns it now", id="shared", namespace="hotel", subject="bob")  # a later version
    memory.upsert("Bob likes black coffee", id="coffee", namespace="bob")


def everything(memory: Memory) -> list[str]:
    """Every text any read of ``memory`` answers, in every namespace and search mode."""
    texts = []
    for namespace in ("ana", "hotel", "bob"):
        texts += [r.text for r in memory.scan(namespace=namespace, limit=None)]
        texts += [r.text for r in memory.get(["code", "tea", "room", "shared", "coffee"], namespace=namespace)]
        for mode in ("dense", "sparse", "hybrid"):
            texts += [r.text for r in memory.search(text="Ana tea code room", namespace=namespace, mode=mode)]
        texts += [json.dumps(r.metadata) for r in memory.scan(namespace=namespace, limit=None)]
    return texts


def test_a_forgotten_subject_leaves_every_read_replay_and_view(opener: Opener) -> None:
    with Memory(**opener(), embedder="hash:16") as memory:
        write_people(memory)
        positions = range(1, log_position(memory) + 1)
        assert any("Ana" in text for text in everything(memory))

        report = memory.forget("ana")

        assert (report.memories, report.keys) == (3, 1)  # code, tea, room; "shared" is Bob's now
        assert not [t for t in everything(memory) if "Ana" in t]
        assert {r.text for r in memory.scan(namespace="hotel", limit=None)} == {"Bob owns it now"}
        assert [r.text for r in memory.get("coffee", namespace="bob")] == ["Bob likes black coffee"]
        for position in positions:  # even where it was written, the past cannot show it
            with memory.as_of(position) as past:
                assert not [t for t in everything(past) if "Ana" in t], position
        memory.rebuild(progress=False)
        assert not [t for t in everything(memory) if "Ana" in t]
        assert memory.verify().ok

        # The log keeps that it happened, never what it said.
        history = memory.history("code", namespace="ana")
        assert [e.type for e in history] == ["memory.upserted", "memory.deleted"]
        upserted = history[0].data
        assert isinstance(upserted, MemoryUpserted) and upserted.forgotten
        assert (upserted.text, upserted.metadata, upserted.vectors) == ("", {}, {})
        assert history[0].version == 1 and history[0].position == 2
        assert "Ana" not in json.dumps([e.model_dump(mode="json") for e in memory.events()])
        assert [e.type for e in memory.events()][-1] == "subject.forgotten"
        assert "(content forgotten)" in memory.explain("code", namespace="ana").lines()[1]  # lineage says so

        # The subject may be written again: a new key, readable, and forgettable again.
        memory.upsert("Ana came back", id="back", namespace="ana")
        assert [r.text for r in memory.get("back", namespace="ana")] == ["Ana came back"]
        assert memory.forget("ana").memories == 1
        assert memory.forget("ana").keys == 0  # nothing left to forget


def test_idempotency_keys_dedup_and_expiry_work_on_forgotten_content(opener: Opener) -> None:
    with Memory(**opener(), embedder="hash:16") as memory:
        first = memory.upsert("Ana likes tea", namespace="ana", idempotency_key="k1", ttl=3600)
        memory.forget("ana")
        position = log_position(memory)
        # The retry of a forgotten write is recognised by its key: answered, and nothing comes back.
        assert memory.upsert("Ana likes tea", namespace="ana", idempotency_key="k1", ttl=3600) == first
        assert log_position(memory) == position
        assert memory.get(first, namespace="ana") == []


def scan_files(root: Path, needles: list[bytes]) -> dict[str, list[bytes]]:
    hits: dict[str, list[bytes]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found = [n for n in needles if n in data]
            if found:
                hits[str(path.relative_to(root))] = found
    return hits


def test_no_file_of_an_embedded_memory_holds_a_forgotten_subject(tmp_path: Path) -> None:
    root = tmp_path / "m"
    with Memory(root, embedder="hash:16") as memory:
        for i in range(300):  # enough that the index has segments worth compacting
            memory.upsert(f"Zed keeps note {i}", namespace="zed")
        write_people(memory)
        memory.flush()
        assert memory.log.keys is not None
        key = memory._engine.run(memory.log.keys.key_for("ana")).secret
        plaintext = ANA_BYTES
        needles = [*plaintext, key]
        before = scan_files(root, needles)
        # The log never holds the content in clear, only sealed: until forget, the index does.
        assert (
            {path for path, found in before.items() if set(found) & set(plaintext)}
            == {path for path in before if path.startswith("index/")}
            != set()
        )
        assert {path for path, found in before.items() if key in found} <= {"log.db", "log.db-wal"} != set()
        report = memory.forget("ana")
        assert report.keys_scrubbed and report.index_compacted
        assert scan_files(root, needles) == {}  # ...and gone from every file once forget returns
        assert len(memory.scan(namespace="zed", limit=None)) == 300
    with Memory(root, embedder="hash:16") as again:  # reopened: still gone, the rest intact
        assert not [t for t in everything(again) if "Ana" in t]
        assert again.count(namespace="zed") == 300


def all_documents(memory: Memory) -> bytes:
    from bson import encode

    async def dump() -> bytes:
        db = memory.log.inner.db  # type: ignore[attr-defined]
        chunks = []
        for name in await db.list_collection_names():
            async for doc in db[name].find({}):
                chunks.append(encode(doc))
        return b"".join(chunks)

    return memory._engine.run(dump())


def test_the_mongo_log_holds_no_plaintext_and_no_destroyed_key(mongo_url: str, tmp_path: Path) -> None:
    with Memory(log_url=mongo_url, index_url="memory://", embedder="hash:16") as memory:
        write_people(memory)
        assert memory.log.keys is not None
        key = memory._engine.run(memory.log.keys.key_for("ana")).secret
        documents = all_documents(memory)
        assert not [text for text in ANA_BYTES if text in documents] and key in documents
        memory.forget("ana")
        documents = all_documents(memory)
        assert not [text for text in ANA_BYTES if text in documents] and key not in documents
        assert b"Bob likes black coffee" not in documents  # Bob's content is sealed too, under his own key


def test_another_process_on_the_same_mongo_log_cannot_show_it_after_forget(mongo_url: str, tmp_path: Path) -> None:
    with (
        Memory(log_url=mongo_url, index_url=f"edge:///{tmp_path}/a", embedder="hash:16") as a,
        Memory(log_url=mongo_url, index_url=f"edge:///{tmp_path}/b", embedder="hash:16") as b,
    ):
        write_people(a)
        written = log_position(a)
        assert [r.text for r in b.get("code", namespace="ana")] == [SECRET]  # b has read it
        a.forget("ana")
        assert b.get("code", namespace="ana") == []
        with b.as_of(written) as past:
            assert not [t for t in everything(past) if "Ana" in t]
        b.rebuild(progress=False)
        assert not [t for t in everything(b) if "Ana" in t]


def test_every_surface_finds_nothing_after_forget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.omega_memory import OmegaMemoryVectorStore as LlamaStore

    from langchain_omega_memory import OmegaHashEmbeddings, OmegaMemoryVectorStore

    path = tmp_path / "m"
    with Memory(path, embedder="hash:16") as memory:
        provider = MemoryProvider(memory, namespace="ana")
        asyncio.run(provider.store("default", {"id": "p", "content": "Ana's provider note"}))
        chain = OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(16), namespace="ana")
        chain.add_texts(["Ana's langchain note"], ids=["lc"])
        llama = LlamaStore(memory, namespace="ana")
        from llama_index.core.schema import TextNode

        llama.add([TextNode(id_="li", text="Ana's llama note", embedding=HashEmbedder(16).embed(["Ana"])[0])])
        assert asyncio.run(provider.forget()) == 3  # the provider's namespace is its default subject

        assert asyncio.run(provider.query("default", {"text": "Ana note"})) == []
        assert chain.similarity_search("Ana note", k=5) == []
        found = llama.query(VectorStoreQuery(query_embedding=HashEmbedder(16).embed(["Ana"])[0], similarity_top_k=5))
        assert found.nodes == [] or found.nodes is None
    capsys.readouterr()
    for command in (["scan"], ["search", "Ana note"], ["history", "p"]):
        main(["--path", str(path), "--embedder", "hash:16", *command, "--namespace", "ana"])
    out = capsys.readouterr().out
    assert "Ana" not in out and "(forgotten)" in out


def test_the_cli_forgets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m"
    with Memory(path, embedder="hash:16") as memory:
        write_people(memory)
    assert main(["--path", str(path), "forget", "ana", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"memories": 3, "keys": 1, "keys_scrubbed": True, "index_compacted": True, "in_clear": 0}
    assert main(["--path", str(path), "forget", "ana"]) == 0
    assert "nothing to forget" in capsys.readouterr().out


def test_a_re_embedding_is_sealed_under_its_memory_s_key(tmp_path: Path) -> None:
    root = tmp_path / "m"
    with Memory(root, embedder="hash:16") as memory:
        write_people(memory)
        memory.reembed(HashEmbedder(24), progress=False)
        reembedded = [e for e in memory.events() if isinstance(e.data, MemoryReembedded)]
        assert {e.data.text for e in reembedded} >= {SECRET, "Ana booked room 12"}
        memory.forget("ana")
        reembedded = [e.data for e in memory.events() if isinstance(e.data, MemoryReembedded)]
        assert {d.text for d in reembedded if not d.forgotten} == {"Bob owns it now", "Bob likes black coffee"}
        assert scan_files(root, ANA_BYTES) == {}


def test_export_and_import_keep_forgotten_content_forgotten(tmp_path: Path) -> None:
    with Memory(tmp_path / "a", embedder="hash:16") as source:
        write_people(source)
        source.reembed(HashEmbedder(24), progress=False)
        source.forget("ana")
        events = list(source.events())
    with Memory(tmp_path / "b", embedder="hash:24") as target:
        report = target.import_events(events)
        assert report.imported + report.unchanged == len(events)
        assert not [t for t in everything(target) if "Ana" in t]
        assert {r.text for r in target.scan(namespace="bob", limit=None)} == {"Bob likes black coffee"}
        assert target.verify().ok


def test_with_encryption_off_content_is_in_clear_and_sealed_content_still_opens(tmp_path: Path) -> None:
    root = tmp_path / "m"
    with Memory(root, embedder="hash:16") as memory:
        memory.upsert("sealed before", id="a", namespace="n")
    with Memory(root, embedder="hash:16", settings=_settings(encryption=False)) as memory:
        memory.upsert("in clear after", id="b", namespace="n")
        assert {r.text for r in memory.scan(namespace="n", limit=None)} == {"sealed before", "in clear after"}
        memory.rebuild(progress=False)
        assert {r.text for r in memory.scan(namespace="n", limit=None)} == {"sealed before", "in clear after"}
        report = memory.forget("n")  # both leave every read; only what a key sealed is shredded
        assert (report.memories, report.keys, report.in_clear) == (2, 1, 1)
        assert memory.scan(namespace="n", limit=None) == []
    hits = scan_files(root, [b"sealed before", b"in clear after"])
    assert [found for path, found in hits.items() if path.startswith("log.db")] == [[b"in clear after"]]


def _settings(**values: Any) -> Any:
    from omega_memory_plugin import Settings

    return Settings(**values)


def test_a_tampered_sealed_event_is_a_typed_error_not_garbage(tmp_path: Path) -> None:
    root = tmp_path / "m"
    with Memory(root, embedder="hash:16") as memory:
        memory.upsert("likes tea", id="a", namespace="n")
    db = sqlite3.connect(root / "log.db")
    (blob,) = db.execute("SELECT vectors FROM events WHERE type = 'memory.upserted'").fetchone()
    db.execute("UPDATE events SET vectors = ? WHERE type = 'memory.upserted'", (blob[:-1] + bytes([blob[-1] ^ 1]),))
    db.commit()
    db.close()
    with Memory(root, embedder="hash:16") as memory, pytest.raises(EventLogError, match="altered outside omega"):
        memory.history("a", namespace="n")


def test_a_log_without_a_key_store_is_refused_unless_encryption_is_off() -> None:
    from omega_memory_plugin.log.memory import InMemoryEventLog
    from omega_memory_plugin.log.sealed import SealedLog

    with pytest.raises(KeyStoreError, match="encryption=False"):
        Memory(log=SealedLog(InMemoryEventLog(), None), index_url="memory://", embedder="hash:16")
    with Memory(log=SealedLog(InMemoryEventLog(), None, encrypt=False), index_url="memory://") as memory:
        memory.upsert("in clear", vectors=[1.0, 0.0], id="a")
        report = memory.forget("default")  # nothing was sealed, so nothing is shredded: said plainly
        assert (report.memories, report.keys, report.in_clear) == (1, 0, 1)
        assert memory.get("a") == []


def test_clearing_a_chat_history_shreds_its_messages_in_the_log(tmp_path: Path) -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    from langchain_omega_memory import OmegaChatMessageHistory

    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        memory.upsert("Ana's own note", id="note", namespace="ana")  # the same namespace, another collection
        history = OmegaChatMessageHistory("ana", memory)
        history.add_messages([HumanMessage("my card is 4111 1111"), AIMessage("noted")])
        said = log_position(memory)
        history.clear()
        assert history.messages == []
        with memory.as_of(said) as past:  # the past cannot show the messages either
            assert OmegaChatMessageHistory("ana", past).messages == []
        chat = [e.data for e in memory.events() if isinstance(e.data, MemoryUpserted) and e.collection == "chat"]
        assert chat and all(d.forgotten for d in chat)
        assert [r.text for r in memory.get("note", namespace="ana")] == ["Ana's own note"]  # untouched
        history.add_messages([HumanMessage("hello again")])  # the conversation goes on, under a new key
        assert [m.content for m in history.messages] == ["hello again"]


def test_a_bad_subject_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    from omega_memory_plugin import InvalidIdError

    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        memory.upsert("kept", id="a", namespace="n")
        position = log_position(memory)
        for bad in ("", None, 42, "x" * 10_000):
            with pytest.raises(InvalidIdError, match="subject"):
                memory.forget(bad)  # type: ignore[arg-type]
            if bad is not None:  # None is the default there: the namespace's key
                with pytest.raises(InvalidIdError, match="subject"):
                    memory.upsert("not written", namespace="n", subject=bad)  # type: ignore[arg-type]
        assert log_position(memory) == position
        assert [r.text for r in memory.get("a", namespace="n")] == ["kept"]
