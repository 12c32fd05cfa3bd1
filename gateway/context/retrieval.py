"""Stage 4a: find the user's memories that matter for this request, within a hard deadline.

Embedding the query and loading the user's index (on a cold start) run side by side. When the
query embedder cannot answer by the deadline (or has more than ``shed_backlog`` queries waiting
already, so it would not), a loaded index is ranked on what needs no embedding: BM25, recency and
evidence (``lexical``). Only with the store down, or the index not loaded by the deadline, does
the request go on without memories: retrieval never fails a request, it only reports
``degraded``.

Ranking a user's memories runs on the event loop, ~1 ms for 1,000 of them. A user with
``THREAD_SEARCH_FROM`` or more is ranked on a worker thread instead (its vectors' product alone
is ~2 ms at 20,000 and ~250 ms at 1M): the event loop serves other requests meanwhile, and the
deadline can fire while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from gateway.config import RetrievalConfig
from gateway.context.vectors import QueryVectors
from gateway.errors import EmbeddingError, GatewayError
from gateway.store.embedding import Embedder
from gateway.store.index import Hit, UserIndex, Vector
from gateway.store.ranking import Mode
from gateway.store.records import Scope
from gateway.store.store import MemoryStore

log = logging.getLogger(__name__)

Outcome = Literal["hit", "empty", "timeout", "error"]
#: Users with at least this many memories are ranked off the event loop (see above).
THREAD_SEARCH_FROM = 20_000


@dataclass(frozen=True, slots=True)
class Retrieved:
    hits: list[Hit]
    outcome: Outcome
    seconds: float
    #: Hits left out because their category has expired.
    expired: int = 0
    #: How the hits were ranked: as asked, or ``lexical`` when the query embedder was late.
    mode: Mode = "hybrid"
    #: Whether ``lexical`` was a fallback rather than what the request asked for.
    fallback: bool = False

    @property
    def degraded(self) -> bool:
        return self.outcome in ("timeout", "error")


class Retriever:
    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        params: RetrievalConfig,
        *,
        timeout_s: float,
        expiry_days: Mapping[str, float] | None = None,
        thread_search_from: int = THREAD_SEARCH_FROM,
        vectors: QueryVectors | None = None,
    ) -> None:
        self._store = store
        self._params = params
        self._timeout_s = timeout_s
        self._expiry_s = {k: v * 86_400.0 for k, v in (expiry_days or {}).items()}
        self._vectors = vectors or QueryVectors(embedder, ttl_s=params.query_reuse_s)
        self._thread_search_from = thread_search_from
        # One thread: large rankings wait for each other rather than take every core, and one
        # whose caller has given up is dropped before it starts.
        self._ranker = ThreadPoolExecutor(1, thread_name_prefix="memory-rank")

    async def retrieve(self, scope: Scope, query: str, mode: Mode | None = None) -> Retrieved:
        """Ranked hits for a chat request, or nothing once the deadline has passed."""
        started = time.perf_counter()
        params = self._params if mode is None else self._params.model_copy(update={"mode": mode})
        shed = params.mode != "lexical" and self._overloaded()
        if shed:
            params = params.model_copy(update={"mode": "lexical"})
        try:
            hits, params = await self._within_deadline(scope, query, params)
        except TimeoutError:
            return Retrieved([], "timeout", time.perf_counter() - started)
        except (GatewayError, EmbeddingError) as exc:
            log.warning("memory retrieval failed: %s", type(exc).__name__)
            return Retrieved([], "error", time.perf_counter() - started)
        except Exception as exc:  # retrieval must never fail a request
            # Only the type: a store's error message may quote stored text.
            log.error("memory retrieval failed unexpectedly: %s", type(exc).__name__)
            return Retrieved([], "error", time.perf_counter() - started)
        kept = self._unexpired(hits)
        outcome: Outcome = "hit" if kept else "empty"
        fell_back = params.mode == "lexical" and (mode or self._params.mode) != "lexical"
        return Retrieved(
            kept,
            outcome,
            time.perf_counter() - started,
            len(hits) - len(kept),
            params.mode,
            fell_back,
        )

    async def search(self, scope: Scope, query: str, *, mode: Mode, limit: int) -> list[Hit]:
        """The same ranking for the search API: no deadline, errors raised."""
        params = self._params.model_copy(update={"mode": mode, "top_k": limit})
        vector = None if mode == "lexical" else await self._vectors.vector(query)
        index = await self._store.index(scope)
        return self._unexpired(await self._rank(index, vector, query, params))

    def _overloaded(self) -> bool:
        limit = self._params.shed_backlog
        return limit > 0 and self._vectors.backlog >= limit

    async def _within_deadline(
        self, scope: Scope, query: str, params: RetrievalConfig
    ) -> tuple[list[Hit], RetrievalConfig]:
        """Hits ranked as ``params`` says if the query's vector comes in time, else lexically;
        ``TimeoutError`` only when the user's index itself is not loaded by the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout_s
        # Embedding the query and (on a cold start) loading the index overlap.
        vector_task = (
            None if params.mode == "lexical" else asyncio.ensure_future(self._vectors.vector(query))
        )
        try:
            async with asyncio.timeout_at(deadline):
                index = await self._store.index(scope)
        except BaseException:
            if vector_task is not None:
                vector_task.cancel()
            raise
        vector = None
        if vector_task is not None:
            try:
                async with asyncio.timeout_at(deadline):
                    vector = await vector_task
            except (TimeoutError, EmbeddingError) as exc:
                if isinstance(exc, EmbeddingError):
                    log.warning("query embedding failed: %s", type(exc).__name__)
                # The index is here, the vector is not: rank on what needs no embedding. A
                # large user's ranking runs on a thread, and gets a deadline of its own.
                deadline = loop.time() + self._timeout_s
                params = params.model_copy(update={"mode": "lexical"})
        async with asyncio.timeout_at(deadline):
            return await self._rank(index, vector, query, params), params

    async def _rank(
        self, index: UserIndex, vector: Vector | None, query: str, params: RetrievalConfig
    ) -> list[Hit]:
        if len(index) < self._thread_search_from:
            return index.search(vector, query, params)
        ranking = index.ranking(query, params, detached=True)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._ranker, ranking.hits, vector)

    def close(self) -> None:
        self._ranker.shutdown(wait=False, cancel_futures=True)

    async def forget(self, scope: Scope) -> None:
        """Drop the remembered query vectors (an erase): they are not filed by user, and a
        vector is a trace of its question."""
        self._vectors.clear()

    def _unexpired(self, hits: list[Hit]) -> list[Hit]:
        if not self._expiry_s:
            return hits
        now = time.time()
        return [
            hit
            for hit in hits
            if now - hit.memory.seen_at.timestamp()
            <= self._expiry_s.get(hit.memory.category, math.inf)
        ]
