"""A user with very many memories is ranked on a worker thread: same answers, and the retrieval
deadline holds while the ranking runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from gateway.config import RetrievalConfig
from gateway.context.retrieval import Retriever
from gateway.store.embedding import OnnxMiniLM
from gateway.store.index import build
from gateway.store.records import Memory, Scope
from gateway.store.snapshots import Snapshots
from gateway.store.store import MemoryStore, NewMemory
from tests.support.memory import embedded_store

SCOPE = Scope("acme", "prolific")
NOTES = [
    "Keeps three beehives on the roof in Lisbon.",
    "Allergic to penicillin; ibuprofen is fine.",
    "Runs 10k every Sunday along the river.",
    "Sister Ana is getting married in June.",
    "Switched the deploy pipeline from Jenkins to GitHub Actions.",
    "Prefers answers with a short summary first.",
]
#: Filler memories for the slow case: enough that ranking them takes well over a millisecond.
FILLER = 60_000


@pytest_asyncio.fixture
async def store(tmp_path: Path, embedder: OnnxMiniLM) -> AsyncIterator[MemoryStore]:
    opened = embedded_store(tmp_path, embedder)
    yield opened
    await opened.close()


@pytest.mark.asyncio
async def test_a_user_ranked_off_the_loop_gets_the_same_hits(
    store: MemoryStore, embedder: OnnxMiniLM
) -> None:
    await store.add(SCOPE, [NewMemory(note, "fact") for note in NOTES])
    on_loop = Retriever(store, embedder, RetrievalConfig(), timeout_s=10)
    threaded = Retriever(store, embedder, RetrievalConfig(), timeout_s=10, thread_search_from=1)
    for question in ("what medicine should I avoid?", "where are my bees?", "Jenkins"):
        expected = await on_loop.retrieve(SCOPE, question)
        got = await threaded.retrieve(SCOPE, question)
        assert got.outcome == expected.outcome == "hit"
        assert [(h.memory.id, h.score) for h in got.hits] == [
            (h.memory.id, h.score) for h in expected.hits
        ]
    # A write while a ranking runs on the thread: both finish, and the next search sees it.
    ranked, added = await asyncio.gather(
        threaded.retrieve(SCOPE, "what do I do on Sundays?"),
        store.add(SCOPE, [NewMemory("Swims in the sea every Saturday.", "fact")]),
    )
    assert ranked.outcome == "hit"
    hits = await threaded.search(SCOPE, "when do I swim?", mode="hybrid", limit=1)
    assert hits[0].memory.id == added[0].id
    on_loop.close()
    threaded.close()


@pytest.mark.asyncio
async def test_the_deadline_holds_while_a_large_user_is_ranked(
    tmp_path: Path, embedder: OnnxMiniLM
) -> None:
    # The user's index comes from a snapshot, as a restarted gateway would load it: tens of
    # thousands of memories written through Chroma would take minutes here.
    snapshots = Snapshots(tmp_path / "snapshots")
    rng = np.random.default_rng(7)
    filler = rng.standard_normal((FILLER, 384)).astype(np.float32)
    filler /= np.linalg.norm(filler, axis=1, keepdims=True)
    now = datetime.now(UTC)
    items = [
        (Memory(f"filler-{i}", f"Filler note {i}.", "fact", now, now), filler[i])
        for i in range(FILLER)
    ]
    target = Memory("bees", NOTES[0], "fact", now - timedelta(days=1), now)
    items.append((target, embedder.embed_sync([NOTES[0]])[0]))
    store = embedded_store(tmp_path, embedder)
    # Taken from this store: a snapshot of another store is never used.
    snapshots.save(SCOPE, build(384, 0, items), await store.identify())
    retriever = Retriever(store, embedder, RetrievalConfig(), timeout_s=0.001)
    try:
        # No deadline on the search API: this loads the user and remembers the query's vector,
        # so what the deadline meets below is the ranking alone.
        [best] = await retriever.search(SCOPE, "where are my bees?", mode="hybrid", limit=1)
        assert best.memory.id == "bees"
        # Ranked on the event loop, the deadline could not fire until the ranking was over,
        # and the request would have waited for all of it.
        missed = await retriever.retrieve(SCOPE, "where are my bees?")
        assert missed.outcome == "timeout" and missed.hits == []
    finally:
        retriever.close()
        await store.close()
