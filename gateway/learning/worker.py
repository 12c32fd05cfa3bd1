"""The workers: asyncio tasks in the gateway process that drain the journal.

Each worker claims the oldest due job (a lease), runs it, and removes it; a job that hit
provider or store trouble is put back with an exponentially growing delay until it has had
``max_attempts`` tries. A housekeeping task renews this process's leases, refreshes the queue
depth gauge and checkpoints the journal. A submission wakes an idle worker at once; otherwise
workers look again every ``poll_interval_s`` (for other processes' jobs and due retries).

``stop`` drains: workers keep taking due jobs until none is left or ``drain_timeout_s`` has
passed; then what is still running is cancelled and its lease released, so the next start picks
it up immediately. Nothing is lost either way: a job leaves the journal only once it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
import traceback

from gateway.config import ExtractionConfig
from gateway.learning.journal import Job, Journal
from gateway.learning.pipeline import GiveUp, Pipeline, Retry
from gateway.observability import Metrics

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 300.0


class Workers:
    def __init__(
        self,
        journal: Journal,
        pipeline: Pipeline,
        settings: ExtractionConfig,
        metrics: Metrics,
    ) -> None:
        self._journal = journal
        self._pipeline = pipeline
        self._settings = settings
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._draining = False
        self._workers: list[asyncio.Task[None]] = []
        self._housekeeper: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """A job was journaled: wake an idle worker."""
        self._wake.set()

    async def start(self) -> None:
        recovered = await self._journal.call(self._journal.recover, time.time())
        if recovered:
            log.info("extraction: %d jobs of a stopped process returned to the queue", recovered)
        await self._refresh_depth()
        self._workers = [
            asyncio.create_task(self._work(), name=f"extraction-worker-{n}")
            for n in range(self._settings.concurrency)
        ]
        self._housekeeper = asyncio.create_task(self._housekeep(), name="extraction-housekeeping")

    async def stop(self) -> None:
        """Drain due jobs within the deadline, then cancel and hand back what is left."""
        self._draining = True
        self._wake.set()
        if self._workers:
            _, running = await asyncio.wait(self._workers, timeout=self._settings.drain_timeout_s)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeper
        await self._journal.call(self._journal.release_all)
        await self._refresh_depth()

    async def _work(self) -> None:
        while True:
            try:
                worked = await self._step()
            except sqlite3.Error as exc:
                # The journal is locked or the disk is failing: the job stays where it is.
                _log_failure("extraction journal unavailable", exc)
                worked = False
            if not worked:
                if self._draining:
                    return
                await self._idle()

    async def _step(self) -> bool:
        """Claim and run one job; False when none is due."""
        job = await self._journal.call(self._journal.claim, time.time(), self._settings.lease_s)
        if job is None:
            return False
        await self._run(job)
        await self._refresh_depth()
        return True

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._settings.poll_interval_s):
                await self._wake.wait()
        self._wake.clear()

    async def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._pipeline.run(job)
        except Retry as exc:
            if exc.charged:
                await self._retry_or_fail(job, started)
            else:
                # An outage of the store is not the job's fault: it waits without losing tries.
                due = time.time() + self._settings.store_retry_s
                await self._journal.call(self._journal.retry_at, job.id, due, True)
                self._metrics.extraction_job("retried", None)
            return
        except GiveUp as exc:
            await self._journal.call(self._journal.finish, job.id)
            self._metrics.extraction_job(exc.outcome, time.perf_counter() - started)
            return
        except Exception as exc:
            # A bug, not the provider: treat it as transient, so max_attempts still ends a job
            # that keeps failing.
            _log_failure("extraction job failed unexpectedly", exc)
            await self._retry_or_fail(job, started)
            return
        await self._journal.call(self._journal.finish, job.id)
        self._metrics.extraction_job(outcome, time.perf_counter() - started)

    async def _retry_or_fail(self, job: Job, started: float) -> None:
        if job.attempts >= self._settings.max_attempts:
            await self._journal.call(self._journal.finish, job.id)
            self._metrics.extraction_job("failed", time.perf_counter() - started)
            return
        await self._journal.call(self._journal.retry_at, job.id, time.time() + self._delay(job))
        self._metrics.extraction_job("retried", None)

    def _delay(self, job: Job) -> float:
        ceiling = min(self._settings.retry_backoff_s * 2 ** (job.attempts - 1), MAX_BACKOFF_S)
        return random.uniform(ceiling / 2, ceiling)

    async def _housekeep(self) -> None:
        interval = min(self._settings.poll_interval_s, self._settings.lease_s / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._journal.call(self._journal.renew, time.time(), self._settings.lease_s)
                await self._journal.call(self._journal.checkpoint)
                await self._refresh_depth()
            except Exception as exc:
                _log_failure("extraction housekeeping failed", exc)

    async def _refresh_depth(self) -> None:
        self._metrics.extraction_queue_depth(await self._journal.call(self._journal.depth))


def _log_failure(what: str, exc: BaseException) -> None:
    # The exception's message may quote a user's words: log its class and where it was raised.
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    log.error("%s: %s%s", what, type(exc).__name__, where)
