"""A real Mongo-wire server for tests and benchmarks: FerretDB 1.24 (SQLite handler) on loopback.

Built once from the Go module proxy and cached in ``~/.cache/omega-memory/``. ``go install
...@v1.24.2`` would be the usual way, but it reads the module's version list, which the proxy
reachable here refuses (403); so the tagged module source is downloaded with ``go mod download``
and built, with the version file its build expects filled in.

Always started with ``--telemetry=disable`` on 127.0.0.1; stopped when the test session ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

VERSION = "v1.24.2"
MODULE = "github.com/FerretDB/FerretDB"
CACHE = Path(os.environ.get("OMEGA_TEST_CACHE", Path.home() / ".cache" / "omega-memory"))


def ferretdb_binary() -> Path:
    binary = CACHE / f"ferretdb-{VERSION}"
    if binary.exists():
        return binary
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build FerretDB for the Mongo tests (or set OMEGA_TEST_MONGO_URL)")
    CACHE.mkdir(parents=True, exist_ok=True)
    info = json.loads(
        subprocess.run(
            ["go", "mod", "download", "-json", f"{MODULE}@{VERSION}"], check=True, capture_output=True, text=True
        ).stdout
    )
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "src"
        shutil.copytree(info["Dir"], source)
        for path in source.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
        (source / "build" / "version" / "version.txt").write_text(VERSION + "\n")
        partial = binary.with_suffix(".partial")
        subprocess.run(["go", "build", "-o", str(partial), "./cmd/ferretdb"], cwd=source, check=True)
        partial.rename(binary)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FerretDB:
    """One FerretDB process over a data directory; can be killed and restarted on the same data."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(ferretdb_binary()),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.data_dir}/",
            f"--listen-addr=127.0.0.1:{self.port}",
            "--telemetry=disable",
            "--debug-addr=-",
            f"--state-dir={self.data_dir}",
            "--log-level=error",
        ]
        log = open(self.data_dir / "ferretdb.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"FerretDB exited: see {self.data_dir / 'ferretdb.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"FerretDB did not listen on port {self.port} within {timeout} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
