"""LlamaIndex on an event-sourced memory: ingest a folder, retrieve with filters, rebuild by replay.

Run it with ``.venv/bin/python examples/llama_index_pipeline.py`` (after
``pip install -e adapters/llama_index``). It needs no network and no model download: the
embeddings come from ``OmegaHashEmbedding``, which hashes words (texts that share words are near).

To use a real embedding model, replace ``embed_model`` below, for example::

    from llama_index.embeddings.openai import OpenAIEmbedding        # pip install llama-index-embeddings-openai
    embed_model = OpenAIEmbedding(model="text-embedding-3-small")

    from llama_index.embeddings.huggingface import HuggingFaceEmbedding  # pip install llama-index-embeddings-huggingface
    embed_model = HuggingFaceEmbedding(model_name="BAAI/bge-small-en-v1.5")

A collection keeps the dimension of its first embeddings, so a new model goes in a new
``collection=`` (or a new memory); the old vectors stay in the log, replayable at any time.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.ingestion import DocstoreStrategy, IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import BaseNode, Document, NodeWithScore, TransformComponent
from llama_index.core.storage.docstore import SimpleDocumentStore
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters
from llama_index.vector_stores.omega_memory import OmegaHashEmbedding, OmegaMemoryVectorStore

from omega_memory_plugin import Memory

NOTES = Path(__file__).parent / "data" / "notes"
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


class FrontMatter(TransformComponent):
    """Move a note's ``key: value`` header into its metadata (integers stay integers)."""

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        return [self._parse(node) if isinstance(node, Document) else node for node in nodes]

    @staticmethod
    def _parse(document: Document) -> Document:
        found = _FRONT_MATTER.match(document.text)
        if not found:
            return document
        # A copy: the pipeline hashes the documents it was given, to skip them when unchanged.
        parsed = document.model_copy(deep=True)
        for line in found.group(1).splitlines():
            key, _, value = line.partition(":")
            parsed.metadata[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
        parsed.set_content(document.text[found.end() :])
        return parsed


def show(title: str, hits: list[NodeWithScore]) -> list[tuple[str, float]]:
    print(title)
    for hit in hits:
        first_line = hit.node.get_content().strip().splitlines()[0]
        print(f"  {hit.score or 0.0:.3f}  {hit.node.metadata['file_name']:14} {first_line[:60]}")
    return [(hit.node.node_id, round(hit.score or 0.0, 5)) for hit in hits]


def main() -> None:
    where = Path(tempfile.mkdtemp(prefix="omega-llama-index-"))
    notes = shutil.copytree(NOTES, where / "notes")  # a copy, so that we can edit a note below
    embed_model = OmegaHashEmbedding(dimension=1024)  # offline; see the module docstring to swap
    with Memory(where / "memory") as memory:
        store = OmegaMemoryVectorStore(memory, namespace="notes")
        docstore = SimpleDocumentStore()  # remembers document hashes; persist it in a real app

        def ingest() -> Sequence[BaseNode]:
            pipeline = IngestionPipeline(
                transformations=[FrontMatter(), SentenceSplitter(chunk_size=100, chunk_overlap=10), embed_model],
                vector_store=store,
                docstore=docstore,
                docstore_strategy=DocstoreStrategy.UPSERTS,
            )
            return pipeline.run(documents=SimpleDirectoryReader(notes, filename_as_id=True).load_data())

        # 1. Ingest: every node becomes an event in the log, then a point in the index.
        first = ingest()
        print(f"Ingested {len(list(notes.iterdir()))} notes as {len(first)} nodes.")
        print(f"Ingesting the unchanged folder again writes {len(ingest())} nodes (upserts go by document hash).")
        tea = notes / "tea.md"
        tea.write_text(tea.read_text().replace("two minutes", "three minutes"))
        old_tea_node = next(n.node_id for n in first if n.metadata["file_name"] == "tea.md")
        print(f"After editing tea.md, ingesting writes {len(ingest())} nodes (its old nodes are deleted).\n")

        # 2. Retrieve, with metadata filters evaluated inside the index.
        index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
        drinks = MetadataFilters(filters=[MetadataFilter(key="topic", value="drinks")])
        recent = MetadataFilters(filters=[MetadataFilter(key="year", value=2023, operator=FilterOperator.GTE)])
        questions = [
            ("How long is green tea steeped? (topic == drinks)", "how long is green tea steeped", drinks),
            ("When do I water the garden? (no filter)", "when do I water the garden", None),
            ("When do I water the garden? (year >= 2023)", "when do I water the garden", recent),
        ]
        before = [
            show(title, index.as_retriever(similarity_top_k=2, filters=f).retrieve(q)) for title, q, f in questions
        ]

        # 3. The log is the truth: drop the index, replay every event into a new one, ask again.
        position = memory.rebuild(progress=False)
        print(f"\nRebuilt the index by replaying the log ({position} events).")
        index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
        after = [
            show(title, index.as_retriever(similarity_top_k=2, filters=f).retrieve(q)) for title, q, f in questions[:1]
        ]
        after += [
            [
                (h.node.node_id, round(h.score or 0.0, 5))
                for h in index.as_retriever(similarity_top_k=2, filters=f).retrieve(q)
            ]
            for _, q, f in questions[1:]
        ]
        print(f"Same results for all {len(questions)} questions after replay: {after == before}")

        # 4. Nothing is lost: the node replaced by the edit still has its audit trail.
        print(f"\nHistory of the first tea.md node ({old_tea_node[:8]}...):")
        for event in store.history(old_tea_node):
            print(f"  v{event.version} @{event.position} {event.type}")
    shutil.rmtree(where)


if __name__ == "__main__":
    main()
