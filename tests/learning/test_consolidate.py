"""Consolidation with real all-MiniLM-L6-v2 embeddings and a real embedded Chroma store:
each branch of the rule and replays."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from gateway.config import RetrievalConfig
from gateway.context.retrieval import Retriever
from gateway.learning.consolidate import (
    OBSERVATIONS,
    SUPERSEDES,
    Consolidator,
    Rules,
    operation_id,
)
from gateway.learning.minimise import Fact
from gateway.observability import Metrics
from gateway.store.embedding import OnnxMiniLM
from gateway.store.records import Memory, Scope
from gateway.store.store import MemoryStore, NewMemory
from tests.learning.helpers import metric_value

ALICE = Scope("acme", "alice")
WRITTEN = "gateway_memories_written_total"


def consolidator(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics, **rules: int
) -> Consolidator:
    return Consolidator(store, embedder.embed, Rules(**rules), metrics)  # type: ignore[arg-type]


async def apply(merger: Consolidator, job: str, *facts: Fact) -> None:
    async with merger.lock(ALICE):
        await merger.apply(ALICE, job, facts)


async def stored(store: MemoryStore) -> dict[str, Memory]:
    return {m.content: m for m in await store.all(ALICE)}


async def retrieved(store: MemoryStore, embedder: OnnxMiniLM, query: str) -> list[str]:
    retriever = Retriever(store, embedder, RetrievalConfig(), timeout_s=10)
    return [hit.memory.content for hit in (await retriever.retrieve(ALICE, query)).hits]


@pytest.mark.asyncio
async def test_a_new_fact_is_added_under_its_operation_id(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics
) -> None:
    merger = consolidator(store, embedder, metrics)
    fact = Fact("User lives in Berlin.", "fact")
    await apply(merger, "job-1", fact, Fact("User likes hiking.", "preference"))
    memories = await stored(store)
    assert set(memories) == {"User lives in Berlin.", "User likes hiking."}
    berlin = memories["User lives in Berlin."]
    assert berlin.id == operation_id("job-1", fact)
    assert (berlin.source, berlin.status, berlin.evidence) == ("extracted", "active", 1)
    assert metric_value(metrics, WRITTEN, action="add") == 2


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("User lives in Berlin.", "The user lives in Berlin."),  # same text once normalised
        ("User works as a nurse.", "User is a nurse."),  # cosine 0.952
        ("User lives in Berlin, Germany.", "User lives in Berlin."),  # says less: 0.943
    ],
)
async def test_a_duplicate_bumps_evidence_and_last_seen_instead_of_adding(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics, first: str, again: str
) -> None:
    merger = consolidator(store, embedder, metrics)
    await apply(merger, "job-1", Fact(first, "fact"))
    before = (await stored(store))[first]
    await asyncio.sleep(0.01)
    await apply(merger, "job-2", Fact(again, "fact"))
    memories = await stored(store)
    assert list(memories) == [first]
    after = memories[first]
    assert after.evidence == 2
    assert after.seen_at > before.seen_at  # reinforced: decay starts again from now
    assert metric_value(metrics, WRITTEN, action="duplicate") == 1


@pytest.mark.asyncio
async def test_a_refinement_supersedes_the_old_memory_which_stays_for_history(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics
) -> None:
    merger = consolidator(store, embedder, metrics)
    await apply(merger, "job-1", Fact("User lives in Berlin.", "fact"))
    await apply(merger, "job-2", Fact("User now lives in Munich (moved from Berlin).", "fact"))
    memories = await stored(store)
    old, new = (
        memories["User lives in Berlin."],
        memories["User now lives in Munich (moved from Berlin)."],
    )
    assert (old.status, old.superseded_by) == ("superseded", new.id)
    assert (new.status, new.metadata[SUPERSEDES]) == ("active", old.id)
    assert await retrieved(store, embedder, "Where does the user live?") == [new.content]
    assert metric_value(metrics, WRITTEN, action="superseded") == 1


@pytest.mark.asyncio
async def test_a_new_number_is_an_update_even_at_very_high_similarity(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics
) -> None:
    merger = consolidator(store, embedder, metrics)
    await apply(merger, "job-1", Fact("User is 34 years old.", "fact"))
    await apply(merger, "job-2", Fact("User is 35 years old.", "fact"))  # cosine 0.965
    memories = await stored(store)
    assert memories["User is 34 years old."].status == "superseded"
    assert memories["User is 35 years old."].status == "active"


@pytest.mark.asyncio
async def test_related_facts_of_different_categories_or_low_similarity_are_both_kept(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics
) -> None:
    merger = consolidator(store, embedder, metrics)
    await apply(
        merger, "job-1", Fact("User is vegetarian.", "fact"), Fact("User speaks French.", "fact")
    )
    # 0.887 with "vegetarian" but another category; 0.770 with "French": below 0.80.
    await apply(
        merger, "job-2", Fact("User is vegan.", "preference"), Fact("User speaks Spanish.", "fact")
    )
    memories = await stored(store)
    assert len(memories) == 4
    assert {m.status for m in memories.values()} == {"active"}


@pytest.mark.asyncio
async def test_a_replayed_job_changes_nothing(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics
) -> None:
    merger = consolidator(store, embedder, metrics)
    await apply(merger, "job-1", Fact("User lives in Berlin.", "fact"))
    second = (
        Fact("The user lives in Berlin.", "fact"),  # a bump
        Fact("User has a dog named Rex.", "fact"),  # an add
        Fact("User is 34 years old.", "fact"),
    )
    await apply(merger, "job-2", *second)
    await apply(merger, "job-3", Fact("User is 35 years old.", "fact"))  # a supersede
    before = await stored(store)
    # Every job runs again, as after a crash between applying and acknowledging it.
    await apply(merger, "job-1", Fact("User lives in Berlin.", "fact"))
    await apply(merger, "job-2", *second)
    await apply(merger, "job-3", Fact("User is 35 years old.", "fact"))
    after = await stored(store)
    assert after.keys() == before.keys()
    assert {c: (m.evidence, m.status) for c, m in after.items()} == {
        c: (m.evidence, m.status) for c, m in before.items()
    }
    assert after["User lives in Berlin."].evidence == 2
    assert len(after["User lives in Berlin."].metadata[OBSERVATIONS]) == 1


@pytest.mark.asyncio
async def test_a_replay_finishes_a_supersede_that_a_crash_cut_short(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics
) -> None:
    merger = consolidator(store, embedder, metrics)
    await apply(merger, "job-1", Fact("User lives in Berlin.", "fact"))
    old = (await stored(store))["User lives in Berlin."]
    fact = Fact("User now lives in Munich (moved from Berlin).", "fact")
    # What job-2 had written when the process died: the new memory, not yet the old one's end.
    await store.add(
        ALICE,
        [
            NewMemory(
                fact.content,
                "fact",
                metadata={SUPERSEDES: old.id},
                source="extracted",
                id=operation_id("job-2", fact),
            )
        ],
    )
    assert (await stored(store))["User lives in Berlin."].status == "active"
    await apply(merger, "job-2", fact)
    memories = await stored(store)
    assert len(memories) == 2
    assert memories["User lives in Berlin."].status == "superseded"


@pytest.mark.asyncio
async def test_memories_that_are_not_reinforced_decay_in_ranking(
    store: MemoryStore, embedder: OnnxMiniLM, metrics: Metrics
) -> None:
    """Two equally old, similarly relevant memories: reinforcing the lower one lifts it first."""
    merger = consolidator(store, embedder, metrics)
    query = "Which instruments does the user play?"
    guitar, piano = Fact("User plays the guitar.", "fact"), Fact("User plays the piano.", "fact")
    await apply(merger, "job-1", guitar, piano)
    year_ago = (await stored(store))[guitar.content].seen_at - timedelta(days=365)
    for memory in (await stored(store)).values():
        await store.update(ALICE, memory.id, lambda m: replace(m, last_seen_at=year_ago))
    first, second = await retrieved(store, embedder, query)
    await apply(merger, "job-2", Fact(second, "fact"))  # observed again today
    assert await retrieved(store, embedder, query) == [second, first]
