"""An index built by an earlier version (another point layout: before BM25 sparse vectors) is
rebuilt from the log when a memory opens it, so sparse and hybrid search work after an upgrade
with nothing to do; on the embedded index and on a Qdrant server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from omega_memory_plugin import Memory, Settings
from omega_memory_plugin.index.edge import EDGE_LAYOUT
from omega_memory_plugin.index.payload import LAYOUT
from omega_memory_plugin.index.qdrant import SERVER_LAYOUT
from omega_memory_plugin.index.qdrant_meta import QdrantMeta

NOTES = {"order": "Order ORD-2291 shipped to Lyon", "tea": "Ada prefers green tea"}


def write(memory: Memory) -> None:
    for memory_id, text in NOTES.items():
        memory.upsert(text, id=memory_id)


# The layouts earlier releases wrote: the shared payload unpacked, then packed without quantization.
@pytest.mark.parametrize("previous", [LAYOUT, EDGE_LAYOUT - 1])
def test_an_embedded_index_of_the_previous_layout_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, previous: int
) -> None:
    with Memory(tmp_path / "m", embedder="hash:16") as memory:
        write(memory)
    index = tmp_path / "m" / "index"
    generation = (index / "CURRENT").read_text().strip()
    state_file = index / generation / "STATE.json"
    state = json.loads(state_file.read_text())
    assert state["layout"] == EDGE_LAYOUT
    state_file.write_text(json.dumps({**state, "layout": previous}))  # as that version left it
    with caplog.at_level(logging.WARNING), Memory(tmp_path / "m") as memory:
        assert f"built with point layout {previous}" in caplog.text
        assert (index / "CURRENT").read_text().strip() != generation  # a new generation, swapped in
        assert [h.id for h in memory.search(text="ORD-2291", mode="sparse")] == ["order"]
        assert memory.search(text="green tea", mode="hybrid", limit=1)[0].id == "tea"
        assert memory.verify().ok
        memory.upsert("a note", id="labelled", metadata={"label": "Urgent"})
        assert [r.id for r in memory.scan(filter={"label": {"$itext": "URG"}})] == ["labelled"]


async def test_a_server_index_of_the_previous_layout_is_rebuilt(
    tmp_path: Path, qdrant_url: str, qdrant_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    options = {
        "log_url": f"sqlite:///{tmp_path}/log.db",
        "index_url": qdrant_url,
        "settings": Settings(qdrant_prefix=qdrant_prefix),
    }
    with Memory(**options, embedder="hash:16") as memory:  # type: ignore[arg-type]
        write(memory)
        generation = memory.projection.generation  # type: ignore[attr-defined]
        position = memory.projector.position
    client = AsyncQdrantClient(url=qdrant_url)
    try:
        meta = QdrantMeta(client, qdrant_prefix)
        await meta.record_state(generation, position + 1, SERVER_LAYOUT - 1)  # as the previous version left it
    finally:
        await client.close()
    with caplog.at_level(logging.WARNING), Memory(**options) as memory:  # type: ignore[arg-type]
        assert f"built with point layout {SERVER_LAYOUT - 1}" in caplog.text
        assert memory.projection.generation != generation  # type: ignore[attr-defined]
        assert [h.id for h in memory.search(text="ORD-2291", mode="sparse")] == ["order"]
        assert memory.verify().ok
