"""OmegaChatStore: LlamaIndex chat histories as event streams, on the embedded default and the Mongo log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ImageBlock, TextBlock
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.vector_stores.omega_memory import OmegaChatStore

from omega_memory_plugin import Memory


@pytest.fixture(params=["embedded", "mongo-log"])
def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Memory]:
    if request.param == "embedded":
        options: dict[str, object] = {"path": tmp_path / "memory"}
    else:
        options = {"log_url": request.getfixturevalue("mongo_url"), "index_url": f"edge:///{tmp_path}/index"}
    with Memory(**options) as m:  # type: ignore[arg-type]
        yield m


@pytest.fixture
def store(memory: Memory) -> OmegaChatStore:
    return OmegaChatStore(memory)


def log_position(memory: Memory) -> int:
    return memory._engine.run(memory.log.last_position())


def conversation() -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content="You are terse."),
        ChatMessage(
            role=MessageRole.USER,
            blocks=[TextBlock(text="what is this?"), ImageBlock(image=b"\x89PNG...", image_mimetype="image/png")],
        ),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            content=None,
            additional_kwargs={"tool_calls": [{"id": "call-1", "name": "look"}]},
        ),
        ChatMessage(role=MessageRole.TOOL, content="a cat", additional_kwargs={"tool_call_id": "call-1"}),
        ChatMessage(role=MessageRole.ASSISTANT, content="A cat."),
    ]


def test_set_and_get_round_trip_exactly(store: OmegaChatStore) -> None:
    before = log_position(store.memory)
    store.set_messages("ada", conversation())
    assert store.get_messages("ada") == conversation()
    store.set_messages("ada", conversation()[3:])  # replaces, in one commit
    assert store.get_messages("ada") == conversation()[3:]
    assert store.get_messages("nobody") == []
    assert log_position(store.memory) > before


def test_add_appends_each_message_as_an_event(store: OmegaChatStore) -> None:
    messages = conversation()
    for i, message in enumerate(messages):
        before = log_position(store.memory)
        store.add_message("ada", message)
        written = log_position(store.memory) - before
        assert (written == 1) if i else (written >= 2)  # the first one also registers the key
    assert store.get_messages("ada") == messages
    store.add_message("ada", ChatMessage(role="user", content="first!"), idx=0)
    assert [m.content for m in store.get_messages("ada")][:2] == ["first!", "You are terse."]


def test_delete_one_message_by_index(store: OmegaChatStore) -> None:
    store.set_messages("ada", conversation())
    assert store.delete_message("ada", 1) == conversation()[1]
    assert store.delete_message("ada", -1) == conversation()[4]
    assert store.get_messages("ada") == [conversation()[i] for i in (0, 2, 3)]
    before = log_position(store.memory)
    assert store.delete_message("ada", 3) is None  # out of range: None, nothing written
    assert store.delete_message("ada", -4) is None
    assert store.delete_message("nobody", 0) is None
    assert log_position(store.memory) == before
    assert store.delete_last_message("ada") == conversation()[3]


def test_deleting_from_an_empty_history_returns_none(store: OmegaChatStore) -> None:
    assert store.delete_last_message("nobody") is None
    assert store.delete_messages("nobody") is None
    store.set_messages("empty", [])
    assert store.delete_last_message("empty") is None
    assert store.get_keys() == ["empty"]
    assert store.delete_messages("empty") == []  # a known key with no messages
    assert store.get_keys() == []


def test_delete_messages_erases_the_key(store: OmegaChatStore) -> None:
    store.set_messages("ada", conversation())
    store.add_message("bob", ChatMessage(role="user", content="hello"))
    assert store.get_keys() == ["ada", "bob"]
    before = log_position(store.memory)
    assert store.delete_messages("ada") == conversation()
    # one erase event, one key unlisted, and the messages' key destroyed (subject.forgotten)
    assert log_position(store.memory) == before + 3
    assert store.get_messages("ada") == [] and store.get_keys() == ["bob"]
    assert [m.content for m in store.get_messages("bob")] == ["hello"]


async def test_async_twins_see_the_same_histories(store: OmegaChatStore) -> None:
    await store.aset_messages("ada", conversation()[:2])
    await store.async_add_message("ada", conversation()[2])
    store.add_message("ada", conversation()[3])
    assert await store.aget_messages("ada") == conversation()[:4] == store.get_messages("ada")
    await store.async_add_message("ada", conversation()[4], idx=0)
    assert (await store.aget_messages("ada"))[0] == conversation()[4]
    assert await store.adelete_message("ada", 0) == conversation()[4]
    assert await store.adelete_message("ada", 10) is None
    assert await store.adelete_last_message("ada") == conversation()[3]
    assert await store.aget_keys() == ["ada"]
    assert await store.adelete_messages("ada") == conversation()[:3]
    assert await store.adelete_messages("ada") is None
    assert await store.adelete_last_message("ada") is None
    assert await store.aget_keys() == []


def test_histories_survive_a_rebuild(store: OmegaChatStore) -> None:
    store.set_messages("ada", conversation())
    store.delete_message("ada", 0)
    store.memory.rebuild(progress=False)
    assert OmegaChatStore(store.memory).get_messages("ada") == conversation()[1:]


def test_bad_messages_write_nothing(store: OmegaChatStore) -> None:
    store.set_messages("ada", conversation()[:1])
    before = log_position(store.memory)
    with pytest.raises(TypeError, match="ChatMessage"):
        store.add_message("ada", {"role": "user", "content": "hi"})  # type: ignore[arg-type,unused-ignore]
    with pytest.raises(TypeError, match="ChatMessage"):
        store.set_messages("ada", [conversation()[0], "hello"])  # type: ignore[list-item,unused-ignore]
    with pytest.raises(ValueError, match="namespace"):
        store.add_message("", ChatMessage(role="user", content="no key"))
    assert log_position(store.memory) == before
    assert store.get_messages("ada") == conversation()[:1]


async def test_chat_memory_buffer(store: OmegaChatStore) -> None:
    buffer = ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key="session-1", token_limit=1000)
    buffer.put(ChatMessage(role="user", content="My name is Ada."))
    await buffer.aput(ChatMessage(role="assistant", content="Hello Ada."))
    assert [m.content for m in buffer.get()] == ["My name is Ada.", "Hello Ada."]
    # another buffer (another process, say) over the same memory sees the same history
    other = ChatMemoryBuffer.from_defaults(chat_store=OmegaChatStore(store.memory), chat_store_key="session-1")
    assert [m.content for m in await other.aget_all()] == ["My name is Ada.", "Hello Ada."]
    buffer.reset()
    assert other.get_all() == [] and store.get_keys() == []
