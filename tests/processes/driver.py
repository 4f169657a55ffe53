"""Drive application processes (tests/processes/app.py) from a test."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
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


class WorkerProcess:
    """``python -m omega_memory_plugin.cli ... project --follow --health 127.0.0.1:0`` as a child."""

    def __init__(self, settings: dict[str, Any], *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMEGA_")}
        # OMEGA_PROJECTOR=external as the applications have it (one shared .env): the command applies anyway.
        env |= {"OMEGA_QDRANT_PREFIX": settings["qdrant_prefix"], "OMEGA_PROJECTOR": "external"}
        if "qdrant_lease_seconds" in settings:
            env["OMEGA_QDRANT_LEASE_SECONDS"] = str(settings["qdrant_lease_seconds"])
        if settings.get("metrics"):
            env["OMEGA_METRICS"] = "true"
        argv = [
            sys.executable,
            "-m",
            "omega_memory_plugin.cli",
            "--log-url",
            settings["log_url"],
            "--index-url",
            settings["index_url"],
            "project",
            "--follow",
            "--health",
            "127.0.0.1:0",
            *extra,
        ]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr or []), daemon=True).start()
        self.health_url = self._expect("health: ").split(" ", 1)[1].strip()

    def _read(self) -> None:
        for line in self.process.stdout or []:
            self.lines.put(line)
        self.lines.put(None)

    def _expect(self, prefix: str, seconds: float = 120.0) -> str:
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the worker did not print {prefix!r}; stderr:\n{''.join(self.stderr)}") from None
            if line is None:
                raise AssertionError(f"the worker exited ({self.process.wait()}); stderr:\n{''.join(self.stderr)}")
            if line.startswith(prefix):
                return line

    def health(self, path: str = "/health") -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.health_url.replace("/health", path), timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self, how: signal.Signals = signal.SIGTERM) -> str:
        """SIGTERM, as an orchestrator stops it (or SIGINT, Ctrl-C); return its last line."""
        self.process.send_signal(how)
        line = self._expect("stopped at position ")
        assert self.process.wait(timeout=60) == 0, "".join(self.stderr)
        return line

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
