"""The ``omega-memory`` command: replay the log, look into the past, inspect and search a memory.

Every subcommand opens the memory named by ``--path`` / ``--log-url`` / ``--index-url`` (or the
``OMEGA_*`` environment), does one thing and closes it. Library errors are printed as one line,
``error: ...``, with exit code 2. Reading commands print tables (:mod:`.cli_tables`: with a header
on a terminal, plain rows in a pipe) or, with ``--json``, JSON.

Example::

    $ omega-memory --path ./.omega-memory replay                 # rebuild the index from the log
    $ omega-memory --path ./.omega-memory replay --until 1200    # counts as of log position 1200
    $ omega-memory replay --until 2025-01-31T12:00 --search "tea" --embedder hash:384
    $ omega-memory stats
    $ omega-memory history pref-tea --namespace ada
    $ omega-memory get pref-tea allergy --namespace ada --json
    $ omega-memory scan --namespace ada --filter '{"topic": "drinks"}' --limit 20
    $ omega-memory delete pref-tea --namespace ada      # one memory.deleted event; the history stays
    $ omega-memory export -o memory.jsonl               # every event of the log, with its vectors
    $ omega-memory --path ./copy import memory.jsonl    # append them (again: writes nothing)
    $ omega-memory search "what does Ada drink" --namespace ada --filter '{"topic": "drinks"}'
    $ omega-memory search "ORD-2291" --mode sparse --namespace ada          # BM25: no embedder needed
    $ omega-memory verify            # does the index hold exactly what the log says? (--repair fixes it)
    $ omega-memory --read-only stats # while another process owns the directory
    $ omega-memory --log-url mongodb://db/omega --index-url http://qdrant:6333 project   # catch up once
    $ omega-memory --log-url mongodb://db/omega --index-url http://qdrant:6333 project --follow --health 0.0.0.0:8080

Ctrl-C during ``replay`` cancels the rebuild: the live index is left as it was (exit code 130).
Ctrl-C during ``import`` stops between commits: run the same import again to finish it. Every
Ctrl-C exits with code 130 and one line on standard error.
``project --follow`` is the projector worker of processes opened with ``projector="external"``;
SIGTERM or Ctrl-C stops it after the step in progress, with its checkpoint saved (exit code 0).
``project`` and ``replay`` always apply inline, whatever ``OMEGA_PROJECTOR`` says: they are what
applies the log.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm.auto import tqdm

from .cli_tables import print_table
from .errors import InvalidInputError, OmegaMemoryError, TimeOrderError
from .events import EVENT_ADAPTER, Event
from .health_endpoint import parse_address
from .hookspecs import hookimpl
from .importing import commits, pending_event
from .lineage import Explanation
from .log.base import POLL_SECONDS
from .memory import Memory
from .origin import writing_as
from .records import MemoryRecord
from .settings import Settings
from .worker import MAX_LAG_SECONDS, ProjectorWorker, stop_on_signals

PROG = "omega-memory"


# -- arguments -------------------------------------------------------------------------------------


def parse_until(value: str) -> int | datetime:
    """``--until``: a log position (integer >= 0) or an ISO-8601 time (naive means UTC).

    >>> parse_until("42")
    42
    >>> parse_until("2025-01-31T12:00")
    datetime.datetime(2025, 1, 31, 12, 0, tzinfo=datetime.timezone.utc)
    """
    text = value.strip()
    if text.lstrip("+-").isdigit():
        position = int(text)
        if position < 0:
            raise argparse.ArgumentTypeError(f"a log position is 0 or more, got {value!r}")
        return position
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a log position (e.g. 1200) nor an ISO-8601 time (e.g. 2025-01-31T12:00:00Z)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _common_options(default: Any) -> argparse.ArgumentParser:
    # Added to the main parser and to every subcommand, so options work before or after the
    # subcommand; subcommands use SUPPRESS so they never overwrite a value given before them.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--path", default=default, help="memory directory (default: OMEGA_PATH or ./.omega-memory)")
    common.add_argument("--log-url", default=default, help="event log URL, e.g. sqlite:///m/log.db (OMEGA_LOG_URL)")
    common.add_argument("--index-url", default=default, help="index URL, e.g. http://localhost:6333 (OMEGA_INDEX_URL)")
    common.add_argument("--embedder", default=default, help="embedder for text queries, e.g. hash:384 (OMEGA_EMBEDDER)")
    common.add_argument(
        "--read-only",
        action="store_true",
        default=default,
        help="replay the log into memory instead of opening the index (works while another process owns it)",
    )
    return common


def _scope_options(parser: argparse.ArgumentParser, with_limit: bool = False) -> None:
    parser.add_argument("--namespace", help="namespace (default: OMEGA_NAMESPACE or 'default')")
    parser.add_argument("--collection", help="collection (default: OMEGA_COLLECTION or 'default')")
    if with_limit:
        parser.add_argument("--limit", type=int, default=5, help="how many hits to print (default 5)")


def _filter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--filter", type=_json_object, metavar="JSON", help='metadata filter, e.g. \'{"topic": "drinks"}\''
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, search and replay an omega-memory (event log + index).",
        parents=[_common_options(None)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options(argparse.SUPPRESS)

    replay = sub.add_parser(
        "replay",
        parents=[common],
        help="rebuild the index from the log, or show the memory as of a point",
        description="Without --until: rebuild the index from the whole log and swap it in. With --until: "
        "replay into a read-only in-memory view and print what the memory held at that point.",
    )
    replay.add_argument(
        "--until",
        type=parse_until,
        metavar="POSITION|TIMESTAMP",
        help="a log position, or an ISO-8601 time (naive = UTC); read-only, the index is untouched",
    )
    replay.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")
    replay.add_argument("--search", metavar="TEXT", help="with --until: also print the top hits for TEXT at that point")
    replay.add_argument("--json", action="store_true", help="with --until: print one JSON object")
    _scope_options(replay, with_limit=True)
    replay.set_defaults(
        run=cmd_replay, applies=True, interrupted="interrupted: nothing was changed (the live index is as it was)"
    )

    stats = sub.add_parser("stats", parents=[common], help="log position, index lag, memories per collection")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(run=cmd_stats)

    history = sub.add_parser("history", parents=[common], help="every event of one memory, oldest first")
    history.add_argument("memory_id", metavar="MEMORY_ID")
    _scope_options(history)
    history.add_argument("--json", action="store_true", help="print one JSON object per event (vectors left out)")
    history.set_defaults(run=cmd_history)

    get = sub.add_parser("get", parents=[common], help="memories by id, as the index holds them")
    get.add_argument("memory_ids", nargs="+", metavar="MEMORY_ID")
    _scope_options(get)
    get.add_argument("--json", action="store_true", help="print one JSON object per memory (with its vectors)")
    get.set_defaults(run=cmd_get)

    scan = sub.add_parser("scan", parents=[common], help="memories of a namespace in id order, optionally filtered")
    _scope_options(scan)
    _filter_option(scan)
    scan.add_argument("--limit", type=int, default=100, help="how many to print (default 100)")
    scan.add_argument("--offset", type=int, default=0, help="skip this many first (default 0)")
    scan.add_argument("--json", action="store_true", help="print one JSON object per memory (no vectors)")
    scan.set_defaults(run=cmd_scan)

    delete = sub.add_parser(
        "delete",
        parents=[common],
        help="delete memories by id (missing ids are ignored)",
        description="Append one memory.deleted event per existing id, in one commit. The log keeps every "
        "version before it (see 'history'); 'replay --until' still shows the memory as it was.",
    )
    delete.add_argument("memory_ids", nargs="+", metavar="MEMORY_ID")
    _scope_options(delete)
    delete.set_defaults(run=cmd_delete)

    forget = sub.add_parser(
        "forget",
        parents=[common],
        help="erase a subject for good, from the index and the log (crypto-shredding)",
        description="Delete every memory sealed under SUBJECT's data key (a namespace, or the subject its "
        "writes named), destroy the key so that no replay or 'replay --until' can show their content again, "
        "and rebuild an index whose files keep deleted points. The log keeps that they existed, not what they said.",
    )
    forget.add_argument("subject", metavar="SUBJECT")
    forget.add_argument("--no-compact", action="store_true", help="do not rebuild the index now ('replay' later)")
    forget.add_argument("--json", action="store_true", help="print one JSON object")
    forget.set_defaults(run=cmd_forget)

    export = sub.add_parser(
        "export",
        parents=[common],
        help="the log's events as JSON Lines, oldest first, with their vectors",
        description="Write every event of the log (or up to --until) as one JSON object per line, exactly as "
        "stored: ids, versions, positions, times, text, metadata and vectors (float32, base64). Streams: "
        "memory use does not grow with the log.",
    )
    export.add_argument(
        "--until",
        type=parse_until,
        metavar="POSITION|TIMESTAMP",
        help="stop at this log position or ISO-8601 time (naive = UTC)",
    )
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write to FILE (with a progress bar on stderr) instead of standard output",
    )
    export.set_defaults(run=cmd_export)

    load = sub.add_parser(
        "import",
        parents=[common],
        help="append the events of an export (idempotent: again writes nothing)",
        description="Append the events of a JSON Lines export as they were: the same ids, data, vectors and "
        "times, commit by commit. Every line is read and checked before anything is written. Events the "
        "memory already holds are skipped, so importing a file twice writes nothing and an interrupted "
        "import is finished by running it again. Into an empty memory, an export is reproduced exactly.",
    )
    load.add_argument("file", type=Path, metavar="FILE", help="a file written by 'omega-memory export'")
    load.add_argument(
        "--record-now",
        action="store_true",
        help="record the events at the time of the import, not their own (to merge an export "
        "older than this memory's last write)",
    )
    load.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")
    load.set_defaults(
        run=cmd_import,
        interrupted="interrupted: the commits imported so far are whole; run the same import again to finish it",
    )

    search = sub.add_parser("search", parents=[common], help="nearest memories to a text (needs an embedder)")
    search.add_argument("text", metavar="TEXT")
    _scope_options(search, with_limit=True)
    _filter_option(search)
    search.add_argument(
        "--mode",
        choices=["dense", "sparse", "hybrid"],
        default="dense",
        help="dense: nearest embeddings (needs --embedder); sparse: BM25 over the texts (exact words, names, "
        "numbers; no embedder); hybrid: both, fused (default dense)",
    )
    search.add_argument("--fusion", choices=["rrf", "dbsf"], default="rrf", help="how hybrid fuses (default rrf)")
    search.add_argument(
        "--mmr",
        type=float,
        metavar="DIVERSITY",
        help="dense: re-rank for variety (maximal marginal relevance), 0 = the nearest .. 1 = the most different",
    )
    search.add_argument("--json", action="store_true", help="print one JSON object per hit, best first")
    search.add_argument(
        "--explain",
        action="store_true",
        help="after each hit, the events that made it what it is (positions, times, model, who wrote them)",
    )
    search.set_defaults(run=cmd_search)

    verify = sub.add_parser(
        "verify",
        parents=[common],
        help="compare the index with the log, namespace by namespace",
        description="Fold the log into its live memories (ids and versions) and compare them with the index: "
        "counts and a digest per namespace, then the memories that differ. Exit code 0 if they match, 1 if not.",
    )
    verify.add_argument("--repair", action="store_true", help="re-project the memories that differ from the log")
    verify.add_argument("--json", action="store_true", help="print the report as one JSON object")
    verify.set_defaults(run=cmd_verify)

    reembed = sub.add_parser(
        "reembed",
        parents=[common],
        help="re-embed a collection with another model (--embedder NAME), or go back (--rollback)",
        description="Embed every memory's text with the model --embedder names, recording the new vectors in "
        "the log while the current model keeps serving, then switch the collection to it (one event every "
        "process follows). Interrupted, it resumes where it stopped when run again. --rollback switches back to "
        "the model used before, embedding only what was written since.",
    )
    reembed.add_argument("--collection", help="collection (default: OMEGA_COLLECTION or 'default')")
    reembed.add_argument("--rollback", action="store_true", help="go back to the model used before the last switch")
    reembed.add_argument("--batch-size", type=int, default=256, help="texts per call to the model (default 256)")
    reembed.add_argument("--no-progress", action="store_true", help="draw no progress bar")
    reembed.add_argument("--json", action="store_true", help="print the report as one JSON object")
    reembed.set_defaults(run=cmd_reembed, applies=True, reembeds=True)

    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the memory to other programs: 'serve mcp' (MCP tools over stdio or HTTP)",
        description="Serve the memory as MCP tools (memory.upsert, memory.search, memory.get, memory.delete, "
        "memory.history, memory.as_of) for agent hosts: over stdio (what desktop hosts launch) or streamable "
        "HTTP (--http HOST:PORT, path /mcp). OMEGA_MCP_* settings give the defaults.",
    )
    serve.add_argument("protocol", choices=["mcp"], help="what to serve")
    serve.add_argument(
        "--http", type=parse_address, metavar="HOST:PORT", help="streamable HTTP at /mcp instead of stdio"
    )
    serve.add_argument("--namespace", help="serve this namespace only (OMEGA_MCP_NAMESPACE)")
    serve.add_argument("--no-delete", action="store_true", help="do not offer memory.delete")
    serve.add_argument("--tool-names", choices=["dotted", "underscored"], help="memory.search or memory_search")
    serve.set_defaults(run=cmd_serve, creates=True)

    project = sub.add_parser(
        "project",
        parents=[common],
        help="apply the log to the index: once, or as a worker with --follow",
        description="Without --follow: catch the index up with the log, save the checkpoint, print the position. "
        'With --follow: run as the projector worker of processes opened with projector="external" '
        "(OMEGA_PROJECTOR=external): wait for appends, apply them and save the checkpoint at once, until "
        "SIGTERM or Ctrl-C. Needs an index other processes can read (a Qdrant server).",
    )
    project.add_argument("--follow", action="store_true", help="keep following the log (the worker process)")
    project.add_argument(
        "--health",
        type=parse_address,
        metavar="HOST:PORT",
        help="with --follow: serve GET /health there (JSON; 200 healthy, 503 not); port 0 picks one",
    )
    project.add_argument(
        "--poll",
        type=_seconds,
        default=POLL_SECONDS,
        metavar="SECONDS",
        help=f"how often to look for appends when the log cannot announce them (SQLite, MongoDB "
        f"without change streams); default {POLL_SECONDS}",
    )
    project.add_argument(
        "--max-lag",
        type=_seconds,
        default=MAX_LAG_SECONDS,
        metavar="SECONDS",
        help=f"/health answers 503 once the oldest event not yet applied is older; default {MAX_LAG_SECONDS:g}",
    )
    project.set_defaults(run=cmd_project, applies=True)
    return parser


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, e.g. 0.1, got {value!r}")
    return seconds


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg} at column {exc.colno}): {value!r}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f'a filter is a JSON object like \'{{"topic": "drinks"}}\', got {value!r}')
    return parsed


# -- opening the memory ----------------------------------------------------------------------------


def open_memory(args: argparse.Namespace) -> Memory:
    """The memory the global options (then the OMEGA_* environment) name."""
    overrides = {k: getattr(args, k, None) for k in ("path", "log_url", "index_url")}
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    if settings.log_url is None and not (settings.path / "log.db").exists() and not getattr(args, "creates", False):
        # Opening would create an empty memory; a typo in --path should not do that silently.
        raise InvalidInputError(
            f"no memory at {settings.path.absolute()} (no log.db there); pass --path DIR or --log-url, "
            "or set OMEGA_PATH / OMEGA_LOG_URL"
        )
    if getattr(args, "reembeds", False) and settings.embedder is not None:
        # reembed: OMEGA_EMBEDDER names the model to move to, like --embedder
        args.embedder = args.embedder or settings.embedder
        settings = settings.model_copy(update={"embedder": None})
    # What applies the log (replay, project, verify --repair) applies it here, also in a deployment
    # whose OMEGA_PROJECTOR=external leaves applying to a worker: these commands are such a worker.
    applies = bool(getattr(args, "applies", False) or getattr(args, "repair", False))
    return Memory(
        settings=settings,
        # reembed's --embedder is the model to move to, not the one the memory was written with
        embedder=None if getattr(args, "reembeds", False) else getattr(args, "embedder", None),
        read_only=bool(getattr(args, "read_only", False)),
        projector="inline" if applies else None,
    )


def _need_embedder(memory: Memory) -> None:
    if memory.embedder is None:
        raise InvalidInputError(
            "searching by meaning needs an embedder: pass --embedder NAME (the one the memories were written "
            "with, e.g. hash:384) or set OMEGA_EMBEDDER; or search the words with --mode sparse"
        )


class _Observer:
    """Sees the events a projector applies (through the after_project hook) while registered.

    Memory offers no list of namespaces, and a point-in-time view's index is private; the
    after_project hook is the public way to learn which scopes a replay touched and how many
    events it applied, without reading the log a second time.
    """

    def __init__(self) -> None:
        self.applied = 0
        self.last: Event | None = None
        self.scopes: dict[str, set[str]] = defaultdict(set)

    @hookimpl
    def omega_memory_after_project(self, projection: str, events: Sequence[Event]) -> None:
        self.applied += len(events)
        self.last = events[-1]
        for event in events:
            scope = self.scopes[event.collection]
            if event.namespace:
                scope.add(event.namespace)

    def watch(self, memory: Memory, action: Callable[[], Any]) -> Any:
        manager = memory.plugins.manager
        manager.register(self)
        try:
            return action()
        finally:
            manager.unregister(self)


# -- subcommands -----------------------------------------------------------------------------------


def cmd_replay(memory: Memory, args: argparse.Namespace) -> int:
    if args.until is None:
        if args.search or args.json:
            raise InvalidInputError(
                "--search and --json go with --until; to search the live index use 'omega-memory search'"
            )
        return _rebuild(memory, progress=not args.no_progress)
    return _as_of(memory, args)


def _rebuild(memory: Memory, progress: bool) -> int:
    observer = _Observer()
    started = time.perf_counter()
    position = observer.watch(memory, lambda: memory.rebuild(progress=progress))
    elapsed = time.perf_counter() - started
    rate = observer.applied / elapsed if elapsed > 0 else 0.0
    print(f"rebuilt {memory.projection.name} from {memory.log.name}")
    print(f"position {position}: {observer.applied} events in {elapsed:.2f} s ({rate:,.0f} events/s)")
    return 0


def _as_of(memory: Memory, args: argparse.Namespace) -> int:
    if args.search:
        _need_embedder(memory)
    observer = _Observer()
    with observer.watch(memory, lambda: memory.as_of(args.until, progress=not args.no_progress)) as past:
        position = past.projector.position
        recorded = observer.last.recorded_at if observer.last is not None else None
        rows = [
            (collection, namespace, past.count(namespace=namespace, collection=collection))
            for collection in sorted(observer.scopes)
            for namespace in sorted(observer.scopes[collection])
        ]
        hits = []
        if args.search:
            hits = past.search(text=args.search, namespace=args.namespace, collection=args.collection, limit=args.limit)
    if args.json:
        report = {
            "position": position,
            "recorded_at": None if recorded is None else _time(recorded),
            "asked": args.until if isinstance(args.until, int) else _time(args.until),
            "memories": [{"collection": c, "namespace": ns, "count": n} for c, ns, n in rows],
            "total": sum(n for *_, n in rows),
            "hits": [dataclasses.asdict(hit) | {"vectors": None} for hit in hits] if args.search else None,
        }
        print(json.dumps(report))
        return 0
    when = f", recorded {_time(recorded)}" if recorded is not None else ""
    print(f"as of position {position}{when} (asked: {_until_text(args.until)})")
    print_table(["collection", "namespace", "memories"], [(c, ns, _memories(n)) for c, ns, n in rows])
    print(f"  total: {_memories(sum(n for *_, n in rows))}")
    if args.search:
        print(f"top hits as of position {position} for {args.search!r}:")
        _print_hits(hits)
    return 0


def cmd_stats(memory: Memory, args: argparse.Namespace) -> int:
    health = memory.health()
    counts = {c: memory.count(collection=c, all_namespaces=True) for c in sorted(memory.collections())}
    if args.json:
        print(json.dumps({**health, "collections": counts}, default=str))
        return 0
    log, index = health["log"], health["index"]
    print(f"log    {log['name']}: position {log['position']}" + (f"  ERROR {log['error']}" if log["error"] else ""))
    print(
        f"index  {index['name']}: applied {index['applied_position']}, checkpoint {index['checkpoint']}, "
        f"lag {index['lag_events']} events" + (f"  ERROR {index['error']}" if index["error"] else "")
    )
    print_table(["collection", "memories"], [(collection, _memories(n)) for collection, n in counts.items()])
    if not counts:
        print("  (no collections yet)")
    return 0


def cmd_history(memory: Memory, args: argparse.Namespace) -> int:
    events = memory.history(args.memory_id, namespace=args.namespace, collection=args.collection)
    if not events:
        namespace, collection = args.namespace or memory.namespace, args.collection or memory.collection
        print(
            f"no events for memory {args.memory_id!r} in namespace {namespace!r}, collection {collection!r}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        for event in events:
            # Vectors are bulky binary; the audit trail is about what changed, not the embedding.
            print(json.dumps(event.model_dump(mode="json", exclude={"data": {"vectors"}})))
        return 0
    print_table(
        ["version", "position", "recorded at (UTC)", "event", "text"],
        [(f"v{e.version}", f"@{e.position}", _time(e.recorded_at), e.type, _event_text(e)) for e in events],
    )
    return 0


def _event_text(event: Event) -> str:
    if getattr(event.data, "forgotten", False):
        return "(forgotten)"
    return getattr(event.data, "text", "")


def cmd_get(memory: Memory, args: argparse.Namespace) -> int:
    records = memory.get(args.memory_ids, namespace=args.namespace, collection=args.collection, with_vectors=args.json)
    _print_records(records, args.json)
    missing = set(args.memory_ids) - {r.id for r in records}
    if missing:
        print(f"not found: {', '.join(sorted(missing))}", file=sys.stderr)
    return 0 if not missing else 1


def cmd_scan(memory: Memory, args: argparse.Namespace) -> int:
    if args.limit < 1 or args.offset < 0:
        raise InvalidInputError("--limit is 1 or more and --offset 0 or more")
    records = memory.scan(
        filter=args.filter, limit=args.limit, offset=args.offset, namespace=args.namespace, collection=args.collection
    )
    _print_records(records, args.json)
    if not records and not args.json:
        print("  (no memories)")
    return 0


def cmd_delete(memory: Memory, args: argparse.Namespace) -> int:
    deleted = memory.delete(args.memory_ids, namespace=args.namespace, collection=args.collection)
    print(f"deleted {_memories(deleted)} of {len(set(args.memory_ids))} asked")
    return 0


def cmd_forget(memory: Memory, args: argparse.Namespace) -> int:
    report = memory.forget(args.subject, compact_index=not args.no_compact)
    if args.json:
        print(json.dumps(dataclasses.asdict(report)))
        return 0
    if not report.keys and not report.memories:
        print(f"nothing to forget: no memory of subject {args.subject!r} (never written, or forgotten)")
        return 0
    print(f"forgot {_memories(report.memories)}: destroyed {report.keys} data key(s) of subject {args.subject!r}")
    if report.in_clear:
        print(
            f"warning: {_memories(report.in_clear)} had been stored in clear (encryption off, or written before it "
            "existed): deleted from every read, but their text stays in the log"
        )
    if not report.keys_scrubbed:
        print("warning: a reader held the log's WAL open; the key's old bytes are overwritten at its next checkpoint")
    if not report.index_compacted and memory.projection.keeps_deleted:
        print("the index still holds the deleted points in its files until 'replay' rebuilds it")
    return 0


def _print_records(records: Sequence[MemoryRecord], as_json: bool) -> None:
    if as_json:
        for record in records:
            print(json.dumps(dataclasses.asdict(record)))
        return
    print_table(
        ["id", "version", "position", "text", "metadata"],
        [(r.id, f"v{r.version}", f"@{r.position}", r.text, json.dumps(r.metadata)) for r in records],
    )


def cmd_export(memory: Memory, args: argparse.Namespace) -> int:
    if args.output is None:
        for event in memory.events(until=args.until):
            sys.stdout.write(event.model_dump_json() + "\n")
        return 0
    total: int | None = memory.health()["log"]["position"]  # the bar's length, when known
    if isinstance(args.until, datetime):
        total = None  # how many events lie before a time is not known without reading them
    elif args.until is not None and total is not None:
        total = min(total, args.until)
    written = 0
    # Written beside the target and renamed at the end: an interrupted export leaves no half file.
    partial = args.output.with_name(args.output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as out, tqdm(total=total, unit="ev", desc="export") as bar:
            for event in memory.events(until=args.until):
                out.write(event.model_dump_json() + "\n")
                written += 1
                bar.update(1)
        partial.replace(args.output)
    finally:
        partial.unlink(missing_ok=True)
    print(f"exported {written} events to {args.output}")
    return 0


def read_export(path: Path, last_line: list[int] | None = None) -> Iterator[Event]:
    """The events of an export file, in order. A line that is not an event raises
    :class:`InvalidInputError` naming the line; ``last_line``, if given, holds the number of the
    last line read (so that an error the import's checks find can name the line too)."""
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if last_line is not None:
                last_line[0] = number
            if not line.strip():
                continue
            try:
                yield EVENT_ADAPTER.validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(map(str, first["loc"]))
                raise InvalidInputError(
                    f"{path}:{number}: not an exported event ({where}: {first['msg']})"
                    if where
                    else f"{path}:{number}: not an exported event ({first['msg']})"
                ) from None


def cmd_import(memory: Memory, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise InvalidInputError(f"no file at {args.file}")
    count = _check_export(memory, args.file)  # a bad line anywhere stops the import before it writes
    with tqdm(total=count, unit="ev", desc="import", disable=args.no_progress) as bar:

        def counted() -> Iterator[Event]:
            for event in read_export(args.file):
                yield event
                bar.update(1)

        report = memory.import_events(counted(), keep_times=not args.record_now)
    print(f"{report} from {args.file}")
    return 0


def _check_export(memory: Memory, path: Path) -> int:
    """How many events ``path`` holds, after reading every line and checking every event as the
    import will (:func:`~omega_memory_plugin.importing.pending_event`, the order of times); raises
    :class:`InvalidInputError` naming the line."""
    states = memory.collection_states()
    line = [0]

    def checked() -> Iterator[Event]:
        for event in read_export(path, line):  # its own errors name the line already
            try:
                pending_event(event, states, max_text_bytes=memory.settings.max_text_bytes, keep_time=True)
            except InvalidInputError as exc:
                raise type(exc)(f"{path}:{line[0]}: {exc}") from None
            yield event

    try:
        return sum(len(commit) for commit in commits(checked()))
    except TimeOrderError as exc:  # commits() found it on the line just read
        raise TimeOrderError(f"{path}:{line[0]}: {exc}") from None


def cmd_search(memory: Memory, args: argparse.Namespace) -> int:
    if args.mode != "sparse":
        _need_embedder(memory)
    hits = memory.search(
        text=args.text,
        mode=args.mode,
        fusion=args.fusion,
        mmr=args.mmr is not None,
        diversity=0.5 if args.mmr is None else args.mmr,
        namespace=args.namespace,
        collection=args.collection,
        limit=args.limit,
        filter=args.filter,
    )
    _print_hits(hits, args.json)
    if args.explain:
        for hit in hits:
            lineage = memory.explain(hit)
            if args.json:
                print(json.dumps(_lineage_json(lineage)))
            else:
                print("\n" + "\n".join(lineage.lines()))
    return 0


def _lineage_json(lineage: Explanation) -> dict[str, Any]:
    def event(e: Event) -> dict[str, Any]:
        return {
            "event_id": str(e.event_id),
            "type": e.type,
            "position": e.position,
            "version": e.version,
            "recorded_at": _time(e.recorded_at),
            "origin": getattr(e.data, "origin", None),
            "embedding_model": getattr(e.data, "embedding_model", None),
        }

    return {
        "explain": lineage.memory_id,
        "namespace": lineage.namespace,
        "collection": lineage.collection,
        "version": lineage.version,
        "visible_since": lineage.visible_since,
        "first_visible": lineage.first_visible,
        "origin": lineage.origin,
        "embedding_model": lineage.embedding_model,
        "events": [event(e) for e in lineage.events],
        "history": [event(e) for e in lineage.history],
    }


def cmd_verify(memory: Memory, args: argparse.Namespace) -> int:
    report = memory.verify(repair=args.repair)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(report)
        print(f"checked in {report.seconds:.2f} s")
    return 0 if report.ok or report.repaired else 1


def cmd_reembed(memory: Memory, args: argparse.Namespace) -> int:
    progress = not args.no_progress
    if args.rollback:
        report = memory.rollback_embedding(collection=args.collection, embedder=args.embedder, progress=progress)
    elif not args.embedder:
        raise InvalidInputError(
            "reembed needs the model to move to: --embedder NAME (e.g. openai:text-embedding-3-small, hash:384); "
            "or --rollback to go back to the one used before"
        )
    else:
        report = memory.reembed(
            args.embedder, collection=args.collection, batch_size=args.batch_size, progress=progress
        )
    print(json.dumps(dataclasses.asdict(report)) if args.json else report)
    return 0


def cmd_serve(memory: Memory, args: argparse.Namespace) -> int:
    from .serve.mcp_server import McpOptions, build_server, serve_http

    s = memory.settings
    options = McpOptions(
        namespace=args.namespace or s.mcp_namespace,
        read_only=bool(args.read_only) or s.mcp_read_only,  # --read-only also opens the memory read-only
        allow_delete=s.mcp_allow_delete and not args.no_delete,
        tool_names=args.tool_names or s.mcp_tool_names,
    )
    server = build_server(memory, options)
    if args.http is None:
        server.run()  # stdio: stdout carries the protocol, so nothing else may print there
    else:
        host, port = args.http
        serve_http(server, host, port)
    return 0


def cmd_project(memory: Memory, args: argparse.Namespace) -> int:
    if args.health and not args.follow:
        raise InvalidInputError("--health goes with --follow (a one-shot catch-up exits at once)")
    worker = ProjectorWorker(memory, poll=args.poll, max_lag_seconds=args.max_lag)
    try:
        if not args.follow:
            position = worker.catch_up()
            print(f"projected {memory.log.name} into {memory.projection.name}")
            print(f"position {position}, checkpoint saved")
            return 0

        def ready(url: str | None) -> None:
            print(f"following {memory.log.name} into {memory._index_name} (Ctrl-C or SIGTERM stops)", flush=True)
            if url:
                print(f"health: {url}", flush=True)

        with stop_on_signals(worker):
            worker.run(health=args.health, on_ready=ready)
        print(f"stopped at position {memory.projector.position}, checkpoint saved", flush=True)
        return 0
    finally:
        worker.close()


def _print_hits(hits: Sequence[MemoryRecord], as_json: bool = False) -> None:
    if as_json:
        for hit in hits:  # without vectors: a search answers which memories, not their embeddings
            print(json.dumps(dataclasses.asdict(hit) | {"vectors": None}))
        return
    if not hits:
        print("  (no hits)")
    print_table(["score", "id", "text"], [(f"{hit.score or 0.0:.4f}", hit.id, hit.text) for hit in hits])


def _memories(n: int) -> str:
    return f"{n} memory" if n == 1 else f"{n} memories"


def _time(when: datetime | None) -> str:
    return "-" if when is None else when.astimezone(UTC).isoformat(timespec="microseconds")


def _until_text(until: int | datetime) -> str:
    return f"position {until}" if isinstance(until, int) else _time(until)


# -- entry point -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 nothing found, 2 bad usage or error).

    Example: ``main(["--path", "./.omega-memory", "stats"])``
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help and usage errors: argparse has printed what to say
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with open_memory(args) as memory, writing_as("omega-memory-cli"):
            code: int = args.run(memory, args)
            return code
    except OmegaMemoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The Memory cancelled what it was doing (a rebuild drops its half-built index) and closed.
        print(getattr(args, "interrupted", "interrupted: nothing was changed"), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Whoever read the output went away (`... | head`): stop quietly, as a Unix tool does. Point
        # stdout at /dev/null so that flushing it at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ValidationError as exc:  # a bad OMEGA_* variable or .env entry
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid setting ({problems}); fix the OMEGA_* variable or .env entry", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
