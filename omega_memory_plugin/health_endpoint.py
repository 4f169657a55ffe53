"""A tiny HTTP responder for ``GET /health``, on asyncio streams.

A projector worker needs one endpoint for a container orchestrator or a load balancer to poll;
that does not justify a web framework. It speaks just enough HTTP/1.1 for curl, Kubernetes
probes and Prometheus' blackbox exporter: one request per connection, a JSON body, status 200 or
503 as the report says, 404 for any other path, 405 for any other method.

Example::

    async def report() -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True}

    server = await serve_health("127.0.0.1", 8080, report)   # GET http://127.0.0.1:8080/health
    ...
    server.close()
    await server.wait_closed()
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

PATH = "/health"
METRICS_PATH = "/metrics"
#: What the endpoint answers: an HTTP status and a JSON-able body.
Report = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]

_REASONS = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# A client that opens a connection and sends nothing must not hold it forever.
_REQUEST_SECONDS = 10.0
_MAX_HEADERS = 100


def parse_address(value: str) -> tuple[str, int]:
    """``--health``: ``HOST:PORT``, ``[IPv6]:PORT`` or a bare ``PORT`` (on 127.0.0.1); port 0 picks
    a free one.

    >>> parse_address("0.0.0.0:8080"), parse_address("9000"), parse_address("[::1]:0")
    (('0.0.0.0', 8080), ('127.0.0.1', 9000), ('::1', 0))
    """
    host, sep, port = value.strip().rpartition(":")
    if not sep:
        host = "127.0.0.1"
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 for every interface), got {value!r}"
        )
    return host, int(port)


async def serve_health(
    host: str, port: int, report: Report, metrics: Callable[[], Awaitable[tuple[bytes, str]]] | None = None
) -> asyncio.Server:
    """Start answering ``GET /health`` with ``report()`` on ``host:port``, and ``GET /metrics``
    with ``metrics()`` (the exposition and its content type) if given; return the server (its
    ``sockets`` tell the port when 0 was asked)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(_answer(reader, report, metrics), _REQUEST_SECONDS)
            if isinstance(body, tuple):
                payload, content_type = body
            else:
                payload, content_type = json.dumps(body, default=str).encode(), "application/json"
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(payload)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + payload)
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # the client left or never asked: nothing to answer
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def _answer(
    reader: asyncio.StreamReader, report: Report, metrics: Callable[[], Awaitable[tuple[bytes, str]]] | None
) -> tuple[int, dict[str, Any] | tuple[bytes, str]]:
    request = (await reader.readline()).decode("latin-1").split()
    for _ in range(_MAX_HEADERS):  # headers are read and ignored: the answer depends on nothing in them
        if (await reader.readline()) in (b"\r\n", b"\n", b""):
            break
    if len(request) < 2:
        return 405, {"error": "expected an HTTP request line such as 'GET /health HTTP/1.1'"}
    method, target = request[0], request[1].split("?", 1)[0]
    if target == METRICS_PATH and metrics is not None and method == "GET":
        return 200, await metrics()
    if target != PATH:
        return 404, {"error": f"no such path {target!r}; ask GET {PATH}"}
    if method != "GET":
        return 405, {"error": f"{method} is not supported; ask GET {PATH}"}
    try:
        return await report()
    except Exception as exc:  # a health check must answer, and say why it cannot report
        logger.exception("the health report failed")
        return 500, {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
