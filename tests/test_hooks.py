"""Every hook in ``omega_memory_plugin.hookspecs`` has a test named ``test_hook_<hookname>``.

Backend hooks (log, index, embedder) are asked while a Memory opens, so their plugins are modules
loaded by name through ``OMEGA_PLUGINS`` / ``Settings(plugins=...)``. The append and project hooks
are registered on an open memory as plain objects, which lets a test keep what they saw.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from omega_memory_plugin import AppendVetoedError, Memory, Settings, UnsupportedBackendError, hookimpl
from omega_memory_plugin.events import Event, MemoryUpsertedEvent
from omega_memory_plugin.index.memory import InMemoryProjection
from omega_memory_plugin.log.memory import InMemoryEventLog

WritePlugin = Callable[[str], str]

# Serves ``myscheme://`` for the log and for the index, and the embedder ``letters:<dim>``; keeps
# what it was asked and what it made so the test can check the Memory uses exactly that.
PLUGIN_MODULE = """
from __future__ import annotations

from omega_memory_plugin import Settings, hookimpl
from omega_memory_plugin.index.memory import InMemoryProjection
from omega_memory_plugin.log.memory import InMemoryEventLog
from omega_memory_plugin.urls import scheme

ASKED: list[tuple[str, str, str | None]] = []
MADE: list[object] = []


class LettersEmbedder:
    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.name = f"letters:{dimension}"

    def embed(self, texts):
        out = []
        for text in texts:
            row = [0.0] * self.dimension
            for char in text.lower():
                if char.isalpha():
                    row[ord(char) % self.dimension] += 1.0
            out.append(row if any(row) else [1.0] * self.dimension)
        return out


def _made(kind: str, url: str, settings: Settings, backend: object) -> object:
    ASKED.append((kind, url, settings.plugins))
    MADE.append(backend)
    return backend


@hookimpl
def omega_memory_event_log(url: str, settings: Settings):
    return _made("log", url, settings, InMemoryEventLog()) if scheme(url) == "myscheme" else None


@hookimpl
def omega_memory_projection(url: str, settings: Settings):
    return _made("index", url, settings, InMemoryProjection()) if scheme(url) == "myscheme" else None


@hookimpl
def omega_memory_embedder(name: str, settings: Settings):
    kind, _, size = name.partition(":")
    return _made("embedder", name, settings, LettersEmbedder(int(size))) if kind == "letters" else None
"""


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WritePlugin]:
    """Write a plugin module importable by a name unique to this test; return that name."""
    where = tmp_path / "plugins"
    where.mkdir()
    monkeypatch.syspath_prepend(str(where))
    names: list[str] = []

    def write(source: str) -> str:
        name = f"omega_test_plugin_{uuid.uuid4().hex[:8]}"
        (where / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        names.append(name)
        return name

    yield write
    for name in names:
        sys.modules.pop(name, None)


def upserted_texts(memory: Memory, memory_id: str) -> list[str]:
    return [e.data.text for e in memory.history(memory_id) if isinstance(e, MemoryUpsertedEvent)]


def log_position(memory: Memory) -> int:
    position: int = memory.health()["log"]["position"]
    return position


# -- backends --------------------------------------------------------------------------------------


def test_hook_omega_memory_event_log(
    plugin_module: WritePlugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = plugin_module(PLUGIN_MODULE)
    monkeypatch.setenv("OMEGA_PLUGINS", name)  # the documented way to load a plugin module
    with Memory(tmp_path / "mem", log_url="myscheme://audit-log", embedder="hash:32") as memory:
        plugin = sys.modules[name]
        assert plugin.ASKED == [("log", "myscheme://audit-log", name)]
        assert memory.log.inner is plugin.MADE[0]  # behind the sealing every log gets (log/sealed.py)
        assert isinstance(memory.log.inner, InMemoryEventLog)
        memory.upsert("Ada prefers green tea", id="tea")
        assert [e.type for e in memory.history("tea")] == ["memory.upserted"]
        assert log_position(memory) == 2  # collection.created, then the memory
        assert [h.id for h in memory.search(text="green tea")] == ["tea"]  # projected into Edge


def test_hook_omega_memory_projection(plugin_module: WritePlugin, tmp_path: Path) -> None:
    name = plugin_module(PLUGIN_MODULE)
    settings = Settings(plugins=name)
    with Memory(tmp_path / "mem", index_url="myscheme://scratch", embedder="hash:32", settings=settings) as memory:
        plugin = sys.modules[name]
        assert plugin.ASKED == [("index", "myscheme://scratch", name)]
        assert memory.projection is plugin.MADE[0]
        assert isinstance(memory.projection, InMemoryProjection)
        memory.upsert("Ada prefers green tea", id="tea")
        memory.upsert("Bob runs on Sundays", id="run")
        assert memory.count() == 2
        assert memory.search(text="green tea", limit=1)[0].id == "tea"
        assert memory.projection.applied_position == log_position(memory)


def test_hook_omega_memory_embedder(plugin_module: WritePlugin, tmp_path: Path) -> None:
    name = plugin_module(PLUGIN_MODULE)
    with Memory(tmp_path / "mem", embedder="letters:6", settings=Settings(plugins=name)) as memory:
        plugin = sys.modules[name]
        assert plugin.ASKED == [("embedder", "letters:6", name)]
        assert memory.embedder is plugin.MADE[0]
        memory.upsert("aaaa", id="a")
        memory.upsert("bbbb", id="b")
        (event,) = memory.history("a")
        assert isinstance(event, MemoryUpsertedEvent) and event.data.embedding_model == "letters:6"
        assert memory.get("a")[0].embedding_model == "letters:6"
        assert [h.id for h in memory.search(text="aa", limit=2)] == ["a", "b"]


def test_unknown_url_scheme_names_it_and_lists_builtins(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedBackendError) as log_error:
        Memory(tmp_path / "a", log_url="nosuch://somewhere")
    assert "nosuch://somewhere" in str(log_error.value)
    assert "sqlite:///" in str(log_error.value) and "memory://" in str(log_error.value)

    with pytest.raises(UnsupportedBackendError) as index_error:
        Memory(tmp_path / "b", log_url="memory://", index_url="nosuch://elsewhere")
    assert "nosuch://elsewhere" in str(index_error.value)
    assert "edge:///" in str(index_error.value) and "qdrant-local://" in str(index_error.value)

    with pytest.raises(UnsupportedBackendError, match="'nosuch:3'.*hash:<dim>"):
        Memory(tmp_path / "c", log_url="memory://", index_url="memory://", embedder="nosuch:3")


# -- before append ---------------------------------------------------------------------------------


class Veto:
    @hookimpl
    def omega_memory_before_append(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, MemoryUpsertedEvent) and "password" in event.data.text:
                raise AppendVetoedError("memories must not contain passwords")


class Rewrite:
    """Replaces ``old`` by ``new`` in upserted text, and keeps the texts it was given."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self.seen: list[str] = []

    def apply(self, text: str) -> str:
        return text.replace(self.old, self.new)

    @hookimpl
    def omega_memory_before_append(self, events: Sequence[Event]) -> list[Event]:
        replaced: list[Event] = []
        for event in events:
            if isinstance(event, MemoryUpsertedEvent):
                self.seen.append(event.data.text)
                data = event.data.model_copy(update={"text": self.apply(event.data.text)})
                event = event.model_copy(update={"data": data})
            replaced.append(event)
        return replaced


def test_hook_omega_memory_before_append(tmp_path: Path) -> None:
    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        memory.plugins.manager.register(Veto())
        memory.upsert("the wifi is called lighthouse", id="wifi")
        before = log_position(memory)

        with pytest.raises(AppendVetoedError, match="passwords"):
            memory.upsert("the wifi password is hunter2", id="wifi")
        with pytest.raises(AppendVetoedError), memory.transaction() as tx:  # one bad write vetoes all
            tx.upsert("harmless", id="other")
            tx.upsert("my password is swordfish", id="secret")

        assert log_position(memory) == before
        assert upserted_texts(memory, "wifi") == ["the wifi is called lighthouse"]
        assert memory.history("other") == [] and memory.history("secret") == []
        assert [r.text for r in memory.get(["wifi", "other", "secret"])] == ["the wifi is called lighthouse"]
        assert memory.count() == 1


def test_hook_omega_memory_before_append_redacts(tmp_path: Path) -> None:
    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        memory.plugins.manager.register(Rewrite("secret", "[redacted]"))
        memory.upsert("my secret plan", id="plan")
        assert upserted_texts(memory, "plan") == ["my [redacted] plan"]
        assert memory.get("plan")[0].text == "my [redacted] plan"
        assert memory.search(text="plan", limit=1)[0].text == "my [redacted] plan"


def test_hook_omega_memory_before_append_chains_plugins(tmp_path: Path) -> None:
    redact, tag = Rewrite("secret", "[redacted]"), Rewrite("plan", "plan (checked)")
    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        memory.plugins.manager.register(redact)
        memory.plugins.manager.register(tag)
        memory.upsert("my secret plan", id="plan")
        assert upserted_texts(memory, "plan") == ["my [redacted] plan (checked)"]
    # Whichever ran first saw the caller's text; the other saw what the first returned.
    first, second = (redact, tag) if redact.seen == ["my secret plan"] else (tag, redact)
    assert first.seen == ["my secret plan"]
    assert second.seen == [first.apply("my secret plan")]


def test_hook_omega_memory_before_append_turns_plugin_errors_into_vetoes(tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def omega_memory_before_append(self, events: Sequence[Event]) -> None:
            raise KeyError("boom")

    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        memory.plugins.manager.register(Broken(), name="broken-plugin")
        with pytest.raises(AppendVetoedError, match="broken-plugin") as vetoed:
            memory.upsert("anything", id="a")
        assert isinstance(vetoed.value.__cause__, KeyError)
        assert log_position(memory) == 0


# -- observers -------------------------------------------------------------------------------------


class AppendObserver:
    def __init__(self) -> None:
        self.batches: list[list[Event]] = []

    @hookimpl
    def omega_memory_after_append(self, events: Sequence[Event]) -> None:
        self.batches.append(list(events))


def test_hook_omega_memory_after_append(tmp_path: Path) -> None:
    observer = AppendObserver()
    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        memory.plugins.manager.register(observer)
        memory.upsert("first", id="a")
        with memory.transaction() as tx:
            tx.upsert("second", id="b")
            tx.upsert("first, again", id="a")
        memory.delete("b")
        head = log_position(memory)
        history = {e.event_id: e for i in ("a", "b") for e in memory.history(i)}

    # One call per commit, each with the events as recorded: positions, versions, times assigned.
    assert [[e.type for e in batch] for batch in observer.batches] == [
        ["collection.created", "memory.upserted"],
        ["memory.upserted", "memory.upserted"],
        ["memory.deleted"],
    ]
    seen = [e for batch in observer.batches for e in batch]
    assert [e.position for e in seen] == list(range(1, head + 1))
    assert all(e.recorded_at is not None for e in seen)
    assert [(e.memory_id, e.version) for e in seen[1:]] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert all(history[e.event_id] == e for e in seen[1:])


class ProjectObserver:
    """Keeps, for every call, the projection's name, the events, and how far the memory's current
    index had applied at that moment (sync Memory methods cannot be called inside a hook)."""

    def __init__(self) -> None:
        self.memory: Memory | None = None
        self.calls: list[tuple[str, list[int], int]] = []

    @hookimpl
    def omega_memory_after_project(self, projection: str, events: Sequence[Event]) -> None:
        assert self.memory is not None
        applied = self.memory.projection.applied_position
        self.calls.append((projection, [e.position for e in events], applied))


def test_hook_omega_memory_after_project(tmp_path: Path) -> None:
    observer = ProjectObserver()
    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        observer.memory = memory
        memory.plugins.manager.register(observer)
        memory.upsert("Ada prefers green tea", id="tea")
        with memory.transaction() as tx:
            tx.upsert("Bob runs on Sundays", id="run")
            tx.upsert("Cy plays chess", id="chess")
        head = log_position(memory)
        live_name = memory.projection.name
        assert [h.id for h in memory.search(text="green tea", limit=1)] == ["tea"]

        assert {name for name, _, _ in observer.calls} == {live_name}
        assert [p for _, positions, _ in observer.calls for p in positions] == list(range(1, head + 1))
        # The hook ran after the index had applied the events it was given.
        assert all(applied >= positions[-1] for _, positions, applied in observer.calls)

        # A rebuild projects the whole log again, into the new index, under its own name.
        observer.calls.clear()
        memory.rebuild(progress=False)
        rebuilt = [(name, p) for name, positions, _ in observer.calls for p in positions]
        assert memory.projection.name != live_name
        assert rebuilt == [(memory.projection.name, p) for p in range(1, head + 1)]


class Timings:
    def __init__(self) -> None:
        self.timed: list[tuple[str, dict[str, str]]] = []
        self.progress: list[tuple[str, int, int]] = []

    @hookimpl
    def omega_memory_timed(self, operation: str, seconds: float, labels: dict[str, str]) -> None:
        assert seconds >= 0
        self.timed.append((operation, dict(labels)))

    @hookimpl
    def omega_memory_progress(self, operation: str, done: int, total: int) -> None:
        self.progress.append((operation, done, total))


def test_hook_omega_memory_timed(tmp_path: Path) -> None:
    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        observer = Timings()
        memory.plugins.manager.register(observer)
        memory.upsert("Ada prefers green tea", id="tea")
        memory.search(text="tea", mode="sparse")
        memory.search(text="tea")
    assert observer.timed == [
        ("append", {"log": "sqlite"}),
        ("search", {"index": "edge", "mode": "sparse"}),
        ("search", {"index": "edge", "mode": "dense"}),
    ]


def test_hook_omega_memory_progress(tmp_path: Path) -> None:
    with Memory(tmp_path / "mem", embedder="hash:32") as memory:
        for i in range(3):
            memory.upsert(f"note {i}", id=f"n{i}")
        observer = Timings()
        memory.plugins.manager.register(observer)
        memory.rebuild(progress=False)
        assert observer.progress[-1] == ("replay", 4, 4)
        memory.reembed("hash:16", progress=False)
        assert ("reembed", 3, 3) in observer.progress


KEY_STORE_PLUGIN = """
from omega_memory_plugin import hookimpl
from omega_memory_plugin.keys import InMemoryKeyStore

STORE = InMemoryKeyStore()  # stands for a KMS: the keys never reach the log's file


@hookimpl
def omega_memory_key_store(log, settings):
    return STORE
"""


def test_hook_omega_memory_key_store(
    plugin_module: WritePlugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = plugin_module(KEY_STORE_PLUGIN)
    monkeypatch.setenv("OMEGA_PLUGINS", name)
    root = tmp_path / "m"
    with Memory(root, embedder="hash:16") as memory:
        memory.upsert("likes tea", id="a", namespace="n")
        assert [r.text for r in memory.get("a", namespace="n")] == ["likes tea"]
        assert memory.log.keys is sys.modules[name].STORE
        tables = {row[0] for row in sqlite3.connect(root / "log.db").execute("SELECT name FROM sqlite_master")}
        assert "data_keys" not in tables  # the built-in store in the log's file was never made
        assert memory.forget("n").keys == 1
        assert memory.get("a", namespace="n") == []
