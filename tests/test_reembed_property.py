"""Property: whatever writes, re-embeddings and rollbacks interleave, every live memory is served
with the current model's vectors of its current text and nothing else is served, on every kind of
log and index; and a rebuild from the log serves exactly the same."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Opener
from omega_memory_plugin import InvalidInputError, Memory
from omega_memory_plugin.embeddings import HashEmbedder

NAMESPACES = st.sampled_from(["n1", "n2"])
IDS = st.sampled_from(["a", "b", "c", "1"])
TEXTS = st.sampled_from(["green tea", "black coffee", "a river walk", "order 2291", "green tea"])
OPERATION = st.one_of(
    st.tuples(st.just("upsert"), NAMESPACES, IDS, TEXTS),
    st.tuples(st.just("upsert"), NAMESPACES, IDS, TEXTS),
    st.tuples(st.just("delete"), NAMESPACES, IDS),
    st.tuples(st.just("erase"), NAMESPACES),
    st.tuples(st.just("reembed"), st.sampled_from([16, 24, 32])),
    st.tuples(st.just("rollback")),
)


def served(memory: Memory) -> dict[tuple[str, str], tuple[str, str | None, list[float]]]:
    found = {}
    for namespace in ("n1", "n2"):
        ids = [r.id for r in memory.scan(namespace=namespace, limit=None)]
        for r in memory.get(ids, namespace=namespace, with_vectors=True):
            assert r.vectors is not None
            found[(namespace, r.id)] = (r.text, r.embedding_model, r.vectors["dense"])
    return found


def test_every_live_memory_is_served_with_the_current_model(opener: Opener) -> None:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(operations=st.lists(OPERATION, min_size=1, max_size=14))
    def check(operations: list[tuple[Any, ...]]) -> None:
        reference: dict[tuple[str, str], str] = {}
        with Memory(**opener(), embedder="hash:16") as memory:
            for op, *rest in operations:
                if op == "upsert":
                    namespace, memory_id, text = rest
                    memory.upsert(text, id=memory_id, namespace=namespace)
                    reference[(namespace, memory_id)] = text
                elif op == "delete":
                    memory.delete(rest[1], namespace=rest[0])
                    reference.pop((rest[0], rest[1]), None)
                elif op == "erase":
                    memory.erase_namespace(rest[0])
                    reference = {k: v for k, v in reference.items() if k[0] != rest[0]}
                elif op == "reembed":
                    if "default" not in memory.collections():
                        with pytest.raises(InvalidInputError, match="does not exist"):
                            memory.reembed(f"hash:{rest[0]}", progress=False)
                    else:
                        memory.reembed(f"hash:{rest[0]}", progress=False)
                else:
                    state = memory.collection_states().get("default")
                    if state is None or state.previous is None:
                        with pytest.raises(InvalidInputError):
                            memory.rollback_embedding(progress=False)
                    else:
                        memory.rollback_embedding(progress=False)
            schema = memory.collections().get("default")
            model = HashEmbedder(schema.vectors["dense"] if schema else 16)
            now = served(memory)
            assert {k: v[0] for k, v in now.items()} == reference
            for text, embedding_model, vector in now.values():
                assert embedding_model == model.name
                np.testing.assert_allclose(vector, model.embed([text])[0], atol=1e-5)
            assert memory.verify().ok
            memory.rebuild(progress=False)
            again = served(memory)
            assert again.keys() == now.keys()
            for key, (text, embedding_model, vector) in again.items():
                assert (text, embedding_model) == now[key][:2]
                np.testing.assert_allclose(vector, now[key][2], atol=1e-6)

    check()
