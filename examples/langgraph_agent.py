"""A LangGraph agent with omega as its memory, offline: thread state in ``OmegaSaver``, facts it
learns about the user in ``OmegaStore``, recalled in any later thread; then a rebuild of the index
from the log, and the same answers.

Run it with ``make demo-langgraph`` (or ``.venv/bin/python examples/langgraph_agent.py``).

One node does it all: a turn starting with "remember:" is written to the store under the user's
namespace; any other turn searches the store for the closest memories and hands them to the chat
model. The checkpointer keeps each thread's messages (and every step of it: time travel works).
Both write events to one omega memory, so ``memory.rebuild()`` brings back both.

Offline parts, and how to swap in real ones:

- embeddings: omega's hash embedder (hashed words, no model), given to the store as LangGraph's
  ``index={"embed": ...}``. For semantic recall use e.g. ``init_embeddings("openai:text-embedding-3-small")``
  with ``"dims": 1536`` (and a new ``path``: a collection keeps the dimension of its first vectors).
- chat model: ``recall_model`` answers with the best memory its prompt carries. Replace it with
  ``init_chat_model("openai:gpt-4o-mini")`` or any chat model; nothing else changes.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore
from langgraph_omega_memory import OmegaSaver, OmegaStore

from omega_memory_plugin import Memory
from omega_memory_plugin.embeddings import HashEmbedder

USER = "ada"
MONDAY = [
    "remember: my favourite tea is a smoky lapsang souchong",
    "remember: I am allergic to peanuts",
    "remember: my sister Grace lives in Lisbon",
]
FRIDAY = ["what tea should you bring me?", "where does my sister live?", "am I allergic to anything?"]


def recall_model(messages: list[BaseMessage]) -> AIMessage:
    """A stand-in chat model: it answers with the first memory in its system prompt."""
    memories = re.findall(r"^- (.*)$", str(messages[0].content), flags=re.M)
    return AIMessage(f"From memory: {memories[0]}" if memories else "I don't remember anything about that.")


model = RunnableLambda(recall_model)


def agent(state: MessagesState, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
    user = config["configurable"]["user_id"]
    text = str(state["messages"][-1].content)
    if text.startswith("remember:"):
        fact = text.removeprefix("remember:").strip()
        key = f"fact-{uuid.uuid4().hex[:8]}"
        store.put((user, "memories"), key, {"text": fact})
        return {"messages": [AIMessage(f"Noted: {fact}")]}
    recalled = store.search((user, "memories"), query=text, limit=2)
    system = SystemMessage(
        "Answer from these memories about the user, best first:\n"
        + "\n".join(f"- {item.value['text']}" for item in recalled)
    )
    return {"messages": [model.invoke([system, *state["messages"]])]}


def build(saver: OmegaSaver, store: OmegaStore) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_edge(START, "agent")
    return builder.compile(checkpointer=saver, store=store)


def say(app: CompiledStateGraph[Any, Any, Any, Any], thread: str, text: str) -> str:
    config: RunnableConfig = {"configurable": {"thread_id": thread, "user_id": USER}}
    answer = str(app.invoke({"messages": [HumanMessage(text)]}, config)["messages"][-1].content)
    print(f"[{thread}] user> {text}\n{' ' * (len(thread) + 3)}  ai> {answer}")
    return answer


def main(directory: Path) -> None:
    with Memory(directory / "memory") as memory:
        saver = OmegaSaver(memory)
        store = OmegaStore(memory, index={"dims": 384, "embed": HashEmbedder(384).embed, "fields": ["text"]})
        app = build(saver, store)
        for text in MONDAY:
            say(app, "monday", text)
        answers = [say(app, "friday", text) for text in FRIDAY]  # another thread: recalled from the store

        monday: RunnableConfig = {"configurable": {"thread_id": "monday"}}
        print(
            f"\nThread 'monday' holds {len(app.get_state(monday).values['messages'])} messages, "
            f"{len(list(app.get_state_history(monday)))} checkpoints."
        )
        print(f"The store holds {len(store.search((USER, 'memories')))} memories about {USER}.")

        position = memory.rebuild(progress=False)
        print(f"\nRebuilt the index from the log (up to position {position}); asking again:")
        again = [say(app, "friday-again", text) for text in FRIDAY]
        print(f"Same answers after the rebuild: {again == answers}")
        print(f"Thread 'monday' still holds {len(app.get_state(monday).values['messages'])} messages.")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="omega-langgraph-") as tmp:
        main(Path(tmp))
