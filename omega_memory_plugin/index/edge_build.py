"""Building a new Qdrant Edge generation in a child process: the second core for a rebuild.

qdrant-edge-py holds the GIL while it converts points and while it updates a shard, and turning
events into points is over half of a replay. In one process, reading and decoding the next batch
of the log therefore never overlaps applying this one. A large new generation (``rebuild()``, an
index rebuilt at open) is instead written by a child Python process that owns its shards until
the build is done: this process reads and decodes the log and packs each point (its payload
built, its vectors as raw float32 bytes); the child turns them into Edge points, upserts them,
flushes and optimizes; then it closes the shards and this process loads them and serves them.

The two talk over the child's stdin and stdout, one pickled message each way per call (pickle
frames itself, so ``pickle.load`` reads exactly one). Writes are not waited for, up to
:data:`IN_FLIGHT` at a time: that is the overlap. The child answers every message in order; after
its first error it applies nothing more and answers every later message with that error, so a
failed build never carries on with a gap. The parent raises it (:class:`IndexUnavailableError`)
at the next call that reads an answer, and a failed build is dropped by its caller.

The child exits when its stdin closes (this process closed the build, or died).

Example (what :class:`~omega_memory_plugin.index.edge.EdgeProjection` does)::

    build = EdgeBuild.start(generation_dir)
    build.send(("create", "default", {"dense": 384}, Distance.COSINE))
    build.send(("upsert", "default", parts))
    build.call(("optimize",))
    build.finish()  # flushed and closed: the parent may load the shards now
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, NoReturn

from ..errors import IndexUnavailableError

#: A new generation built from at least this many events is built in a child process; below, the
#: child's start (about a second, mostly imports) would cost more than it saves.
#: ``Settings.edge_build_process=False`` builds every generation in the process that owns the index.
CHILD_BUILD_AT = 20_000
#: Writes sent and not yet answered before :meth:`EdgeBuild.send` waits for the oldest answer:
#: enough for the child never to wait for the parent, few enough to bound what is buffered.
IN_FLIGHT = 16
#: The size asked for the pipe to the child (Linux allows up to 1 MiB to any process by default).
PIPE_BYTES = 1 << 20
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class EdgeBuild:
    """This process's end of a child that writes one Edge generation (see the module docstring)."""

    def __init__(self, process: subprocess.Popen[bytes], errors: IO[bytes]) -> None:
        self._process = process
        self._errors = errors
        assert process.stdin is not None and process.stdout is not None
        self._to: IO[bytes] = process.stdin
        self._from: IO[bytes] = process.stdout
        self._unanswered = 0
        self._started: bool | None = None
        #: why the child did not start (see :meth:`started`)
        self.why = ""
        #: the collections the child holds a shard of (what ``held()`` answers while it builds)
        self.collections: set[str] = set()

    @classmethod
    def start(cls, directory: Path) -> EdgeBuild:
        """Start the child for the generation at ``directory`` (which it creates shards in)."""
        errors = tempfile.TemporaryFile()
        # The child imports this very package, wherever this process found it: first on its path,
        # and -P keeps the current directory (which may hold another copy) off it.
        path = os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
        try:
            process = subprocess.Popen(
                [sys.executable, "-P", "-m", __name__, str(directory)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env={**os.environ, "PYTHONPATH": path},
            )
        except BaseException:
            errors.close()
            raise
        assert process.stdin is not None
        with contextlib.suppress(ImportError, AttributeError, OSError):  # Linux only; elsewhere the default
            import fcntl

            # A write is about 1.8 KB a point, more than the default 64 KB pipe holds for a batch:
            # a larger pipe lets this process go on reading the log while the child is busy.
            fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        build = cls(process, errors)
        build.collections = {p.name for p in directory.iterdir() if p.is_dir()}  # the child loads those (a copy's)
        return build

    def started(self) -> bool:
        """Whether the child runs (waiting, the first time, for it to say it has started): False
        when ``sys.executable`` cannot run it (a frozen application, an embedded interpreter),
        and then :attr:`why` says what it printed. Asked before the first message is sent."""
        if self._started is None:
            try:
                self._started = pickle.load(self._from) is None
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                self._process.wait()
                self._started = False
                self.why = self._said() or str(exc) or type(exc).__name__
        return self._started

    def send(self, message: tuple[Any, ...]) -> None:
        """Hand one write to the child without waiting for it (beyond :data:`IN_FLIGHT` unanswered)."""
        if not self.started():
            raise IndexUnavailableError(f"the child process building the Qdrant Edge index did not start: {self.why}")
        if message[0] == "create":
            self.collections.add(message[1])
        try:
            pickle.dump(message, self._to, protocol=pickle.HIGHEST_PROTOCOL)
            self._to.flush()
        except OSError as exc:  # the child is gone: its answer says why
            self._failed(exc)
        self._unanswered += 1
        while self._unanswered > IN_FLIGHT:
            self._answer()

    def call(self, message: tuple[Any, ...]) -> None:
        """Send ``message`` and wait until it and every write before it are done."""
        self.send(message)
        while self._unanswered:
            self._answer()

    def finish(self) -> None:
        """Have the child flush and close its shards and exit: they are then this process's to load.
        A child that cannot is stopped all the same (its build has failed)."""
        try:
            self.call(("close",))
        except BaseException:
            self.kill()
            raise
        self._process.wait()
        for stream in (self._to, self._from, self._errors):
            stream.close()

    def kill(self) -> None:
        """Stop the child now (a build that is dropped); what it wrote is the caller's to delete."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._to, self._from, self._errors):
            stream.close()

    def _answer(self) -> None:
        """Read the oldest answer: None, or the child's first error."""
        try:
            failure = pickle.load(self._from)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self._failed(exc)
        self._unanswered -= 1
        if failure is not None:
            raise IndexUnavailableError(f"building the Qdrant Edge index in a child process failed: {failure}")

    def _failed(self, exc: BaseException) -> NoReturn:
        self._process.wait()
        raise IndexUnavailableError(
            f"the child process building the Qdrant Edge index exited ({self._process.returncode}): "
            + (self._said() or str(exc))
        ) from exc

    def _said(self) -> str:
        """The last lines the child wrote to stderr (a traceback, when it failed)."""
        self._errors.seek(0)
        return "\n".join(self._errors.read().decode(errors="replace").strip().splitlines()[-20:])


def serve(directory: Path, inbox: IO[bytes], outbox: IO[bytes]) -> None:
    """The child's loop: carry out each message on the shards of ``directory``, answer it."""
    from .edge import EdgeShards  # the child needs the shards, the parent only the protocol

    shards = EdgeShards(directory)
    pickle.dump(None, outbox)  # started: the parent waits for this before it sends anything
    outbox.flush()
    failure: str | None = None
    try:
        while True:
            try:
                message = pickle.load(inbox)
            except EOFError:
                return  # the parent closed the build or died: nothing more will come
            if failure is None:
                try:
                    shards.carry_out(message)
                except Exception as exc:
                    failure = f"{type(exc).__name__}: {exc}"
            pickle.dump(failure, outbox, protocol=pickle.HIGHEST_PROTOCOL)
            outbox.flush()
            if message[0] == "close":
                return
    finally:
        shards.close()


if __name__ == "__main__":
    # The answers get stdout to themselves: anything else printed goes to stderr.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(Path(sys.argv[1]), sys.stdin.buffer, answers)
