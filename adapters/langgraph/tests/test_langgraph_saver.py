"""OmegaSaver under a real LangGraph graph, side by side with LangGraph's InMemorySaver: the same
runs give the same states and histories (time travel and forks included), interrupts resume, a
rebuild or a reopen brings the threads back, and checkpoints go to the log as msgpack."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from langgraph_omega_memory import OmegaSaver

from omega_memory_plugin import Memory
from omega_memory_plugin.errors import InvalidInputError


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    count: int


def step(name: str) -> Callable[[State], dict[str, Any]]:
    def node(state: State) -> dict[str, Any]:
        return {"log": [f"{name}{state['count']}"], "count": state["count"] + 1}

    return node


def graph(saver: BaseCheckpointSaver[Any]) -> Any:
    builder = StateGraph(State)
    builder.add_node("a", step("a"))
    builder.add_node("b", step("b"))
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", END)
    return builder.compile(checkpointer=saver)


def approval(saver: BaseCheckpointSaver[Any]) -> Any:
    def ask(state: State) -> dict[str, Any]:
        answer = interrupt(f"approve {state['count']}?")
        return {"log": [f"answer:{answer}"], "count": state["count"] + 1}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=saver)


@pytest.fixture
def memory(open_memory: Callable[[], Memory]) -> Iterator[Memory]:
    with open_memory() as memory:
        yield memory


def history(app: Any, thread: str) -> list[tuple[Any, ...]]:
    """A thread's checkpoints, newest first, as comparable values (ids differ between savers)."""
    return [
        (s.values, s.next, s.metadata["step"], s.metadata["source"], s.parent_config is not None)
        for s in app.get_state_history({"configurable": {"thread_id": thread}})
    ]


def runs(saver: BaseCheckpointSaver[Any]) -> dict[str, Any]:
    """Two runs on one thread, a time travel that forks the thread, and a second thread."""
    app = graph(saver)
    one = {"configurable": {"thread_id": "one"}}
    first = app.invoke({"log": ["start"], "count": 0}, one)
    second = app.invoke({"log": ["again"], "count": 10}, one)
    states = list(app.get_state_history(one))
    earlier = next(s for s in states if s.next == ("b",) and s.values["count"] == 1)
    forked = app.invoke(None, earlier.config)  # resumes from a past checkpoint: a new branch
    updated = app.update_state(earlier.config, {"log": ["edited"]})
    edited = app.invoke(None, updated)
    app.invoke({"log": ["other"], "count": 100}, {"configurable": {"thread_id": "two"}})
    return {
        "results": [first, second, forked, edited],
        "one": history(app, "one"),
        "two": history(app, "two"),
        "listed": len(list(saver.list(None))),
    }


def test_a_graph_runs_as_with_the_in_memory_saver_time_travel_included(memory: Memory) -> None:
    expected = runs(InMemorySaver())
    assert runs(OmegaSaver(memory)) == expected
    assert expected["results"][2]["log"][-1] == "b1"  # the fork re-ran b from the past state


def test_an_interrupt_is_resumed_from_the_pending_writes(memory: Memory) -> None:
    for saver in (InMemorySaver(), OmegaSaver(memory)):
        app = approval(saver)
        config = {"configurable": {"thread_id": "t"}}
        paused = app.invoke({"log": [], "count": 0}, config)
        assert paused["__interrupt__"][0].value == "approve 0?"
        assert app.invoke(Command(resume="yes"), config) == {"log": ["answer:yes"], "count": 1}


async def test_an_async_graph_runs_on_the_saver(memory: Memory) -> None:
    app = graph(OmegaSaver(memory))
    config = {"configurable": {"thread_id": "async"}}
    assert await app.ainvoke({"log": [], "count": 0}, config) == {"log": ["a0", "b1"], "count": 2}
    assert (await app.aget_state(config)).values["count"] == 2
    assert len([s async for s in app.aget_state_history(config)]) == 4


def test_threads_come_back_after_a_rebuild_and_a_reopen(tmp_path: Path) -> None:
    config = {"configurable": {"thread_id": "kept"}}
    with OmegaSaver(path=tmp_path / "threads") as saver:
        app = graph(saver)
        app.invoke({"log": ["x"], "count": 0}, config)
        before = history(app, "kept")
        saver.memory.rebuild(progress=False)
        assert history(app, "kept") == before
    with OmegaSaver(path=tmp_path / "threads") as saver:
        app = graph(saver)
        assert history(app, "kept") == before
        assert app.invoke({"log": ["y"], "count": 5}, config)["log"] == ["x", "a0", "b1", "y", "a5", "b6"]


def test_checkpoints_and_channel_values_are_msgpack_in_the_log(memory: Memory) -> None:
    graph(OmegaSaver(memory)).invoke({"log": ["x"], "count": 0}, {"configurable": {"thread_id": "t"}})
    kinds = {}
    for event in memory.events():
        if event.type == "memory.upserted":
            meta = event.data.metadata
            for field in ("body", "metadata", "value"):
                if field in meta:
                    kinds.setdefault(meta["kind"], set()).add(meta[field][0])
    # LangGraph's serializer types None as "null" and a channel without a value as "empty"
    assert kinds == {"checkpoint": {"msgpack"}, "blob": {"msgpack", "empty", "null"}, "write": {"msgpack", "null"}}


def test_a_config_without_a_thread_is_refused_and_nothing_is_written(memory: Memory) -> None:
    saver = OmegaSaver(memory)
    before = memory.health()["log"]["position"]
    with pytest.raises(InvalidInputError, match="thread_id"):
        saver.put({"configurable": {"checkpoint_ns": ""}}, empty_checkpoint(), {}, {})
    assert memory.health()["log"]["position"] == before


def test_writes_without_a_saved_checkpoint_are_refused(memory: Memory) -> None:
    with pytest.raises(InvalidInputError, match="checkpoint_id"):
        OmegaSaver(memory).put_writes({"configurable": {"thread_id": "t"}}, [("ch", 1)], "task")


def test_the_latest_checkpoint_is_the_newest_even_when_its_run_is_deleted(memory: Memory) -> None:
    from langgraph.checkpoint.base.id import uuid6

    saver = OmegaSaver(memory)
    config: dict[str, Any] = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    ids = [str(uuid6(clock_seq=i)) for i in range(4)]
    for n, checkpoint_id in enumerate([ids[0], ids[2], ids[1]]):  # one put out of order
        saver.put(config, {**empty_checkpoint(), "id": checkpoint_id}, {"run_id": f"run-{n}"}, {})
    latest = saver.get_tuple(config)
    assert latest is not None and latest.checkpoint["id"] == ids[2]  # the newest, not the last put
    assert latest.checkpoint["id"] == next(saver.list(config)).checkpoint["id"]
    saver.delete_for_runs(["run-1"])  # the newest goes: the head names a checkpoint that is gone
    after = saver.get_tuple(config)
    assert after is not None and after.checkpoint["id"] == ids[1]
    saver.put(config, {**empty_checkpoint(), "id": ids[3]}, {}, {})
    assert saver.get_tuple(config).checkpoint["id"] == ids[3]  # type: ignore[union-attr]
    saver.prune(["t"])
    assert [t.checkpoint["id"] for t in saver.list(config)] == [ids[3]]
    assert saver.get_tuple(config).checkpoint["id"] == ids[3]  # type: ignore[union-attr]
