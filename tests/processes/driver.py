"""Drive application processes (tests/processes/app.py) from a test."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


class AppError(Exception):
    """A command failed in the application process (its exception's type and message)."""


class AppProcess:
    """A child process holding a Memory opened with ``settings``; ``call`` runs one command there."""

    def __init__(self, settings: dict[str, Any], env: dict[str, str] | None = None, timeout: float = 120.0) -> None:
        self.timeout = timeout
        environment = {**os.environ, **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join([str(HERE), environment.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "app.py"), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.index_name: str | None = None

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def _next(self, timeout: float | None = None) -> dict[str, Any]:
        try:
            line = self._replies.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise TimeoutError(f"no reply within {timeout or self.timeout} s; stderr:\n{self.stderr}") from None
        if line is None:
            raise AppError(f"the process exited ({self.process.wait()}); stderr:\n{self.stderr}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    @property
    def stderr(self) -> str:
        return "".join(self._stderr[-40:])

    def ready(self) -> str:
        """Wait until the Memory is open; return its index's name (which names its generation)."""
        self.index_name = str(self._next()["ready"])
        return self.index_name

    def send(self, command: str, **args: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"command": command, "args": args}) + "\n")
        self.process.stdin.flush()

    def reply(self, timeout: float | None = None) -> Any:
        reply = self._next(timeout)
        if "error" in reply:
            raise AppError(f"{reply['error']}: {reply['message']}")
        return reply["ok"]

    def call(self, command: str, **args: Any) -> Any:
        self.send(command, **args)
        return self.reply()

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
