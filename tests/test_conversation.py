"""The conversation stream under both chat adapters, on every backend."""

from __future__ import annotations

import pytest

from conftest import log_position
from omega_memory_plugin import Memory
from omega_memory_plugin.conversation import Conversation
from omega_memory_plugin.errors import InvalidInputError

MESSAGES = [("hi", {"role": "user", "content": "hi"}), ("", {"role": "assistant", "content": "", "calls": [1]})]


def test_append_read_delete_replace_clear(memory: Memory) -> None:
    chat = Conversation(memory, "s1")
    chat.append(MESSAGES)
    chat.append([("third", {"role": "user", "content": "third"})])
    assert chat.messages() == [p for _, p in MESSAGES] + [{"role": "user", "content": "third"}]
    assert chat.delete_at(1) == MESSAGES[1][1]
    assert chat.delete_at(2) is None and chat.delete_at(-3) is None
    assert chat.delete_at(-1) == {"role": "user", "content": "third"}
    chat.replace([("new", {"n": 1}), ("newer", {"n": 2})])
    assert chat.messages() == [{"n": 1}, {"n": 2}]
    chat.clear()
    assert chat.messages() == [] and chat.delete_at(-1) is None
    assert Conversation.keys(memory) == []


def test_message_text_is_searchable(memory: Memory) -> None:
    Conversation(memory, "s1").append([("we talked about green tea", {"m": 1}), ("and the weather", {"m": 2})])
    assert Conversation(memory, "s1").search("green tea", limit=1) == [{"m": 1}]
    assert Conversation(memory, "other").search("green tea") == []


async def test_async_twins_and_keys(memory: Memory) -> None:
    await Conversation(memory, "b").aappend(MESSAGES)
    await Conversation(memory, "a").aappend(MESSAGES[:1])
    assert await Conversation.akeys(memory) == ["a", "b"]
    assert await Conversation(memory, "a").amessages() == [MESSAGES[0][1]]
    assert await Conversation(memory, "b").adelete_at(0) == MESSAGES[0][1]
    await Conversation(memory, "b").aclear()
    assert await Conversation.akeys(memory) == ["a"]


@pytest.mark.parametrize(
    "items",
    [[("x", "not a dict")], "x", [("x", {"bad": float("nan")})], [("ok", {}), ("x", {1: 2})]],
)
def test_bad_messages_write_nothing(memory: Memory, items: object) -> None:
    chat = Conversation(memory, "s1")
    chat.append(MESSAGES)
    before = log_position(memory)
    with pytest.raises(InvalidInputError):
        chat.append(items)  # type: ignore[arg-type]
    assert log_position(memory) == before and len(chat.messages()) == 2
