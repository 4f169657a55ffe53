"""Helpers shared by the benchmark scripts: machine description, data, timing and tables.

Kept out of the package on purpose: benchmarks measure the public API and must not become
something the library imports.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from typing import TypeVar

import numpy as np

T = TypeVar("T")

DIM = 384
NAMESPACES = 10
SEED = 20261123


def namespace_of(i: int) -> str:
    """Memory ``i`` lives in one of ten tenants, round robin, so every tenant holds N/10."""
    return f"ns{i % NAMESPACES}"


def random_vectors(n: int, dim: int = DIM, seed: int = SEED) -> np.ndarray:
    """Gaussian vectors: no cluster structure, the hardest case for an approximate index."""
    return np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)


def embedding_like_vectors(n: int, dim: int = DIM, seed: int = SEED, latent: int = 32) -> np.ndarray:
    """Vectors with the low intrinsic dimension of real text embeddings: a ``latent``-d Gaussian
    through one fixed random map into ``dim`` (the same map for every seed), plus 10% noise.

    No embedding model can be loaded here (nothing from a hub at run time), and random Gaussian
    vectors have no structure for a graph index to follow: on them, HNSW recall stays far below
    what it reaches on real embeddings. Benchmarks that build graphs report both."""
    basis = np.random.default_rng(SEED + 999).standard_normal((latent, dim)) / np.sqrt(latent)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):  # in chunks: float64 intermediates of 1M rows would take 3 GB
        rows = min(100_000, n - start)
        out[start : start + rows] = rng.standard_normal((rows, latent)) @ basis + 0.1 * rng.standard_normal((rows, dim))
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_lines() -> list[str]:
    """What a reader needs to judge a number: when, on what, with which versions, how busy."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    packages = ("omega-memory-plugin", "qdrant-edge-py", "qdrant-client", "numpy", "pydantic")
    return [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"cpu: {_cpu_model()}, {os.cpu_count()} cores; load average before the run: {load}",
        f"python: {platform.python_version()} ({platform.system()} {platform.release()})",
        "packages: " + ", ".join(f"{p} {_version(p)}" for p in packages),
    ]


def print_header(title: str) -> None:
    print(f"## {title}\n")
    for line in machine_lines():
        print(f"- {line}")
    print()


def print_footer() -> None:
    """The machine is shared: a load average well above the core count means contended numbers."""
    print("\n- load average after the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


def percentiles_ms(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of per-call durations given in seconds."""
    p50, p99 = np.percentile(np.asarray(samples), [50, 99])
    return float(p50) * 1e3, float(p99) * 1e3


def time_each(calls: Sequence[Callable[[], T]], warmup: int) -> tuple[list[float], list[T]]:
    """Run every call once and time it; the first ``warmup`` calls are run once more beforehand
    (untimed) so caches, lazy imports and the engine thread are warm."""
    for call in calls[:warmup]:
        call()
    durations: list[float] = []
    results: list[T] = []
    for call in calls:
        start = time.perf_counter()
        results.append(call())
        durations.append(time.perf_counter() - start)
    return durations, results


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.0f}" if value >= 1000 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


@contextmanager
def scratch_dir(prefix: str) -> Iterator[str]:
    """A temporary directory removed afterwards, even when the benchmark fails half-way."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
