"""Embeddings from any server that speaks OpenAI's ``POST /v1/embeddings``.

OpenAI itself, Azure OpenAI, and the local servers that copy its API (Ollama at
``http://localhost:11434/v1``, vLLM, Hugging Face text-embeddings-inference, LM Studio, ...).
Texts are sent in batches; a rate limit (429) or a server error (5xx) is retried with backoff
(honouring ``Retry-After``), an answer that cannot be right (4xx, a wrong number of vectors,
vectors of another size than before) raises :class:`~omega_memory_plugin.errors.EmbedderError`
naming the server and what it said. Needs the ``openai`` extra (httpx).

Example::

    from omega_memory_plugin import Memory
    from omega_memory_plugin.embedders.openai_compatible import OpenAICompatibleEmbedder

    local = OpenAICompatibleEmbedder("nomic-embed-text", base_url="http://localhost:11434/v1")
    memory = Memory("./.omega-memory", embedder=local)   # events record "openai:nomic-embed-text"
    # or by name, with OMEGA_OPENAI_BASE_URL / OMEGA_OPENAI_API_KEY (or OPENAI_API_KEY) set:
    memory = Memory("./.omega-memory", embedder="openai:text-embedding-3-small")
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..errors import EmbedderError
from ..extras import require

#: Texts per request: OpenAI accepts up to 2,048 inputs; local servers often far fewer.
BATCH_SIZE = 128
#: Retries of a rate-limited or failing request, with backoff doubling from RETRY_SECONDS.
MAX_RETRIES = 4
RETRY_SECONDS = 0.5
_LONGEST_WAIT = 30.0


class OpenAICompatibleEmbedder:
    """An :class:`~omega_memory_plugin.embeddings.Embedder` over ``{base_url}/embeddings``.

    ``name`` is ``openai:<model>``: what every event records, and what a reopened memory asks the
    plugins for. ``dimension`` is the size the server returns; given, every answer is checked
    against it; not given, it is learnt from the first answer (asked for the first time it is read).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        dimension: int | None = None,
        batch_size: int = BATCH_SIZE,
        timeout: float = 30.0,
        max_retries: int = MAX_RETRIES,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        httpx = require("httpx", extra="openai", needed_by="the OpenAI-compatible embedder")
        if not model or not isinstance(model, str):
            raise EmbedderError(f"the OpenAI-compatible embedder needs a model name, got {model!r}")
        if batch_size < 1 or max_retries < 0:
            raise EmbedderError(f"batch_size is 1 or more and max_retries 0 or more, got {batch_size}, {max_retries}")
        self.model = model
        self.name = f"openai:{model}"
        self.url = base_url.rstrip("/") + "/embeddings"
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_seconds = retry_seconds
        self._dimension = dimension
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout)
        self._transport_errors: tuple[type[Exception], ...] = (httpx.TransportError,)

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.embed(["dimension"])  # the first answer says it
        assert self._dimension is not None
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors += self._embed_batch(list(texts[start : start + self.batch_size]))
        return vectors

    def close(self) -> None:
        self._client.close()

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        body = {"model": self.model, "input": texts}
        last, retried = "no attempt", None  # the last failure, and the answer that asked for a retry
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self._wait(attempt, retried))
            retried = None
            try:
                response = self._client.post(self.url, json=body)
            except self._transport_errors as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                retried = response
                last = f"HTTP {response.status_code} {_excerpt(response)}"
                continue
            if response.status_code >= 400:
                raise EmbedderError(
                    f"{self.url} refused to embed with model {self.model!r}: HTTP {response.status_code} "
                    f"{_excerpt(response)} (check the model name, the API key and OMEGA_OPENAI_BASE_URL)"
                )
            return self._vectors(response, len(texts))
        raise EmbedderError(
            f"{self.url} did not embed {len(texts)} texts after {self.max_retries + 1} attempts; last: {last}"
        )

    def _wait(self, attempt: int, response: Any) -> float:
        given = response.headers.get("retry-after") if response is not None else None
        if given is not None:
            try:
                return min(float(given), _LONGEST_WAIT)
            except ValueError:
                pass  # an HTTP date: fall back to the backoff
        return min(self.retry_seconds * 2.0 ** (attempt - 1), _LONGEST_WAIT)

    def _vectors(self, response: Any, expected: int) -> list[list[float]]:
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])  # servers may answer out of order
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(f"{self.url} answered something that is not an embeddings list: {exc!r}") from None
        if len(vectors) != expected:
            raise EmbedderError(f"{self.url} returned {len(vectors)} vectors for {expected} texts")
        for vector in vectors:
            if self._dimension is None:
                self._dimension = len(vector)
            elif len(vector) != self._dimension:
                raise EmbedderError(
                    f"{self.url} returned a {len(vector)}-dimensional vector for model {self.model!r}, which has "
                    f"given {self._dimension}-dimensional ones: is another model behind the same name? A "
                    "collection holds one model's vectors: use a new collection for the new model"
                )
        return vectors


def _excerpt(response: Any) -> str:
    return " ".join(response.text.split())[:300]
