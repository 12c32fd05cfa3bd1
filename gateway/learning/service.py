"""Building the learning feature from the config, once per process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from contextlib import AsyncExitStack

from gateway.config import ExtractionConfig, GatewayConfig
from gateway.context.service import MemoryServices
from gateway.learning.background import low_priority_executor
from gateway.learning.consolidate import Consolidator, Embed, Rules
from gateway.learning.extractor import Extractor, build_prompt
from gateway.learning.handoff import JournalHandoff
from gateway.learning.journal import Journal, new_owner
from gateway.learning.minimise import Policy
from gateway.learning.outcomes import OUTCOMES_DB, OutcomeLog, Outcomes
from gateway.learning.pacing import Pacer
from gateway.learning.personalize import ProfileLearner
from gateway.learning.pipeline import OnRestated, Pipeline
from gateway.learning.reactions import Reactions
from gateway.learning.similarity import Thresholds
from gateway.learning.summarize import model_condense
from gateway.learning.worker import Workers, WorkerSettings
from gateway.observability import Metrics
from gateway.profile.store import ProfileStore
from gateway.store.embedding import Embedder
from gateway.store.index import Vector
from gateway.store.records import Scope
from gateway.types import Handoff, NoLearning
from gateway.upstream.forward import Forwarder
from gateway.upstream.routes import ModelRegistry

#: The journal lives beside the store's own state, in a file of its own: its writes never wait
#: for the store's generation counter, nor the other way round.
JOURNAL_DB = "extraction.sqlite3"
log = logging.getLogger(__name__)


async def start_learning(
    config: GatewayConfig,
    memory: MemoryServices,
    registry: ModelRegistry,
    forwarder: Forwarder,
    metrics: Metrics,
    stack: AsyncExitStack,
    on_restated: OnRestated | None = None,
) -> Handoff:
    """The hand-off for ``ChatCompletions``, with its workers started and their shutdown (a
    bounded drain) registered on ``stack``; ``NoLearning`` when extraction is off."""
    settings = config.extraction
    if not settings.enabled or settings.mode == "off":
        return NoLearning()
    if settings.mode == "facts" and settings.model is None:
        log.warning(
            "extraction.model is not set: fact extraction is off "
            "(name one of the models, or use extraction.mode: turns)"
        )
        return NoLearning()
    journal = Journal(
        config.memory.store.state_dir / JOURNAL_DB,
        owner=new_owner(),
        max_backlog=settings.max_backlog,
    )
    stack.callback(journal.close)
    # One thread for the jobs' CPU work: at nice 19 it only takes what chats leave idle.
    cpu = low_priority_executor(1, "extraction-cpu")
    stack.callback(cpu.shutdown)
    consolidator = Consolidator(
        memory.store, _embedding(memory.embedder, cpu), _rules(settings), metrics
    )
    memory.store.before_erase(_forgetting(journal, consolidator, memory.profiles))
    pacer = Pacer(settings.busy_share if _store_in_process(config) else 1.0)
    policy = Policy(frozenset(settings.categories), frozenset(settings.blocked_categories))
    extractor = _extractor(settings, registry, forwarder, metrics)
    if extractor is not None and settings.model is not None:
        memory.summaries.use_model(model_condense(forwarder, registry.chain(settings.model)))
    pipeline = Pipeline(
        journal,
        extractor,
        policy,
        consolidator,
        pacer,
        metrics,
        executor=cpu,
        on_restated=on_restated,
        reactions=Reactions(config.personalization.positive_phrases),
        profile=ProfileLearner(memory.profiles, config.personalization, metrics),
    )
    workers = Workers(journal, pipeline, _worker_settings(settings), metrics)
    await workers.start()
    stack.push_async_callback(workers.stop)
    return JournalHandoff(journal, metrics, on_chat=pacer.touch, on_job=workers.notify)


def start_outcomes(
    config: GatewayConfig, memory: MemoryServices, metrics: Metrics, stack: AsyncExitStack
) -> tuple[Outcomes, OutcomeLog]:
    """The personalization records beside the journal, and the log that writes them (and
    forgets a user who is erased)."""
    settings = config.personalization
    outcomes = Outcomes(
        config.memory.store.state_dir / OUTCOMES_DB,
        retention_s=settings.retention_days * 86_400.0,
    )
    stack.callback(outcomes.close)
    outcome_log = OutcomeLog(outcomes, Reactions(settings.positive_phrases), metrics)
    memory.store.before_erase(outcome_log.forget)
    return outcomes, outcome_log


def _embedding(embedder: Embedder, thread: Executor) -> Embed:
    """Embedding on the jobs' low-priority thread, never queued in front of the query
    embeddings that requests wait for."""

    async def embed(texts: Sequence[str]) -> Vector:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(thread, embedder.embed_sync, list(texts))

    return embed


def _store_in_process(config: GatewayConfig) -> bool:
    """Whether store writes run in this process, holding the GIL (what the pacer is for)."""
    store = config.memory.store
    return store.url is None and store.runs_in == "gateway"


def _forgetting(
    journal: Journal, consolidator: Consolidator, profiles: ProfileStore
) -> Callable[[Scope], Awaitable[None]]:
    async def forget(scope: Scope) -> None:
        # Under the consolidation lock: a job of this user running here finishes first, and
        # anything queued for them is gone before their memories are. The profile is erased
        # here too, since a job that was running may have written it since its own erase hook.
        async with consolidator.lock(scope):
            await journal.call(journal.forget, scope, time.time())
            await profiles.erase(scope)

    return forget


def _extractor(
    settings: ExtractionConfig, registry: ModelRegistry, forwarder: Forwarder, metrics: Metrics
) -> Extractor | None:
    """The model call of ``mode: facts``; None in ``mode: turns``."""
    if settings.mode != "facts" or settings.model is None:
        return None
    return Extractor(
        forwarder,
        registry.chain(settings.model),
        build_prompt(settings.categories, settings.blocked_categories),
        on_retry=lambda: metrics.extraction_job("retried", None),
    )


def _rules(settings: ExtractionConfig) -> Rules:
    thresholds = Thresholds(settings.duplicate_similarity, settings.supersede_similarity)
    return Rules(thresholds)


def _worker_settings(settings: ExtractionConfig) -> WorkerSettings:
    return WorkerSettings(
        concurrency=settings.concurrency,
        max_attempts=settings.max_attempts,
        retry_backoff_s=settings.retry_backoff_s,
        lease_s=settings.lease_s,
        store_retry_s=settings.store_retry_s,
        poll_interval_s=settings.poll_interval_s,
        drain_timeout_s=settings.drain_timeout_s,
    )
