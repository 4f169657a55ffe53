"""One owner per embedded directory: an exclusive OS file lock (``filelock``) with a record of who
holds it, so that the error a second opener gets names the owner.

Layout: ``dir/.lock`` (held while the directory is open) and ``dir/.lock.owner`` (pid, host,
command line and since when, written once the lock is held).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from ..errors import DirectoryLockedError, IndexUnavailableError

_LOCK = ".lock"
_OWNER = ".lock.owner"


class DirectoryLock:
    """The exclusive lock on an index directory, shared by the generations of one owner.

    ``thread_local=False``: a blocking projection is opened on one thread and may be closed on
    another (a rebuild's worker), and a thread-local lock would then never be released.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._file = filelock.FileLock(root / _LOCK, thread_local=False)
        self._holders = 0
        self._mutex = threading.Lock()

    @classmethod
    def acquire(cls, root: Path) -> DirectoryLock:
        lock = cls(root)
        try:
            lock._file.acquire(blocking=False)
        except filelock.Timeout:
            raise DirectoryLockedError(_locked_message(root)) from None
        try:
            write_atomically(root / _OWNER, json.dumps(_this_process()))
        except BaseException:
            lock._file.release()
            raise
        lock._holders = 1
        return lock

    def share(self) -> DirectoryLock:
        with self._mutex:
            if self._holders == 0:
                raise IndexUnavailableError(f"the index directory {self.root} was closed; open it again")
            self._holders += 1
        return self

    def release(self) -> None:
        with self._mutex:
            self._holders -= 1
            if self._holders > 0:
                return
        # Removed before unlocking, so that a later owner never finds a record that is not its own.
        (self.root / _OWNER).unlink(missing_ok=True)
        self._file.release()


def _this_process() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": shlex.join(sys.orig_argv),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _locked_message(root: Path) -> str:
    try:
        owner = json.loads((root / _OWNER).read_text())
        who = f"pid {owner['pid']} on {owner['host']} ({owner['command']}), open since {owner['since']}"
        if owner["pid"] == os.getpid() and owner["host"] == socket.gethostname():
            who = f"another Memory or EdgeProjection in this process ({who})"
        else:
            who = f"another process: {who}"
    except (OSError, ValueError, KeyError, TypeError):  # the owner has not written its record yet
        who = "another process (it has not recorded who it is yet)"
    return (
        f"the Qdrant Edge index at {root} is already open for writing by {who}. One process owns an "
        "embedded memory directory: close the other Memory first, or open it read-only with "
        "Memory(path, read_only=True)"
    )


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    if os.name == "posix":  # Windows cannot open a directory to sync it (nor needs to)
        # The rename is durable only once the directory entry is: else a crash could bring back
        # the old CURRENT or STATE.json after the new one was relied on.
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
