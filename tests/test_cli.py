"""The ``omega-memory`` command, run in-process on a real SQLite log + Qdrant Edge index."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from omega_memory_plugin import Memory
from omega_memory_plugin.cli import main

EMBEDDER = "hash:64"

# (text, id, namespace) in write order. The first write also creates the collection (position 1),
# so these land at positions 2..7; "tea" is written twice.
WRITES = [
    ("Ada prefers green tea", "tea", "ada"),  # 2
    ("Ada is allergic to peanuts", "peanuts", "ada"),  # 3
    ("Bob likes black coffee", "coffee", "bob"),  # 4  -> 3 memories (ada 2, bob 1)
    ("Ada switched to oolong tea", "tea", "ada"),  # 5  -> still 3
    ("Ada's standup is at half past nine", "standup", "ada"),  # 6
    ("Bob runs along the river on Sundays", "run", "bob"),  # 7  -> 5 memories (ada 3, bob 2)
]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "memory"
    with Memory(path, embedder=EMBEDDER) as memory:
        for text, memory_id, namespace in WRITES:
            memory.upsert(text, id=memory_id, namespace=namespace, metadata={"who": namespace})
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def has_row(out: str, *cells: str) -> bool:
    """Whether a line of ``out`` is exactly these cells (a table's row, whatever its padding)."""
    return any(line.split() == " ".join(cells).split() for line in out.splitlines())


def searches(path: Path) -> list[list[tuple[str, float]]]:
    with Memory(path, embedder=EMBEDDER) as memory:
        return [
            [(h.id, round(h.score or 0.0, 5)) for h in memory.search(text=q, namespace=ns, limit=3)]
            for q, ns in [("oolong tea", "ada"), ("coffee", "bob"), ("standup nine", "ada")]
        ]


def test_replay_rebuilds_and_index_answers_the_same(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = searches(store)
    code, out, err = run(capsys, "--path", str(store), "replay", "--no-progress")
    assert code == 0, err
    assert "position 7: 7 events" in out
    assert searches(store) == before
    assert before[0][0][0] == "tea"


def test_replay_draws_progress_on_stderr(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "replay", "--path", str(store))  # global option after the subcommand
    assert code == 0
    assert "position 7" in out
    assert "7/7" in err


def test_replay_until_past_the_end_draws_a_bar_of_what_there_is(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--path", str(store), "replay", "--until", "999999")
    assert code == 0
    assert "as of position 7" in out
    assert "7/7" in err and "999999" not in err  # was a bar out of 999999 that ended at 0%


def test_replay_until_position_counts_as_of_then(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--path", str(store), "replay", "--until", "4", "--no-progress")
    assert code == 0
    assert "as of position 4" in out
    assert has_row(out, "default", "ada", "2 memories")
    assert has_row(out, "default", "bob", "1 memory")
    assert "total: 3 memories" in out

    code, out, _ = run(capsys, "--path", str(store), "replay", "--until", "7", "--no-progress")
    assert "total: 5 memories" in out
    assert has_row(out, "default", "ada", "3 memories")


def test_replay_until_position_searches_the_past(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "--path",
        str(store),
        "--embedder",
        EMBEDDER,
        "replay",
        "--until",
        "4",
        "--no-progress",
        "--search",
        "green tea",
        "--namespace",
        "ada",
        "--limit",
        "1",
    )
    assert code == 0, err
    hits = out.split("top hits", 1)[1]
    assert "tea  Ada prefers green tea" in hits  # the text as of position 4, not the later oolong one
    assert "oolong" not in out


def test_replay_leaves_the_live_index_alone_with_until(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--path", str(store), "replay", "--until", "2", "--no-progress")
    code, out, _ = run(capsys, "--path", str(store), "stats")
    assert code == 0
    assert has_row(out, "default", "5 memories")


@pytest.mark.parametrize("offset", [None, timezone(timedelta(hours=2))], ids=["naive-utc", "plus-two-hours"])
def test_replay_until_timestamp_between_two_writes(
    store: Path, capsys: pytest.CaptureFixture[str], offset: timezone | None
) -> None:
    with Memory(store) as memory:
        recorded = {e.position: e.recorded_at for e in memory.history("coffee", namespace="bob")}
        recorded |= {e.position: e.recorded_at for e in memory.history("tea", namespace="ada")}
    assert recorded[4] is not None and recorded[5] is not None and recorded[4] < recorded[5]
    between = recorded[4] + (recorded[5] - recorded[4]) / 2
    # naive means UTC; an explicit offset must be converted, not ignored
    stamp = between.replace(tzinfo=None).isoformat() if offset is None else between.astimezone(offset).isoformat()
    code, out, err = run(capsys, "--path", str(store), "replay", "--until", stamp, "--no-progress")
    assert code == 0, err
    assert "as of position 4," in out
    assert "total: 3 memories" in out


@pytest.mark.parametrize("until", ["yesterday", "-1", "2025-13-01", ""])
def test_replay_bad_until_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], until: str) -> None:
    code, out, err = run(capsys, "--path", str(tmp_path), "replay", "--until", until)
    assert code == 2
    assert "--until" in err
    assert out == ""


def test_history_lists_versions_in_order(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--path", str(store), "history", "tea", "--namespace", "ada")
    assert code == 0
    lines = [line.strip() for line in out.splitlines()]
    assert len(lines) == 2
    assert lines[0].startswith("v1  @2  ") and lines[0].endswith("memory.upserted  Ada prefers green tea")
    assert lines[1].startswith("v2  @5  ") and lines[1].endswith("Ada switched to oolong tea")


def test_history_json_lines_without_vectors(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--path", str(store), "history", "tea", "--namespace", "ada", "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["version"], e["position"]) for e in events] == [(1, 2), (2, 5)]
    assert events[1]["data"]["text"] == "Ada switched to oolong tea"
    assert events[1]["data"]["embedding_model"] == EMBEDDER
    assert "vectors" not in events[0]["data"]


def test_history_of_unknown_memory_exits_1(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--path", str(store), "history", "tea")  # namespace "default": not there
    assert code == 1
    assert out == ""
    assert "no events for memory 'tea'" in err


def test_search_finds_expected_id(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "--path",
        str(store),
        "--embedder",
        EMBEDDER,
        "search",
        "black coffee",
        "--namespace",
        "bob",
        "--limit",
        "1",
    )
    assert code == 0, err
    assert out.split()[1] == "coffee"


def test_search_with_filter(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--path", str(store), "--embedder", EMBEDDER, "search", "tea", "--namespace", "ada"]
    code, out, _ = run(capsys, *args, "--filter", '{"who": "ada"}')
    assert code == 0
    assert len(out.splitlines()) == 3
    code, out, _ = run(capsys, *args, "--filter", '{"who": "bob"}')
    assert out.strip() == "(no hits)"


def test_search_without_embedder_uses_the_collections_own_or_says_what_to_do(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMEGA_EMBEDDER", raising=False)
    code, out, err = run(capsys, "--path", str(store), "search", "oolong tea", "--namespace", "ada")
    assert code == 0 and out.split()[1] == "tea", err  # the collection records hash:64: found again
    bare = tmp_path / "bare"
    with Memory(bare) as memory:
        memory.upsert("own vectors, model unknown", id="x", vectors=[1.0, 0.0])
    code, out, err = run(capsys, "--path", str(bare), "search", "tea")
    assert code == 2
    assert err.startswith("error: ") and "--embedder" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback


def test_library_error_is_one_line_exit_2(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--path", str(store), "--embedder", "hash:32", "search", "tea", "--namespace", "ada")
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: ") and "holds vectors of embedding model 'hash:64'" in err and "'hash:32'" in err


def test_unknown_filter_operator_is_an_error(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "--path", str(store), "--embedder", EMBEDDER, "search", "tea", "--filter", '{"who": {"$nope": 1}}'
    )
    assert code == 2
    assert err.startswith("error: ")


def test_stats_shows_counts_and_lag(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--path", str(store), "stats")
    assert code == 0
    assert "position 7" in out
    assert "applied 7" in out and "lag 0 events" in out
    assert has_row(out, "default", "5 memories")
    code, out, _ = run(capsys, "--path", str(store), "stats", "--json")
    stats = json.loads(out)
    assert stats["log"]["position"] == 7
    assert stats["index"]["lag_events"] == 0
    assert stats["collections"] == {"default": 5}


def test_missing_memory_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = tmp_path / "typo"
    code, _, err = run(capsys, "--path", str(where), "stats")
    assert code == 2
    assert "no memory at" in err
    assert not where.exists()


def test_help_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("replay", "stats", "history", "search"):
        assert command in out


def test_console_script_help() -> None:
    script = Path(sys.prefix) / "bin" / "omega-memory"
    if not script.exists():  # the project venv is where the console script is installed
        script = Path("/work/main/.venv/bin/omega-memory")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: omega-memory" in result.stdout


def test_history_shows_a_deletion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Memory(tmp_path, embedder=EMBEDDER) as memory:
        memory.upsert("a short-lived memory", id="gone")  # positions 1 (collection) and 2
        memory.delete("gone")  # 3
    code, out, _ = run(capsys, "--path", str(tmp_path), "history", "gone")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines] == [["v1", "@2"], ["v2", "@3"]]
    assert lines[1].endswith("memory.deleted")
    code, out, _ = run(capsys, "--path", str(tmp_path), "replay", "--until", "3", "--no-progress")
    assert has_row(out, "default", "default", "0 memories")


def test_verify_reports_and_repairs(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--path", str(store), "verify")
    assert code == 0, err
    assert out.startswith("ok: the index matches the log (5 memories in 2 namespaces")
    with Memory(store) as memory:  # lose one memory from the index, behind the log's back
        from omega_memory_plugin.events import MemoryDeletedEvent

        memory._engine.run(
            memory.projection.repair([MemoryDeletedEvent(collection="default", namespace="bob", memory_id="run")])
        )
        memory.flush()
    code, out, _ = run(capsys, "--path", str(store), "verify", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert report["drift"] == [
        {
            "collection": "default",
            "namespace": "bob",
            "log_count": 2,
            "index_count": 1,
            "missing": ["run"],
            "extra": [],
            "stale": [],
        }
    ]
    code, out, _ = run(capsys, "--path", str(store), "verify", "--repair")
    assert code == 0 and "repaired: 1 memories" in out
    code, out, _ = run(capsys, "--path", str(store), "verify")
    assert code == 0 and out.startswith("ok:")


def test_read_only_commands_work_while_another_process_owns_the_directory(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Memory(store):  # the owner
        code, _, err = run(capsys, "--path", str(store), "stats")
        assert code == 2 and "read_only=True" in err
        code, out, err = run(capsys, "--path", str(store), "--read-only", "stats")
        assert code == 0, err
        assert has_row(out, "default", "5 memories")
        code, out, err = run(
            capsys,
            "--path",
            str(store),
            "--read-only",
            "search",
            "oolong tea",
            "--namespace",
            "ada",
            "--embedder",
            EMBEDDER,
        )
        assert code == 0 and "tea" in out.splitlines()[0]


def test_ctrl_c_during_replay_cancels_and_leaves_the_live_index(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import threading

    from omega_memory_plugin.index.edge import EdgeProjection

    entered, release = threading.Event(), threading.Event()
    apply = EdgeProjection.apply

    async def gated(self: EdgeProjection, events):  # type: ignore[no-untyped-def]
        if events and events[0].position == 1:  # only a rebuild replays from the start
            entered.set()
            release.wait(30)
        await apply(self, events)

    monkeypatch.setattr(EdgeProjection, "apply", gated)
    threading.Thread(target=lambda: (entered.wait(30), os.kill(os.getpid(), signal.SIGINT), release.set())).start()
    live = (store / "index" / "CURRENT").read_text()
    code, _, err = run(capsys, "--path", str(store), "replay", "--no-progress")
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert (store / "index" / "CURRENT").read_text() == live
    assert [p.name for p in (store / "index").iterdir() if p.is_dir()] == [live]
    monkeypatch.undo()
    assert searches(store)[0][0][0] == "tea"


def test_get_prints_memories_and_exits_1_for_a_missing_id(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--path", str(store), "get", "tea", "peanuts", "--namespace", "ada")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["tea", "peanuts"]  # in the order asked
    assert "v2  @5  Ada switched to oolong tea" in out
    code, out, err = run(capsys, "--path", str(store), "get", "tea", "nope", "--namespace", "ada", "--json")
    assert code == 1 and err.strip() == "not found: nope"
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert (record["id"], record["version"], record["metadata"]) == ("tea", 2, {"who": "ada"})
    assert [len(v) for v in record["vectors"].values()] == [64]  # --json carries the vectors


def test_scan_lists_a_namespace_in_id_order_with_filter_limit_and_offset(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--path", str(store), "scan", "--namespace", "ada", "--json")
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["peanuts", "standup", "tea"]
    code, out, _ = run(capsys, "--path", str(store), "scan", "--namespace", "ada", "--limit", "1", "--offset", "1")
    assert out.split()[0] == "standup"
    code, out, _ = run(capsys, "--path", str(store), "scan", "--namespace", "bob", "--filter", '{"who": "ada"}')
    assert code == 0 and "(no memories)" in out
    code, _, err = run(capsys, "--path", str(store), "scan", "--limit", "0")
    assert code == 2 and err.startswith("error: --limit")


def test_delete_appends_deletions_and_keeps_the_history(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--path", str(store), "delete", "tea", "nope", "--namespace", "ada")
    assert code == 0, err
    assert out.strip() == "deleted 1 memory of 2 asked"
    with Memory(store) as memory:
        assert memory.get("tea", namespace="ada") == []
        assert [e.type for e in memory.history("tea", namespace="ada")][-1] == "memory.deleted"
        assert memory.count(namespace="ada") == 2


def test_hits_and_records_line_up_whatever_the_ids(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["search", "tea peanuts standup", "--embedder", EMBEDDER], ["scan"]):
        code, out, _ = run(capsys, "--path", str(store), *argv, "--namespace", "ada")
        assert code == 0
        starts = {line.index("Ada") for line in out.splitlines()}  # where each text begins
        assert len(out.splitlines()) == 3 and len(starts) == 1, out


def test_delete_with_a_bad_id_writes_nothing(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Memory(store) as memory:
        before = memory.health()["log"]["position"]
    code, out, err = run(capsys, "--path", str(store), "delete", "tea", "", "--namespace", "ada")
    assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1 and out == ""
    with Memory(store) as memory:
        assert memory.health()["log"]["position"] == before  # not even the valid id was deleted
        assert memory.get("tea", namespace="ada")[0].version == 2


def test_export_writes_every_event_exactly_to_a_file_or_stdout(
    store: Path, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    from omega_memory_plugin.events import EVENT_ADAPTER

    target = store.parent / "memory.jsonl"
    code, out, err = run(capsys, "--path", str(store), "export", "-o", str(target))
    assert code == 0, err
    assert out.strip() == f"exported 7 events to {target}" and "7/7" in err  # a progress bar on stderr
    assert not list(store.parent.glob("*.partial"))
    with Memory(store) as memory:
        stored = list(memory.events())
    exported = [EVENT_ADAPTER.validate_json(line) for line in target.read_text().splitlines()]
    assert exported == stored and [e.position for e in exported] == list(range(1, 8))
    upserted = [e for e in exported if e.type == "memory.upserted"]
    assert all(len(e.data.vectors["dense"]) == 4 * 64 for e in upserted)  # float32 vectors, every byte

    code, out, err = run(capsys, "--path", str(store), "export", "--until", "3")
    assert code == 0, err
    assert [EVENT_ADAPTER.validate_json(line) for line in out.splitlines()] == stored[:3]
    # Events read back serialize as they were written (the collection's distance was a bare string).
    assert not [w for w in recwarn if "serializ" in str(w.message).lower()]


def test_export_then_import_into_an_empty_memory_reproduces_it(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exported = store.parent / "memory.jsonl"
    assert run(capsys, "--path", str(store), "export", "-o", str(exported))[0] == 0
    copy = store.parent / "copy"
    Memory(copy).close()  # an empty memory
    code, out, err = run(capsys, "--path", str(copy), "import", str(exported))
    assert code == 0, err
    assert out.strip() == f"imported 7 events (0 already there) from {exported}" and "7/7" in err
    again = store.parent / "again.jsonl"
    assert run(capsys, "--path", str(copy), "export", "-o", str(again))[0] == 0
    assert again.read_bytes() == exported.read_bytes()  # the same log, byte for byte
    assert searches(copy) == searches(store)
    code, out, _ = run(capsys, "--path", str(copy), "replay", "--until", "4", "--no-progress")
    assert code == 0 and has_row(out, "default", "ada", "2 memories")  # the past too
    code, out, err = run(capsys, "--path", str(copy), "import", str(exported), "--no-progress")
    assert code == 0 and out.startswith("imported 0 events (7 already there)") and err == ""
    assert run(capsys, "--path", str(copy), "export", "-o", str(again))[0] == 0
    assert again.read_bytes() == exported.read_bytes()  # importing twice wrote nothing


def test_import_checks_every_line_before_it_writes(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exported = store.parent / "memory.jsonl"
    assert run(capsys, "--path", str(store), "export", "-o", str(exported))[0] == 0
    lines = exported.read_text().splitlines()
    copy = store.parent / "copy"
    Memory(copy).close()
    bad_text = json.loads(lines[5])
    bad_text["data"]["text"] = "\ud800 a lone surrogate"
    bad_key = json.loads(lines[5])
    bad_key["data"]["metadata"] = {"$where": "1"}
    bad_dimension = json.loads(lines[5])
    blob = base64.b64decode(bad_dimension["data"]["vectors"]["dense"])
    bad_dimension["data"]["vectors"]["dense"] = base64.b64encode(blob[:4]).decode()  # 1 float, not 64
    bad_bytes = json.loads(lines[5])
    bad_bytes["data"]["vectors"]["dense"] = base64.b64encode(blob[:6]).decode()
    cases = {
        "not json {": ":6: not an exported event",
        json.dumps(bad_text, ensure_ascii=True): ":6: not an exported event (Invalid JSON",  # the parser refuses it
        json.dumps(bad_key): ":6: metadata key '$where' is not allowed",
        json.dumps(bad_dimension): ":6: memory 'standup': vector 'dense' has dimension 1",
        json.dumps(bad_bytes): ":6: event ",  # not float32 bytes
        json.dumps({**json.loads(lines[5]), "recorded_at": "2000-01-01T00:00:00Z"}): ":6: event ",  # time goes back
    }
    other_model = json.loads(lines[5])
    other_model["data"]["embedding_model"] = "other-model"  # the collection records hash:64
    cases[json.dumps(other_model)] = ":6: collection 'default' holds vectors of embedding model 'hash:64'"
    for line, message in cases.items():
        broken = store.parent / "broken.jsonl"
        broken.write_text("\n".join([*lines[:5], line, *lines[6:]]) + "\n")
        code, out, err = run(capsys, "--path", str(copy), "import", str(broken))
        assert code == 2 and out == "", err
        assert err.startswith(f"error: {broken}{message}") and len(err.splitlines()) == 1, err
        with Memory(copy) as memory:
            assert memory.health()["log"]["position"] == 0  # nothing written, not even lines 1-5


def test_import_of_an_older_export_into_a_memory_written_since(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exported = store.parent / "memory.jsonl"
    assert run(capsys, "--path", str(store), "export", "-o", str(exported))[0] == 0
    other = store.parent / "other"
    with Memory(other, embedder=EMBEDDER) as memory:
        memory.upsert("Cy reads at night", id="night", namespace="cy")
    code, _, err = run(capsys, "--path", str(other), "import", str(exported), "--no-progress")
    assert code == 2 and "--record-now" in err and "times never go back" in err
    code, out, err = run(capsys, "--path", str(other), "import", str(exported), "--record-now", "--no-progress")
    assert code == 0, err
    assert out.startswith("imported 6 events (1 already there)")  # the collection exists here alike
    with Memory(other, embedder=EMBEDDER) as memory:
        assert [r.id for r in memory.scan(namespace="ada")] == ["peanuts", "standup", "tea"]
        assert memory.get("tea", namespace="ada")[0].text == "Ada switched to oolong tea"
        assert memory.verify().ok


def test_ctrl_c_during_import_leaves_whole_commits_and_a_rerun_finishes(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = store.parent / "memory.jsonl"
    assert run(capsys, "--path", str(store), "export", "-o", str(exported))[0] == 0
    copy = store.parent / "copy"
    Memory(copy).close()
    import os
    import signal

    commits = []
    append = Memory._append

    async def interrupted_after_three(self: Memory, events, expected):  # type: ignore[no-untyped-def]
        commits.append(await append(self, events, expected))
        if len(commits) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while the third commit is being applied
        return commits[-1]

    monkeypatch.setattr(Memory, "_append", interrupted_after_three)
    code, out, err = run(capsys, "--path", str(copy), "import", str(exported), "--no-progress")
    assert code == 130 and "run the same import again" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err
    monkeypatch.undo()
    with Memory(copy) as memory:
        assert memory.health()["log"]["position"] == sum(map(len, commits)) == 4  # whole commits
        assert memory.verify().ok
    code, out, err = run(capsys, "--path", str(copy), "import", str(exported), "--no-progress")
    assert code == 0 and out.startswith("imported 3 events (4 already there)"), err
    again = store.parent / "again.jsonl"
    assert run(capsys, "--path", str(copy), "export", "-o", str(again))[0] == 0
    assert again.read_bytes() == exported.read_bytes()


def test_ctrl_c_during_export_leaves_no_file(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: Memory, **kwargs):  # type: ignore[no-untyped-def]
        yield from []
        raise KeyboardInterrupt

    monkeypatch.setattr(Memory, "events", interrupted)
    target = store.parent / "memory.jsonl"
    code, out, err = run(capsys, "--path", str(store), "export", "-o", str(target))
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted: nothing was changed"
    assert list(store.parent.glob("memory.jsonl*")) == []


def test_search_json_prints_hits_best_first(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "--path",
        str(store),
        "search",
        "oolong tea",
        "--namespace",
        "ada",
        "--embedder",
        EMBEDDER,
        "--json",
        "--limit",
        "2",
    )
    assert code == 0, err
    hits = [json.loads(line) for line in out.splitlines()]
    assert hits[0]["id"] == "tea" and hits[0]["version"] == 2 and hits[0]["vectors"] is None
    assert hits[0]["score"] >= hits[1]["score"]


def test_tables_are_plain_rows_in_a_pipe_and_have_a_header_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m"
    long_text = "a [bold]memory[/bold] :smile: " + "word " * 40  # markup-like text, longer than a terminal
    with Memory(path, embedder=EMBEDDER) as memory:
        memory.upsert(long_text, id="long")
        memory.upsert("short", id="s")
    code, out, _ = run(capsys, "--path", str(path), "scan")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()] == [["long", "v1"], ["s", "v1"]]  # no header, no wrap
    assert long_text.strip() in out and not any(line != line.rstrip() for line in out.splitlines())
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # what rich reads to draw for a terminal
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, _ = run(capsys, "--path", str(path), "scan")
    assert code == 0 and "\x1b[" in out  # styled
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["id", "version", "position"] and "─" in lines[1]
    assert len(lines) > 4 and all(len(line.rstrip()) <= 80 for line in lines)  # folded to the window
    assert "[bold]memory[/bold]" in out and ":smile:" in out  # printed as written, not as markup


def test_replay_until_json(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "--path",
        str(store),
        "replay",
        "--until",
        "4",
        "--no-progress",
        "--json",
        "--search",
        "coffee",
        "--namespace",
        "bob",
        "--embedder",
        EMBEDDER,
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["position"], report["asked"], report["total"]) == (4, 4, 3)
    assert report["memories"] == [
        {"collection": "default", "namespace": "ada", "count": 2},
        {"collection": "default", "namespace": "bob", "count": 1},
    ]
    assert [hit["id"] for hit in report["hits"]] == ["coffee"]
    code, _, err = run(capsys, "--path", str(store), "replay", "--json")
    assert code == 2 and "--until" in err


def test_search_modes(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--path", str(store), "search", "peanuts", "--mode", "sparse", "--namespace", "ada")
    assert code == 0, err
    assert [line.split()[1] for line in out.splitlines()] == ["peanuts"]  # no embedder needed for words
    code, out, err = run(
        capsys,
        "--path",
        str(store),
        "search",
        "oolong",
        "--mode",
        "hybrid",
        "--fusion",
        "dbsf",
        "--namespace",
        "ada",
        "--embedder",
        EMBEDDER,
        "--json",
    )
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["id"] == "tea"
    code, out, err = run(capsys, "--path", str(store), "search", "oolong", "--mode", "hybrid", "--namespace", "ada")
    assert code == 0 and out.split()[1] == "tea", err  # hybrid embeds with the collection's own model
    code, out, err = run(
        capsys,
        "--path",
        str(store),
        "search",
        "tea",
        "--mmr",
        "0.5",
        "--namespace",
        "ada",
        "--embedder",
        EMBEDDER,
        "--limit",
        "2",
    )
    assert code == 0 and len(out.splitlines()) == 2, err
    code, _, err = run(capsys, "--path", str(store), "search", "tea", "--mmr", "2", "--embedder", EMBEDDER)
    assert code == 2 and "diversity" in err


def test_reembed_switches_the_model_and_rollback_goes_back(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--path", str(store), "reembed", "--embedder", "hash:32", "--no-progress")
    assert code == 0
    assert out.startswith("collection 'default': 'hash:64' -> 'hash:32' (space 1); 5 embedded")
    with Memory(store) as memory:
        assert memory.embedder is not None and memory.embedder.name == "hash:32"
        assert memory.search(text="Ada switched to oolong tea", namespace="ada", limit=1)[0].id == "tea"
        memory.upsert("Bob cycles to work", id="cycle", namespace="bob")
    code, out, _ = run(capsys, "reembed", "--path", str(store), "--rollback", "--json", "--no-progress")
    report = json.loads(out)
    assert code == 0
    assert (report["from_model"], report["to_model"], report["embedded"], report["kept"]) == (
        "hash:32",
        "hash:64",
        1,
        5,
    )
    code, out, _ = run(capsys, "--path", str(store), "search", "Bob cycles to work", "--namespace", "bob", "--json")
    assert json.loads(out.splitlines()[0])["id"] == "cycle"


def test_reembed_without_a_model_says_what_to_pass(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--path", str(store), "reembed")
    assert code != 0 and "--embedder NAME" in err
    code, _, err = run(capsys, "--path", str(store), "reembed", "--rollback")
    assert code != 0 and "never switched" in err
