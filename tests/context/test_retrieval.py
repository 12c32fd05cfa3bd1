"""Retrieval with real embeddings: exact terms, recency, expiry and superseded memories."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest

from gateway.context.retrieval import Retriever
from gateway.store.chroma import ChromaBackend
from gateway.store.embedding import OnnxMiniLM
from gateway.store.records import Scope
from gateway.store.snapshots import Generations
from gateway.store.store import CacheSettings, MemoryStore, NewMemory
from tests.support.gateway import RunningGateway
from tests.support.memory import (
    MemoryClient,
    echo_chat,
    memory_block,
    memory_config,
    supersede,
)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


# Each target holds the exact term the question asks about; the distractors paraphrase the
# question's other words, which is what dense similarity rewards.
EXACT_TERMS = [
    pytest.param(
        "What do I know about order 58213?",
        "Parcel 58213 arrived with a cracked screen.",
        [
            "I asked what I know about my online orders last week.",
            "The user wants to know about the status of their order.",
            "I keep notes about every order I place.",
            "Order tracking questions come up a lot.",
        ],
        id="number",
    ),
    pytest.param(
        "What happened on 2021-07-09?",
        "2021-07-09: sold the old Volvo to my cousin.",
        [
            "Something important happened last summer.",
            "What happened at the meeting yesterday was surprising.",
            "I remember the day everything happened.",
            "A lot happened in July.",
        ],
        id="date",
    ),
]


def rank(hits: list[dict[str, Any]], content: str) -> int:
    return [h["memory"]["content"] for h in hits].index(content)


@pytest.mark.parametrize(("question", "target", "distractors"), EXACT_TERMS)
def test_hybrid_finds_exact_terms_that_dense_ranks_lower(
    api: MemoryClient,
    chat: openai.OpenAI,
    question: str,
    target: str,
    distractors: list[str],
) -> None:
    user = unique("exact")
    api.add_many(user, [{"content": text} for text in [target, *distractors]])
    dense = api.search(user, question, mode="dense")
    hybrid = api.search(user, question, mode="hybrid")
    assert rank(dense, target) > 0
    assert rank(hybrid, target) == 0
    # Through chat the header picks the ranking, and notes of one day are listed best first.
    messages = [{"role": "user", "content": question}]
    for mode, first in (("hybrid", True), ("dense", False)):
        received, _ = echo_chat(chat, messages, user_id=user, headers={"X-Retrieval-Mode": mode})
        notes = [x for x in memory_block(received).split("\n") if x.startswith("- ")]
        assert len(notes) == 5
        assert (notes[0] == f"- {target}") is first, mode


def test_a_name_every_note_shares_does_not_outrank_what_the_question_means(
    api: MemoryClient,
) -> None:
    # The question shares only the user's name with its answer, and with every short note of
    # small talk; BM25 favours the shortest of those. Measured as a share of the whole
    # question, that match is a sliver, and meaning decides.
    user = unique("name")
    fact = "Dana: Got a bee colony, the hive is on the flat roof."
    chatter = ["Dana: Oof.", "Dana: Ha, bye!", "Dana: The classic.", "Dana: Night night."]
    # A day apart each: notes of one day would form a thread and borrow from each other.
    notes = [*chatter, fact]
    api.add_many(user, [{"content": t, "created_at": ago(i + 1)} for i, t in enumerate(notes)])
    hits = api.search(user, "Where does Dana keep the honeybees?", mode="hybrid")
    assert rank(hits, fact) == 0


def test_an_older_equally_relevant_memory_ranks_lower(api: MemoryClient) -> None:
    user = unique("recency")
    text = "Enjoys hiking in the Alps."
    fresh = api.add(user, text)
    old = api.add(user, text, created_at=ago(400))
    hits = {h["memory"]["id"]: h for h in api.search(user, "Where do I like to hike?")}
    assert hits[fresh["id"]]["dense"] == pytest.approx(hits[old["id"]]["dense"], abs=1e-5)
    # Default half-life 180 days, floor 0.7: older is weaker, but never below the floor.
    ratio = hits[old["id"]]["score"] / hits[fresh["id"]]["score"]
    assert 0.7 <= ratio < 0.8
    dense = {
        h["memory"]["id"]: h for h in api.search(user, "Where do I like to hike?", mode="dense")
    }
    assert dense[old["id"]]["score"] == pytest.approx(dense[fresh["id"]]["score"], abs=1e-5)


@pytest.mark.asyncio
async def test_without_a_half_life_there_is_no_decay(tmp_path: Path, embedder: OnnxMiniLM) -> None:
    config = memory_config(tmp_path, memory={"retrieval": {"half_life_days": None}})
    store = MemoryStore(
        ChromaBackend(path=tmp_path / "chroma"),
        embedder,
        Generations(tmp_path / "generations.sqlite3"),
        CacheSettings(),
    )
    retriever = Retriever(store, embedder, config.memory.retrieval, timeout_s=5)
    scope = Scope("acme", "timeless")
    now = datetime.now(UTC)
    await store.add(
        scope,
        [
            NewMemory("Enjoys hiking in the Alps.", "fact", created_at=now),
            NewMemory("Enjoys hiking in the Alps.", "fact", created_at=now - timedelta(days=4000)),
        ],
    )
    first, second = await retriever.search(
        scope, "Where do I like to hike?", mode="hybrid", limit=2
    )
    assert first.score == pytest.approx(second.score, abs=1e-6)
    await store.close()


def test_expired_categories_are_not_injected(api: MemoryClient, chat: openai.OpenAI) -> None:
    user = unique("expiry")  # the shared gateway expires `session` memories after 1 day
    stale = api.add(user, "Is packing for the Oslo trip.", category="session", created_at=ago(3))
    api.add(user, "Is packing for the Bergen trip.", category="session")
    api.add(user, "Has a sister in Oslo.", created_at=ago(3))
    question = [{"role": "user", "content": "What am I packing for, and who lives in Oslo?"}]
    received, _ = echo_chat(chat, question, user_id=user)
    block = memory_block(received)
    assert "Is packing for the Bergen trip." in block
    assert "Has a sister in Oslo." in block
    assert "Oslo trip" not in block
    assert all(h["memory"]["id"] != stale["id"] for h in api.search(user, "Oslo trip packing"))
    # Expired is not deleted: the user can still see and export it.
    assert "Is packing for the Oslo trip." in api.contents(user)


def test_superseded_memories_are_never_injected(
    api: MemoryClient,
    chat: openai.OpenAI,
    memory_gateway: RunningGateway,
    embedder: OnnxMiniLM,
) -> None:
    user = unique("superseded")
    old, new = asyncio.run(
        supersede(
            memory_gateway.config,
            embedder,
            Scope("acme", user),
            "Works at Initech as a tester.",
            "Works at Globex as a manager.",
        )
    )
    # Asked in the old memory's very words.
    question = [{"role": "user", "content": "Works at Initech as a tester?"}]
    received, headers = echo_chat(chat, question, user_id=user)
    block = memory_block(received)
    assert "Works at Globex as a manager." in block
    assert "Initech" not in block
    assert headers["x-memory-items"] == "1"
    assert all(h["memory"]["id"] != old.id for h in api.search(user, old.content))
    assert new.superseded_by is None and old.superseded_by == new.id


class _Backlogged(OnnxMiniLM):
    """The real model, reporting a queue of ``waiting`` queries and counting its runs."""

    def __init__(self, model_dir: Path, waiting: int) -> None:
        super().__init__(model_dir)
        self.waiting = waiting
        self.runs = 0

    @property
    def backlog(self) -> int:
        return self.waiting

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.runs += 1
        return super().embed_sync(texts)


class _Late(OnnxMiniLM):
    """The real model, answering queries only after ``delay_s``."""

    def __init__(self, model_dir: Path, delay_s: float) -> None:
        super().__init__(model_dir)
        self.delay_s = delay_s

    async def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        await asyncio.sleep(self.delay_s)
        return await super().embed(texts)


PARCELS = ["Parcel 58213 arrived with a cracked screen.", "Prefers window seats."]


async def _seeded(tmp_path: Path, embedder: OnnxMiniLM) -> MemoryStore:
    store = MemoryStore(
        ChromaBackend(path=tmp_path / "chroma"),
        embedder,
        Generations(tmp_path / "generations.sqlite3"),
        CacheSettings(),
    )
    await store.add(Scope("acme", "u"), [NewMemory(text, "fact") for text in PARCELS])
    return store


@pytest.mark.asyncio
async def test_an_overloaded_query_embedder_is_skipped(
    tmp_path: Path, embedder: OnnxMiniLM, model_dir: Path
) -> None:
    store = await _seeded(tmp_path, embedder)
    params = memory_config(tmp_path, memory={"retrieval": {"shed_backlog": 4}}).memory.retrieval
    queries = _Backlogged(model_dir, waiting=4)
    retriever = Retriever(store, queries, params, timeout_s=5)
    try:
        shed = await retriever.retrieve(Scope("acme", "u"), "parcel 58213")
        assert (shed.mode, shed.fallback, shed.outcome) == ("lexical", True, "hit")
        assert shed.hits[0].memory.content == PARCELS[0]
        assert queries.runs == 0
        # Below the limit the model runs, and ranks as configured.
        queries.waiting = 3
        full = await retriever.retrieve(Scope("acme", "u"), "parcel 58213")
        assert (full.mode, full.fallback, full.outcome) == ("hybrid", False, "hit")
        assert queries.runs == 1
    finally:
        retriever.close()
        queries.close()
        await store.close()


@pytest.mark.asyncio
async def test_a_late_query_vector_falls_back_to_lexical_ranking(
    tmp_path: Path, embedder: OnnxMiniLM, model_dir: Path
) -> None:
    store = await _seeded(tmp_path, embedder)
    params = memory_config(tmp_path).memory.retrieval
    late = _Late(model_dir, delay_s=1.0)
    retriever = Retriever(store, late, params, timeout_s=0.2)
    try:
        started = time.monotonic()
        retrieved = await retriever.retrieve(Scope("acme", "u"), "parcel 58213")
        assert time.monotonic() - started < 0.8
        assert (retrieved.mode, retrieved.fallback, retrieved.outcome) == ("lexical", True, "hit")
        assert retrieved.hits[0].memory.content == PARCELS[0]
        assert all(hit.dense == 0.0 for hit in retrieved.hits)
    finally:
        retriever.close()
        late.close()
        await store.close()


# Small talk of one user: short, all starting with their name, close to any question about them.
CHATTER = [
    "Oof.",
    "Ha, bye!",
    "The classic.",
    "Night night.",
    "Made soup from whatever was in the fridge.",
    "Went for a walk and got rained on twice.",
    "My sister is visiting next month.",
    "I'm learning to juggle, badly.",
    "The upstairs neighbours got a piano.",
    "Work is mostly meetings about meetings this week.",
    "Did you see the storm last night?",
    "Tried a new ramen place, it was fine.",
    "The printer at work jammed in a new way.",
    "I might cut my own hair this weekend.",
    "Reading a thriller I can't put down.",
    "Found twenty quid in an old coat.",
    "Right, dinner's burning. Later!",
    "Same here. Catch me up.",
    "Sounds about right.",
    "Okay, your turn. Any news?",
    "Living history.",
    "The photos are relentless and adorable.",
    "House rules are on the fridge now.",
    "I've been sleeping terribly.",
    "Our landlord finally fixed the boiler.",
]
FACTS = [
    "Picked up my first colony last Wednesday; the hive lives on the flat roof for now.",
    "Enrolled in the carpentry evening course at Westmere College; classes are Thursdays.",
    "I'm doing the lighting for A Month of Sundays at the Gatehouse. Tech week is brutal.",
    "My grandfather's fountain pen finally came back from the repairer on the Shambles arcade.",
    "Entered the Dunmore rapid open last Thursday; they've seeded me 12th.",
]


def test_what_every_note_shares_does_not_outrank_the_note_that_answers(
    api: MemoryClient, chat: openai.OpenAI
) -> None:
    # Raw similarity favours the short notes: they are mostly the user's name, and so is the
    # question. Measured from what the user's notes share, the one that answers comes near the
    # top, though it shares no word with the question but the name.
    user = unique("shared")
    notes = [f"Lotte: {text}" for text in CHATTER * 2 + FACTS]
    assert len(notes) >= 50  # enough notes for their main directions to be taken out
    api.add_many(user, [{"content": t, "created_at": ago(i + 1)} for i, t in enumerate(notes)])
    question = "Which pastime of Lotte's might earn them the occasional sting?"
    answer = notes[-5]
    assert rank(api.search(user, question, mode="dense", limit=100), answer) > 20
    # A block with room for a fifth of the notes carries it.
    messages = [{"role": "user", "content": question}]
    received, _ = echo_chat(chat, messages, user_id=user, headers={"X-Context-Budget": "250"})
    block = memory_block(received)
    assert f"- {answer}" in block and block.count("\n- Lotte: ") <= len(notes) // 5
