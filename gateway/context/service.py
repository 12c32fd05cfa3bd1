"""Building the memory feature from the config, once per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

from gateway._litellm import load_litellm
from gateway.config import GatewayConfig, MemoryConfig
from gateway.context.profile import Personalization
from gateway.context.retrieval import Retriever
from gateway.context.stage import MemoryContext
from gateway.context.vectors import QueryVectors
from gateway.errors import StoreUnavailable
from gateway.observability import Metrics
from gateway.profile.store import ProfileStore
from gateway.profile.summary import SummaryWriter
from gateway.store.child import ChromaChild
from gateway.store.chroma import ChromaBackend
from gateway.store.coherence import GenerationLog, SharedGenerations
from gateway.store.embedding import Embedder, LiteLLMEmbedder, OnnxMiniLM, resolve_model_dir
from gateway.store.quantized import int8_model
from gateway.store.snapshots import Generations, Snapshots
from gateway.store.store import CacheSettings, MemoryStore

STATE_DB = "gateway.sqlite3"
#: With several worker processes, how long one trusts a cached profile another may have changed.
SHARED_PROFILE_TTL_S = 5.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryServices:
    store: MemoryStore
    embedder: Embedder
    retriever: Retriever
    context: MemoryContext
    profiles: ProfileStore
    summaries: SummaryWriter


def build_embedder(config: MemoryConfig) -> Embedder:
    settings = config.embedding
    if settings.provider == "litellm":
        assert settings.model is not None
        assert settings.dimension is not None
        key = settings.api_key.get_secret_value() if settings.api_key else None
        # Imported now (startup calls this on a thread): a memory API call must not spend its
        # deadline, memory.api.timeout_s, on an import that takes seconds.
        load_litellm()
        return LiteLLMEmbedder(
            settings.model, dimension=settings.dimension, api_key=key, api_base=settings.api_base
        )
    return OnnxMiniLM(resolve_model_dir(settings.model_dir), threads=settings.threads)


def build_query_embedder(config: MemoryConfig, embedder: Embedder) -> Embedder:
    """What embeds queries on the request path: an int8 copy of the local model
    (``query_precision: int8``), or ``embedder`` itself when there is none to be had."""
    settings = config.embedding
    if settings.provider != "onnx" or settings.query_precision == "fp32":
        return embedder
    model_dir = resolve_model_dir(settings.model_dir)
    quantized = int8_model(model_dir / "model.onnx")
    if quantized is None:
        return embedder
    return OnnxMiniLM(model_dir, threads=settings.threads, model_file=quantized)


async def start_memory(
    config: GatewayConfig, metrics: Metrics, stack: AsyncExitStack
) -> MemoryServices:
    memory = config.memory
    embedder = await asyncio.to_thread(build_embedder, memory)
    stack.callback(embedder.close)
    query_embedder = await asyncio.to_thread(build_query_embedder, memory, embedder)
    if query_embedder is not embedder:
        stack.callback(query_embedder.close)
    remote = memory.store.url is not None
    backend = ChromaBackend(
        path=memory.store.path,
        url=await _store_url(memory, metrics, stack),
        owned=None if remote else memory.store.path,
    )
    cache = cache_settings(config, remote=remote)
    store = MemoryStore(backend, embedder, generation_log(config, backend), cache)
    stack.push_async_callback(store.close)
    try:
        async with asyncio.timeout(memory.api.timeout_s):
            await asyncio.to_thread(backend.connect)
            await store.identify()
    except (StoreUnavailable, TimeoutError):
        # Serve anyway: retrieval degrades and /readyz says why until the store is back; the
        # state directory is checked against the store before its first use.
        log.warning("memory store unreachable at startup; will retry on use")
    if cache.snapshots is not None:
        flusher = asyncio.create_task(store.run_flusher(memory.cache.snapshot_interval_s))
        stack.push_async_callback(_cancel, flusher)
    retriever = Retriever(
        store,
        query_embedder,
        memory.retrieval,
        timeout_s=memory.retrieval.timeout_ms / 1000,
        expiry_days=memory.expiry_days,
        vectors=QueryVectors(
            query_embedder,
            ttl_s=memory.retrieval.query_reuse_s,
            reused=metrics.query_vector_reused,
        ),
    )
    stack.callback(retriever.close)
    store.before_erase(retriever.forget)
    profiles = ProfileStore(
        backend, ttl_s=SHARED_PROFILE_TTL_S if config.server.workers > 1 else None
    )
    summaries = SummaryWriter(store, profiles, config.personalization, metrics)
    # The profile and its summary go with the user's memories (learning erases the profile
    # again once the user's running job is done).
    store.before_erase(summaries.forget)
    store.before_erase(profiles.erase)
    stack.push_async_callback(summaries.close)
    personalization = Personalization(config, profiles, store, summaries)
    context = MemoryContext(config, retriever, metrics, personalization)
    return MemoryServices(store, embedder, retriever, context, profiles, summaries)


def memory_context(
    config: GatewayConfig, memory: MemoryServices, metrics: Metrics
) -> MemoryContext:
    """The memory stage for ``config`` over parts that outlive it (a reload builds a new one:
    the tenants' context and the profile's wording come from the config)."""
    personalization = Personalization(config, memory.profiles, memory.store, memory.summaries)
    return MemoryContext(config, memory.retriever, metrics, personalization)


def cache_settings(config: GatewayConfig, *, remote: bool) -> CacheSettings:
    """How the store caches users' indexes: snapshots beside an embedded store; with a store
    server, generations re-read at most every ``max_staleness_ms`` (other hosts write too)."""
    memory = config.memory
    return CacheSettings(
        config=memory.cache,
        shared=config.server.workers > 1 and not remote,
        max_staleness_s=memory.cache.max_staleness_ms / 1000 if remote else None,
        ttl_s=memory.cache.ttl_s if remote else None,
        snapshots=None if remote else Snapshots(memory.store.state_dir / "snapshots"),
    )


def generation_log(config: GatewayConfig, backend: ChromaBackend) -> GenerationLog:
    """Where the users' generations are kept: in the store server, which every host sees,
    or beside an embedded store on this host's disk."""
    store = config.memory.store
    if store.url is not None:
        return SharedGenerations(backend)
    return Generations(store.state_dir / STATE_DB)


async def _store_url(memory: MemoryConfig, metrics: Metrics, stack: AsyncExitStack) -> str | None:
    """The URL of the store server: the configured one, or that of the child this process
    starts (``runs_in: child``); None for a store inside this process."""
    store = memory.store
    if store.url is not None or store.runs_in == "gateway":
        return store.url
    child = ChromaChild(store.path)
    child.start()
    # Stopped after the store has closed (the stack unwinds in reverse).
    stack.push_async_callback(child.stop)
    try:
        await child.ready()
    except StoreUnavailable:
        log.warning("memory store process did not start; serving without memories")
    # Registered after child.stop, so it is cancelled before the child is stopped on purpose.
    supervisor = asyncio.create_task(child.supervise(metrics.store_restarted))
    stack.push_async_callback(_cancel, supervisor)
    return child.url


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
