"""The OpenAI-compatible embedder against a small local HTTP server that speaks the same API.

The server (started by the test, on loopback) answers ``POST /v1/embeddings`` as OpenAI, Ollama,
vLLM and TEI do, with deterministic vectors (omega's hash embedder), and can be told to fail first:
rate limits, server errors, refusals, wrong answers. Nothing here reaches a network.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from omega_memory_plugin import Memory
from omega_memory_plugin.embedders.openai_compatible import OpenAICompatibleEmbedder
from omega_memory_plugin.embeddings import HashEmbedder
from omega_memory_plugin.errors import EmbedderError

DIM = 8


@dataclass
class FakeServer:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # (status, headers, body) to answer first, one per request; then real answers
    failures: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    dimension: int = DIM


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if self.path != "/v1/embeddings":
                return self._answer(404, {}, '{"error": "not found"}')
            if state.failures:
                return self._answer(*state.failures.pop(0))
            vectors = HashEmbedder(state.dimension).embed(body["input"])
            data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
            data.reverse()  # servers may answer out of order: "index" says which is which
            self._answer(200, {}, json.dumps({"object": "list", "data": data, "model": body["model"]}))

        def _answer(self, status: int, headers: dict[str, str], text: str) -> None:
            payload = text.encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def embedder(server: FakeServer, **options: Any) -> OpenAICompatibleEmbedder:
    return OpenAICompatibleEmbedder("test-model", base_url=server.url, retry_seconds=0.01, **options)


def test_embeds_in_batches_in_order_with_the_key(server: FakeServer) -> None:
    texts = [f"text number {i}" for i in range(5)]
    got = embedder(server, batch_size=2, api_key="sk-test").embed(texts)
    assert got == HashEmbedder(DIM).embed(texts)  # in input order, though answered reversed (JSON floats round-trip)
    assert [len(r["input"]) for r in server.requests] == [2, 2, 1]
    assert {r["model"] for r in server.requests} == {"test-model"}
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_the_dimension_is_learnt_from_the_first_answer(server: FakeServer) -> None:
    assert embedder(server).dimension == DIM
    assert len(server.requests) == 1


def test_rate_limits_and_server_errors_are_retried(server: FakeServer) -> None:
    server.failures = [(429, {"Retry-After": "0"}, '{"error": "slow down"}'), (503, {}, "busy")]
    assert len(embedder(server).embed(["tea"])) == 1
    assert len(server.requests) == 3


def test_giving_up_says_what_the_server_said(server: FakeServer) -> None:
    server.failures = [(500, {}, '{"error": "the GPU is on fire"}')] * 3
    with pytest.raises(EmbedderError, match="after 3 attempts.*HTTP 500.*GPU is on fire"):
        embedder(server, max_retries=2).embed(["tea"])


def test_a_refusal_is_not_retried_and_says_what_to_check(server: FakeServer) -> None:
    server.failures = [(401, {}, '{"error": "invalid api key"}')]
    with pytest.raises(EmbedderError, match="HTTP 401.*invalid api key.*API key"):
        embedder(server).embed(["tea"])
    assert len(server.requests) == 1


def test_an_unreachable_server_is_a_typed_error() -> None:
    unreachable = OpenAICompatibleEmbedder("m", base_url="http://127.0.0.1:9/v1", max_retries=1, retry_seconds=0.01)
    with pytest.raises(EmbedderError, match="after 2 attempts.*ConnectError"):
        unreachable.embed(["tea"])


def test_answers_that_cannot_be_right_are_refused(server: FakeServer) -> None:
    server.failures = [(200, {}, '{"data": [{"index": 0}]}')]
    with pytest.raises(EmbedderError, match="not an embeddings list"):
        embedder(server).embed(["tea"])
    server.failures = [(200, {}, json.dumps({"data": []}))]
    with pytest.raises(EmbedderError, match="0 vectors for 1 texts"):
        embedder(server).embed(["tea"])
    checked = embedder(server)
    checked.embed(["tea"])
    server.dimension = DIM * 2  # another model behind the same name
    with pytest.raises(EmbedderError, match="16-dimensional.*8-dimensional"):
        checked.embed(["coffee"])


def test_a_memory_embeds_with_it_records_it_and_finds_it_again(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Memory(tmp_path / "m", embedder=embedder(server)) as memory:
        memory.upsert("Ada drinks green tea", id="tea")
        memory.upsert("Bob runs along the river", id="run")
        assert memory.get("tea")[0].embedding_model == "openai:test-model"
        assert memory.search(text="green tea", limit=1)[0].id == "tea"
    server.failures = [(200, {}, "not json")]  # a broken answer: the write raises, nothing is written
    with Memory(tmp_path / "m", embedder=embedder(server)) as memory:
        with pytest.raises(EmbedderError):
            memory.upsert("Cy reads", id="read")
        assert memory.get("read") == []
    monkeypatch.setenv("OMEGA_OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    with Memory(tmp_path / "m") as memory:  # by the recorded name, through the plugin hook
        assert memory.embedder is not None and memory.embedder.name == "openai:test-model"
        assert memory.search(text="river", limit=1)[0].id == "run"
    assert server.headers[-1]["Authorization"] == "Bearer sk-from-env"
