"""The profile summary: the gist of a user whose relevant memories no longer fit the budget.

Written in the background, never on a request's path: a request that had to leave memories out
asks for one (``consider``) and goes on. In ``turns`` mode the summary is extractive: the
memories with the most evidence (then the most recently seen) are taken whole until
``summary_tokens`` is reached, so nothing is written that the user did not say. In ``facts``
mode learning hands the writer the extraction model (``use_model``), which is asked to condense
the best-supported memories; should it fail, the extractive summary is written instead. It is
written again once ``summary_refresh_after`` memories have been added since, and it lives in the
profile, so it is exported and erased with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace

from gateway.config import PersonalizationConfig
from gateway.observability import Metrics
from gateway.profile.model import Profile, Summary
from gateway.profile.store import ProfileStore
from gateway.store.records import Memory, Scope
from gateway.store.store import MemoryStore
from gateway.tokens import TokenCounter

log = logging.getLogger(__name__)
_SEPARATOR = "; "
#: The tokenizer summaries are measured with; any model's count is close to it.
_ENCODING_MODEL = "gpt-4o"
#: The most memories' text a model is given to condense.
MODEL_INPUT_TOKENS = 4000
#: Condenses memories' texts into at most so many tokens (the extraction model, in facts mode).
Condense = Callable[[Sequence[str], int], Awaitable[str]]


#: The best-supported memories a summary is made from: far more than 150 tokens' worth.
CANDIDATES = 400


def within(text: str, max_tokens: int, counter: TokenCounter) -> str:
    """``text`` cut at a word boundary to at most ``max_tokens``."""
    if counter.count(text) <= max_tokens:
        return text
    words = text.split()
    while words and counter.count(" ".join(words)) > max_tokens:
        words = words[: max(len(words) * 9 // 10, len(words) - 1)]
    return " ".join(words)


def extractive_summary(ranked: Iterable[Memory], max_tokens: int, counter: TokenCounter) -> str:
    """The texts of ``ranked`` memories (best first), whole, joined, within ``max_tokens``."""
    chosen: list[str] = []
    used = 0
    seen: set[str] = set()
    for memory in ranked:
        text = " ".join(memory.content.split()).rstrip(".;")
        key = text.lower()
        if not text or key in seen:
            continue
        cost = counter.count(text + _SEPARATOR)
        if used + cost > max_tokens:
            if used >= max_tokens * 0.9:
                break
            continue
        chosen.append(text)
        seen.add(key)
        used += cost
    return _SEPARATOR.join(chosen) + ("." if chosen else "")


class SummaryWriter:
    def __init__(
        self,
        memories: MemoryStore,
        profiles: ProfileStore,
        settings: PersonalizationConfig,
        metrics: Metrics,
    ) -> None:
        self._memories = memories
        self._profiles = profiles
        self._settings = settings
        self._metrics = metrics
        self._running: dict[str, asyncio.Task[None]] = {}
        self._counter = TokenCounter(_ENCODING_MODEL)
        self._condense: Condense | None = None

    def use_model(self, condense: Condense) -> None:
        """Write summaries with a model (``facts`` mode), set once at startup."""
        self._condense = condense

    def consider(self, scope: Scope, profile: Profile, memories: int) -> None:
        """Called when a request of ``scope`` (who has ``memories``) left memories out: start
        writing a summary in the background if there is none, or it is out of date. Returns
        at once."""
        if scope.key in self._running:
            return
        summary = profile.summary
        if (
            summary is not None
            and memories - summary.memories < self._settings.summary_refresh_after
        ):
            return
        task = asyncio.ensure_future(self._write(scope))
        self._running[scope.key] = task
        task.add_done_callback(lambda _: self._running.pop(scope.key, None))

    async def _write(self, scope: Scope) -> None:
        try:
            index = await self._memories.index(scope)
            count, ranked = len(index), index.best_supported(CANDIDATES)
            text = await self._summary(ranked)
            summary = Summary(text, count, time.time())
            await self._profiles.change(scope, lambda p: replace(p, summary=summary))
            self._metrics.profile_summary_refreshed()
        except Exception:
            # A summary is an optimisation: the next request that overflows will ask again.
            log.exception("profile summary failed")

    async def _summary(self, memories: list[Memory]) -> str:
        limit = self._settings.summary_tokens
        if self._condense is not None:
            notes = await asyncio.to_thread(
                extractive_summary, memories, MODEL_INPUT_TOKENS, self._counter
            )
            try:
                written = await self._condense([notes], limit)
            except Exception as exc:
                log.warning(
                    "model summary failed (%s); writing it extractively", type(exc).__name__
                )
            else:
                if written.strip():
                    return await asyncio.to_thread(within, written.strip(), limit, self._counter)
        return await asyncio.to_thread(extractive_summary, memories, limit, self._counter)

    async def forget(self, scope: Scope) -> None:
        """Before the user is erased: let a summary being written for them finish first, so
        it cannot bring their profile back afterwards."""
        task = self._running.get(scope.key)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
