"""OmegaChatMessageHistory: a conversation is an event stream, read back exactly and in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_omega_memory import OmegaChatMessageHistory
from omega_memory_plugin import Memory
from omega_memory_plugin.conversation import Conversation

CONVERSATION = [
    SystemMessage("you are terse"),
    HumanMessage("hi, I'm Ada", id="m1"),
    AIMessage("", tool_calls=[{"name": "lookup", "args": {"who": "Ada"}, "id": "call-1"}]),
    ToolMessage("Ada Lovelace, 1815", tool_call_id="call-1"),
    AIMessage("Hello Ada.", additional_kwargs={"note": "kept"}, response_metadata={"model": "fake"}),
]


def test_messages_round_trip_exactly_and_in_order(memory: Memory) -> None:
    history = OmegaChatMessageHistory("s1", memory)
    history.add_messages(CONVERSATION[:2])
    for message in CONVERSATION[2:]:
        history.add_message(message)
    assert history.messages == CONVERSATION
    assert OmegaChatMessageHistory("other", memory).messages == []


def test_sessions_persist_across_reopening(tmp_path: Path) -> None:
    with Memory(tmp_path / "m") as memory:
        OmegaChatMessageHistory("s1", memory).add_messages(CONVERSATION)
    with Memory(tmp_path / "m") as memory:
        assert OmegaChatMessageHistory("s1", memory).messages == CONVERSATION


def test_clear_erases_the_session_and_shreds_its_messages_in_the_log(memory: Memory) -> None:
    history = OmegaChatMessageHistory("s1", memory)
    history.add_messages(CONVERSATION)
    other = OmegaChatMessageHistory("s2", memory)
    other.add_user_message("a different session")
    events_before = memory._engine.run(memory.log.last_position())
    history.clear()
    assert history.messages == []
    assert other.messages == [HumanMessage("a different session")]
    new_events = memory._engine.run(_read_after(memory, events_before))
    # one namespace.erased for the messages, one delete unlisting the session, then the session's
    # key is destroyed: the log keeps that the messages were written, not what they said
    assert [e.type for e in new_events] == ["namespace.erased", "memory.deleted", "subject.forgotten"]
    with memory.as_of(events_before) as past:
        assert OmegaChatMessageHistory("s1", past).messages == []
        assert OmegaChatMessageHistory("s2", past).messages == [HumanMessage("a different session")]
    history.add_user_message("starting over")
    assert history.messages == [HumanMessage("starting over")]


async def _read_after(memory: Memory, position: int) -> list:
    return [e async for batch in memory.log.read(position) for e in batch]


async def test_async_methods(memory: Memory) -> None:
    history = OmegaChatMessageHistory("s1", memory)
    await history.aadd_messages(CONVERSATION[:3])
    history.add_messages(CONVERSATION[3:])  # sync and async writers share one stream
    assert await history.aget_messages() == CONVERSATION
    await history.aclear()
    assert await history.aget_messages() == []


def test_sessions_are_listed(memory: Memory) -> None:
    OmegaChatMessageHistory("a", memory).add_user_message("x")
    OmegaChatMessageHistory("b", memory).add_user_message("y")
    OmegaChatMessageHistory("a", memory).add_user_message("z")
    assert Conversation.keys(memory) == ["a", "b"]


# langchain-core 1.x deprecates RunnableWithMessageHistory in favour of LangGraph, yet it is what
# existing chains use, so it must keep working.
@pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
def test_works_with_runnable_with_message_history(memory: Memory) -> None:
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
    model = FakeListChatModel(responses=["Nice to meet you, Ada.", "Your name is Ada."])
    chain = RunnableWithMessageHistory(
        prompt | model,
        lambda session_id: OmegaChatMessageHistory(session_id, memory),
        input_messages_key="question",
        history_messages_key="history",
    )
    config = {"configurable": {"session_id": "user-7:thread-1"}}
    chain.invoke({"question": "I'm Ada."}, config=config)
    chain.invoke({"question": "What is my name?"}, config=config)
    stored = OmegaChatMessageHistory("user-7:thread-1", memory).messages
    assert [(type(m).__name__, m.content) for m in stored] == [
        ("HumanMessage", "I'm Ada."),
        ("AIMessage", "Nice to meet you, Ada."),
        ("HumanMessage", "What is my name?"),
        ("AIMessage", "Your name is Ada."),
    ]
