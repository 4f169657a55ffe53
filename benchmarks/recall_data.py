"""Writes benchmarks/data/recall.json: a small retrieval evaluation with known answers.

300 memories of three kinds, each with one question whose only relevant memory is known:

- orders, found by their number ("What happened to order ORD-40417?"): exact tokens, where BM25
  shines and a semantic model often does not;
- people, found by their surname, their city and a paraphrase of their job ("Who is the Okafor in
  Porto that cares for patients in a hospital?" for "Chidi Okafor works as a nurse in Porto"):
  surnames and cities shared with other memories;
- tastes, found by a paraphrase without the memory's words ("Which food does Ines dislike?" for
  "Ines cannot stand olives; she prefers figs"): where only a semantic model helps, and the
  stand-in hash embedder cannot.

Fixed seed: running it again writes the same file (committed beside this script).

Run::

    .venv/bin/python benchmarks/recall_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20261129
OUT = Path(__file__).parent / "data" / "recall.json"

FIRST = [
    "Ada",
    "Bruno",
    "Chidi",
    "Dana",
    "Emeka",
    "Farah",
    "Goran",
    "Hana",
    "Ines",
    "Jonas",
    "Keiko",
    "Luis",
    "Maya",
    "Nikos",
    "Olga",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tomas",
    "Uma",
    "Viktor",
    "Wen",
    "Yusuf",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Rossi",
    "Haddad",
    "Kowalski",
    "Nguyen",
    "Silva",
    "Novak",
    "Fischer",
    "Mensah",
    "Ibrahim",
    "Costa",
    "Petrov",
    "Larsen",
    "Sato",
    "Duarte",
    "Weber",
    "Khan",
]
CITIES = ["Porto", "Lyon", "Gdansk", "Osaka", "Accra", "Bergen", "Tbilisi", "Quito", "Hanoi", "Leeds"]
JOBS = {
    "nurse": "cares for patients in a hospital",
    "carpenter": "builds furniture from wood",
    "pilot": "flies aeroplanes",
    "baker": "makes bread every morning",
    "lawyer": "argues cases in court",
    "teacher": "teaches children at a school",
    "chef": "cooks in a restaurant kitchen",
    "plumber": "fixes pipes and drains",
    "architect": "designs buildings",
    "farmer": "grows crops on a farm",
}
FOODS = [
    "olives",
    "figs",
    "anchovies",
    "mushrooms",
    "coriander",
    "liquorice",
    "oysters",
    "beetroot",
    "tofu",
    "blue cheese",
    "okra",
    "grapefruit",
]
STATES = ["shipped", "was delayed at customs", "was returned", "was delivered", "is waiting for payment"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def build() -> dict[str, list[dict[str, str]]]:
    rng = random.Random(SEED)
    memories: list[dict[str, str]] = []
    questions: list[dict[str, str]] = []
    numbers = rng.sample(range(10000, 99999), 100)
    for i, number in enumerate(numbers):
        who, city = rng.choice(FIRST), rng.choice(CITIES)
        memory_id = f"order-{i}"
        memories.append(
            {
                "id": memory_id,
                "text": f"Order ORD-{number} for {who} {rng.choice(STATES)} in {city} on {rng.choice(DAYS)}",
            }
        )
        questions.append(
            {"question": f"What happened to order ORD-{number}?", "relevant": memory_id, "kind": "order number"}
        )
    seen: set[tuple[str, str]] = set()
    for i in range(100):
        first, last, city = rng.choice(FIRST), rng.choice(LAST), rng.choice(CITIES)
        while (last, city) in seen:  # the question names the surname and the city: one answer only
            first, last, city = rng.choice(FIRST), rng.choice(LAST), rng.choice(CITIES)
        seen.add((last, city))
        job = rng.choice(list(JOBS))
        memory_id = f"person-{i}"
        memories.append({"id": memory_id, "text": f"{first} {last} works as a {job} in {city}"})
        questions.append(
            {
                "question": f"Who is the {last} in {city} that {JOBS[job]}?",
                "relevant": memory_id,
                "kind": "surname + paraphrase",
            }
        )
    tasters: set[str] = set()
    for i in range(100):
        who = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        while who in tasters:  # one taste per person: the question has one answer
            who = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        tasters.add(who)
        hated, liked = rng.sample(FOODS, 2)
        memory_id = f"taste-{i}"
        memories.append({"id": memory_id, "text": f"{who} cannot stand {hated}; {who.split()[0]} prefers {liked}"})
        questions.append({"question": f"Which food does {who} dislike?", "relevant": memory_id, "kind": "paraphrase"})
    return {"memories": memories, "questions": questions}


if __name__ == "__main__":
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")
