"""One job through the pipeline, with a real journal, the scripted mock model and a real store:
replays do not duplicate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.config import ExtractionConfig, ModelConfig
from gateway.learning.consolidate import Consolidator, Rules
from gateway.learning.extractor import Extractor, build_prompt
from gateway.learning.journal import Job, Journal, new_owner
from gateway.learning.pacing import Pacer
from gateway.learning.pipeline import GiveUp, Pipeline, Retry
from gateway.learning.transcript import Transcript
from gateway.observability import Metrics
from gateway.store.embedding import OnnxMiniLM
from gateway.store.records import Scope
from gateway.store.store import MemoryStore
from gateway.upstream.forward import Forwarder
from gateway.upstream.openai_wire import OpenAIWire
from gateway.upstream.routes import build_route
from tests.learning.helpers import facts_answer
from tests.support.mock_upstream import RunningMock

ALICE = Scope("acme", "alice")
CATEGORIES = ("preference", "fact", "role", "general")
TRANSCRIPT = Transcript(new=("I live in Berlin and I'm a vegetarian.",), earlier=(), reply="Noted.")


@pytest_asyncio.fixture
async def forwarder() -> AsyncIterator[Forwarder]:
    wire = OpenAIWire()
    yield Forwarder({"openai": wire}, backoff_s=0.01)
    await wire.close()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "extraction.sqlite3", owner=new_owner(), max_backlog=10)


def pipeline(
    scripted: RunningMock,
    forwarder: Forwarder,
    journal: Journal,
    store: MemoryStore,
    embedder: OnnxMiniLM,
    metrics: Metrics,
) -> Pipeline:
    route = build_route(
        ModelConfig(
            name="extractor", model="openai/x", api_base=scripted.base_url, api_key="k", retries=0
        )
    )
    extractor = Extractor(forwarder, [route], build_prompt(CATEGORIES, ()), lambda: None)
    consolidator = Consolidator(store, embedder.embed, Rules(), metrics)
    settings = ExtractionConfig(categories=CATEGORIES)
    return Pipeline(journal, extractor, settings, consolidator, Pacer(1.0), metrics)


async def claim(journal: Journal, now: float) -> Job:
    job = await journal.call(journal.claim, now, 30.0)
    assert job is not None
    return job


async def summary(store: MemoryStore) -> list[tuple[str, int, str]]:
    return sorted((m.content, m.evidence, m.status) for m in await store.all(ALICE))


@pytest.mark.asyncio
async def test_a_job_replayed_after_a_crash_applies_its_saved_facts_once(
    scripted: RunningMock,
    forwarder: Forwarder,
    journal: Journal,
    store: MemoryStore,
    embedder: OnnxMiniLM,
    metrics: Metrics,
) -> None:
    scripted.state.script_default = facts_answer(
        ("User lives in Berlin.", "fact"), ("User is vegetarian.", "fact")
    )
    run = pipeline(scripted, forwarder, journal, store, embedder, metrics)
    journal.enqueue(ALICE, TRANSCRIPT.encode(), now=0.0)
    first = await claim(journal, now=1.0)
    assert await run.run(first) == "done"
    stored = await summary(store)
    assert stored == [("User is vegetarian.", 1, "active"), ("User lives in Berlin.", 1, "active")]
    # The process dies before removing the job; once the lease runs out, it is run again.
    again = await claim(journal, now=100.0)
    assert again.id == first.id and again.facts is not None
    assert await run.run(again) == "done"
    assert await summary(store) == stored
    assert len(scripted.state.requests) == 1  # the saved facts were used, the model not asked


@pytest.mark.asyncio
async def test_re_running_a_completed_job_id_changes_nothing(
    scripted: RunningMock,
    forwarder: Forwarder,
    journal: Journal,
    store: MemoryStore,
    embedder: OnnxMiniLM,
    metrics: Metrics,
) -> None:
    scripted.state.script_default = facts_answer(("User lives in Berlin.", "fact"))
    run = pipeline(scripted, forwarder, journal, store, embedder, metrics)
    journal.enqueue(ALICE, TRANSCRIPT.encode(), now=0.0)
    job = await claim(journal, now=1.0)
    await run.run(job)
    journal.finish(job.id)
    stored = await summary(store)
    for _ in range(3):
        assert await run.run(job) == "done"  # the same job, extracted again from scratch
    assert await summary(store) == stored == [("User lives in Berlin.", 1, "active")]
    assert len(scripted.state.requests) == 4


@pytest.mark.asyncio
async def test_failures_are_sorted_into_retry_and_give_up(
    scripted: RunningMock,
    forwarder: Forwarder,
    journal: Journal,
    store: MemoryStore,
    embedder: OnnxMiniLM,
    metrics: Metrics,
) -> None:
    run = pipeline(scripted, forwarder, journal, store, embedder, metrics)
    journal.enqueue(ALICE, TRANSCRIPT.encode(), now=0.0)
    job = await claim(journal, now=1.0)
    scripted.state.script.extend([{"mode": "fail", "status": 503}])
    with pytest.raises(Retry):
        await run.run(job)
    scripted.state.script.extend([{"mode": "fail", "status": 400}])
    with pytest.raises(GiveUp) as refused:
        await run.run(job)
    assert refused.value.outcome == "failed"
    scripted.state.script.extend(
        [{"mode": "json", "content": "no"}, {"mode": "json", "content": "{}"}]
    )
    with pytest.raises(GiveUp) as garbled:
        await run.run(job)
    assert garbled.value.outcome == "invalid_json"
    assert await store.all(ALICE) == []
