"""The workers' policy over a real journal: retries, attempts, outages, the shutdown drain.

The pipeline here is a stand-in that fails or succeeds as each test scripts it; the journal,
the workers and the metrics are the real ones."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.config import ExtractionConfig
from gateway.learning.journal import Job, Journal, new_owner
from gateway.learning.pipeline import GiveUp, Retry
from gateway.learning.worker import Workers
from gateway.observability import Metrics
from gateway.store.records import Scope
from tests.learning.helpers import metric_value

ALICE = Scope("acme", "alice")
JOBS = "gateway_extraction_jobs_total"
FAST = ExtractionConfig(
    concurrency=1, max_attempts=3, retry_backoff_s=0.01, lease_s=5, poll_interval_s=0.02,
    drain_timeout_s=2, store_retry_s=0.01,
)  # fmt: skip


class ScriptedPipeline:
    """Runs each job by taking the next step: an exception to raise, a delay, or an outcome."""

    def __init__(self, *steps: object) -> None:
        self.steps = deque(steps)
        self.attempts: list[int] = []

    async def run(self, job: Job) -> str:
        self.attempts.append(job.attempts)
        step = self.steps.popleft() if self.steps else "done"
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, float):
            await asyncio.sleep(step)
            return "done"
        assert isinstance(step, str)
        return step


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "extraction.sqlite3", owner=new_owner(), max_backlog=100)
    yield opened
    opened.close()


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not predicate():
            await asyncio.sleep(0.01)


async def run_workers(
    journal: Journal,
    pipeline: ScriptedPipeline,
    settings: ExtractionConfig,
    metrics: Metrics,
    done: int,
) -> None:
    workers = Workers(journal, pipeline, settings, metrics)  # type: ignore[arg-type]
    await workers.start()
    try:
        await until(
            lambda: (
                metric_value(metrics, JOBS, outcome="done")
                + metric_value(metrics, JOBS, outcome="failed")
                >= done
            )
        )
    finally:
        await workers.stop()


@pytest.mark.asyncio
async def test_provider_trouble_uses_up_attempts_then_the_job_fails(
    journal: Journal, metrics: Metrics
) -> None:
    pipeline = ScriptedPipeline(
        Retry("UpstreamUnavailable"), Retry("UpstreamTimeout"), Retry("x"), "done"
    )
    journal.enqueue(ALICE, b"t", now=0.0)
    await run_workers(journal, pipeline, FAST, metrics, done=1)
    assert pipeline.attempts == [1, 2, 3]
    assert metric_value(metrics, JOBS, outcome="failed") == 1
    assert metric_value(metrics, JOBS, outcome="retried") == 2
    assert journal.depth() == 0


@pytest.mark.asyncio
async def test_a_store_outage_does_not_use_up_attempts(journal: Journal, metrics: Metrics) -> None:
    outage = [Retry("StoreUnavailable", charged=False) for _ in range(6)]
    pipeline = ScriptedPipeline(*outage, "done")
    journal.enqueue(ALICE, b"t", now=0.0)
    await run_workers(journal, pipeline, FAST, metrics, done=1)
    assert pipeline.attempts == [1] * 7
    assert metric_value(metrics, JOBS, outcome="done") == 1


@pytest.mark.asyncio
async def test_given_up_jobs_are_counted_by_their_outcome(
    journal: Journal, metrics: Metrics
) -> None:
    pipeline = ScriptedPipeline(GiveUp("invalid_json"), "dropped", "done")
    for n in range(3):
        journal.enqueue(ALICE, b"t", now=float(n))
    await run_workers(journal, pipeline, FAST, metrics, done=1)
    await until(lambda: journal.depth() == 0)
    assert metric_value(metrics, JOBS, outcome="invalid_json") == 1
    assert metric_value(metrics, JOBS, outcome="dropped") == 1


@pytest.mark.asyncio
async def test_an_unexpected_error_is_retried_and_logged_without_its_message(
    journal: Journal, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline = ScriptedPipeline(ValueError("User's secret diary says: I love Anna"), "done")
    journal.enqueue(ALICE, b"t", now=0.0)
    with caplog.at_level(logging.ERROR, logger="gateway.learning.worker"):
        await run_workers(journal, pipeline, FAST, metrics, done=1)
    assert pipeline.attempts == [1, 2]
    assert "ValueError" in caplog.text
    assert "Anna" not in caplog.text


@pytest.mark.asyncio
async def test_stop_drains_due_jobs_then_hands_back_what_is_still_running(
    journal: Journal, metrics: Metrics
) -> None:
    settings = ExtractionConfig(
        concurrency=1, poll_interval_s=0.02, drain_timeout_s=0.5, lease_s=60
    )
    pipeline = ScriptedPipeline(0.01, 0.01, 5.0)
    for n in range(3):
        journal.enqueue(ALICE, b"t", now=float(n))
    workers = Workers(journal, pipeline, settings, metrics)  # type: ignore[arg-type]
    await workers.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await workers.stop()
    assert loop.time() - started < 2.0  # the deadline, not the 5 s job
    assert metric_value(metrics, JOBS, outcome="done") == 2
    assert journal.depth() == 1
    left = journal.claim(now=10**10, lease_s=1)  # handed back: claimable at once
    assert left is not None and left.attempts == 1  # the interrupted claim did not count
