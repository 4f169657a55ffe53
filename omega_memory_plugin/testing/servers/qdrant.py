"""A real Qdrant server for tests and benchmarks: Qdrant 1.19.0 on loopback.

The binary ships xz-compressed beside the repository (``<repo>/../shared/qdrant/``, see its
README; ``OMEGA_TEST_QDRANT_XZ`` names another file). It is decompressed once, with the standard
library, into ``~/.cache/omega-memory/`` and checked against the README's sha256 before use.

Each server runs on free loopback ports with its own storage directory and telemetry disabled
(``QDRANT__TELEMETRY_DISABLED=true``: it must never call out); it is stopped with SIGTERM.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

VERSION = "v1.19.0"
SHA256 = "67793cae4b1cf004bc1c4b11a8a69493ed607ddddac50a025679915ab7b0f1e1"
ARCHIVE = f"qdrant-{VERSION}-linux-x86_64.xz"
CACHE = Path(os.environ.get("OMEGA_TEST_CACHE", Path.home() / ".cache" / "omega-memory"))
# omega_memory_plugin/testing/servers/qdrant.py -> the repository root -> its sibling `shared`.
SHARED = Path(__file__).resolve().parents[4] / "shared" / "qdrant"


def qdrant_archive() -> Path:
    """The compressed server binary: ``OMEGA_TEST_QDRANT_XZ`` if set, else the shared copy."""
    override = os.environ.get("OMEGA_TEST_QDRANT_XZ")
    archive = Path(override) if override else SHARED / ARCHIVE
    if not archive.is_file():
        raise FileNotFoundError(
            f"the Qdrant {VERSION} server binary is not at {archive}. Put {ARCHIVE} there (see "
            f"{SHARED / 'README.md'}), set OMEGA_TEST_QDRANT_XZ to its path, or set "
            "OMEGA_TEST_QDRANT_URL to a running Qdrant server"
        )
    return archive


def qdrant_binary() -> Path:
    """The decompressed, verified binary in the cache; decompressed on first use only."""
    binary = CACHE / f"qdrant-{VERSION}"
    if binary.exists():
        return binary
    archive = qdrant_archive()
    CACHE.mkdir(parents=True, exist_ok=True)
    # Several test sessions may start at once: each writes its own partial file, and the rename
    # is atomic, so the cache only ever holds a complete, verified binary.
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with lzma.open(archive) as source, open(partial, "wb") as target:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                target.write(chunk)
        if digest.hexdigest() != SHA256:
            raise RuntimeError(
                f"{archive} decompresses to a binary with sha256 {digest.hexdigest()}, not the "
                f"expected {SHA256}: replace it with the {ARCHIVE} described in {SHARED / 'README.md'}"
            )
        partial.chmod(0o755)
        partial.replace(binary)
    finally:
        partial.unlink(missing_ok=True)
    return binary


def free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(count: int) -> list[int]:
    # All sockets are held open while choosing, so the ports are distinct.
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


class QdrantServer:
    """One Qdrant process over a data directory; can be stopped or killed and started again on
    the same data and ports.

    Example::

        server = QdrantServer(tmp_path / "qdrant")
        server.start()
        client = QdrantClient(url=server.url)
        ...
        server.stop()

    ``http_port`` fixes the HTTP port (e.g. one a client was refused on before), ``grpc_port``
    the gRPC one; both default to free loopback ports.
    """

    def __init__(self, data_dir: Path, http_port: int | None = None, grpc_port: int | None = None) -> None:
        self.data_dir = data_dir
        if http_port is None or grpc_port is None:
            spare = [p for p in _free_ports(3) if p not in (http_port, grpc_port)]
            http_port = http_port if http_port is not None else spare.pop()
            grpc_port = grpc_port if grpc_port is not None else spare.pop()
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "qdrant.log"

    def _environment(self) -> dict[str, str]:
        # Inherited QDRANT__* variables would reconfigure the server (another storage path, a
        # public host, telemetry on): only the settings below apply.
        env = {k: v for k, v in os.environ.items() if not k.startswith("QDRANT__")}
        env.update(
            QDRANT__SERVICE__HOST="127.0.0.1",
            QDRANT__SERVICE__HTTP_PORT=str(self.http_port),
            QDRANT__SERVICE__GRPC_PORT=str(self.grpc_port),
            QDRANT__STORAGE__STORAGE_PATH=str(self.data_dir / "storage"),
            QDRANT__STORAGE__SNAPSHOTS_PATH=str(self.data_dir / "snapshots"),
            QDRANT__TELEMETRY_DISABLED="true",
        )
        return env

    def start(self, timeout: float = 30.0) -> None:
        """Start the server; return once ``GET /readyz`` answers 200 and the gRPC port accepts."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"the Qdrant server at {self.url} is already running (pid {self.process.pid})")
        binary = qdrant_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        # cwd is the data directory: Qdrant reads ./config and writes its init marker there.
        self.process = subprocess.Popen(
            [str(binary)], cwd=self.data_dir, env=self._environment(), stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._close_log()
                raise RuntimeError(
                    f"the Qdrant server exited with status {self.process.returncode} at start; "
                    f"its log, {self.log_path}, ends with:\n{self._log_tail()}"
                )
            if self._ready():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(
            f"the Qdrant server did not become ready at {self.url}/readyz within {timeout} s; "
            f"its log, {self.log_path}, ends with:\n{self._log_tail()}"
        )

    def _ready(self) -> bool:
        # /readyz answers before the gRPC listener is up, and a SIGTERM in that gap stops only
        # the HTTP side (the process then lingers until killed): wait for both.
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                if response.status != 200:
                    return False
            socket.create_connection(("127.0.0.1", self.grpc_port), timeout=1).close()
        except (urllib.error.URLError, OSError):
            return False
        return True

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush (a crash)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
