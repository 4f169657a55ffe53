"""A LangChain chat that writes memories during a conversation and recalls them later, offline.

Run it with ``make demo-langchain`` (or ``.venv/bin/python examples/langchain_agent.py``).

Each user turn goes through one LCEL chain: the retriever recalls the memories closest to the
question from an ``OmegaMemoryVectorStore``, the prompt puts them in front of the chat model, and
the turn is kept in an ``OmegaChatMessageHistory``. Turns starting with "remember:" are written as
memories. Every write is an event in the log, so the last step rebuilds the index from the log and
asks again.

Offline parts, and how to swap in real ones:

- embeddings: ``OmegaHashEmbeddings`` (hashed words, no model). For semantic recall use e.g.
  ``from langchain_openai import OpenAIEmbeddings; embeddings = OpenAIEmbeddings()`` or
  ``HuggingFaceEmbeddings(model_name="sentence-transformers/all-MiniLM-L6-v2")``. A collection
  keeps the dimension of its first vectors, so use a new ``path`` (or collection) after a swap.
- chat model: ``recall_model`` below answers with the best memory the prompt carries. Replace it
  with ``ChatOpenAI(model="gpt-4o-mini")``, ``ChatOllama(model="llama3.1")`` or any chat model;
  nothing else changes.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough

from langchain_omega_memory import OmegaChatMessageHistory, OmegaHashEmbeddings, OmegaMemoryVectorStore
from omega_memory_plugin import Memory

USER = "ada"
SESSION = f"{USER}:first-chat"
CONVERSATION = [
    "remember: my favourite tea is a smoky lapsang souchong",
    "remember: I am allergic to peanuts",
    "remember: my sister Grace lives in Lisbon",
    "what tea should you bring me?",
    "where does my sister live?",
    "am I allergic to anything?",
]

prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer from these memories about the user, best first:\n{memories}"),
        MessagesPlaceholder("history"),
        ("human", "{question}"),
    ]
)


def recall_model(value: PromptValue) -> AIMessage:
    """A stand-in chat model: it answers with the first memory in its system prompt."""
    system = value.to_messages()[0].content
    memories = re.findall(r"^- (.*)$", str(system), flags=re.M)
    return AIMessage(f"From memory: {memories[0]}" if memories else "I don't remember anything about that.")


def format_memories(docs: list[Document]) -> str:
    return "\n".join(f"- {d.page_content}" for d in docs)


def build_chain(store: OmegaMemoryVectorStore, history: OmegaChatMessageHistory) -> Runnable[dict[str, Any], AIMessage]:
    retriever = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 10, "filter": {"kind": "fact"}})
    return (
        RunnablePassthrough.assign(
            memories=(lambda turn: turn["question"]) | retriever | format_memories,
            history=lambda _: history.messages[-6:],
        )
        | prompt
        | RunnableLambda(recall_model)
    )


def chat(store: OmegaMemoryVectorStore, history: OmegaChatMessageHistory, text: str, turn: int) -> str:
    if text.startswith("remember:"):
        fact = text.removeprefix("remember:").strip()
        store.add_texts([fact], metadatas=[{"kind": "fact", "turn": turn}], ids=[f"fact-{turn}"])
        answer = f"Noted: {fact}"
    else:
        answer = str(build_chain(store, history).invoke({"question": text}).content)
    history.add_messages([HumanMessage(text), AIMessage(answer)])
    return answer


def main(directory: Path) -> None:
    with Memory(directory / "memory") as memory:
        store = OmegaMemoryVectorStore(memory, OmegaHashEmbeddings(), namespace=USER)
        history = OmegaChatMessageHistory(SESSION, memory)
        for turn, text in enumerate(CONVERSATION, start=1):
            print(f"user> {text}\n  ai> {chat(store, history, text, turn)}")

        print(f"\nThe session holds {len(history.messages)} messages.")
        print("Event history of memory 'fact-1':")
        for event in memory.history("fact-1", namespace=USER, collection=store.collection):
            print(f"  #{event.position} {event.type} v{event.version} at {event.recorded_at:%H:%M:%S}")

        position = memory.rebuild(progress=False)
        print(f"\nRebuilt the index from the log (up to position {position}); asking again:")
        print(f"user> {CONVERSATION[4]}\n  ai> {chat(store, history, CONVERSATION[4], len(CONVERSATION) + 1)}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="omega-langchain-") as tmp:
        main(Path(tmp))
