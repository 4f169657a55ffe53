"""LangChain embeddings that look each text's vector up in a table: the LangChain and LangGraph
benchmarks time stores, not a model, and give every store the same vectors."""

from __future__ import annotations

from _common import DIM
from langchain_core.embeddings import Embeddings


class LookupEmbeddings(Embeddings):
    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        # langchain-qdrant embeds a probe text to learn the dimension
        return self.table.get(text) or [1.0] * DIM
