"""Stage 4: retrieval, budget and injection for one chat completion.

Implements the proxy's ``ContextStage``: whatever happens here, the request goes on. With no
user, or ``X-Memory: off``, the messages are untouched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from gateway.config import GatewayConfig
from gateway.context.budget import (
    Candidate,
    Selection,
    rank_order,
    request_budget,
    select_ranked,
)
from gateway.context.injection import inject
from gateway.context.organization import tenant_items
from gateway.context.profile import PROFILE, UPCOMING, Personalization, applied
from gateway.context.query import build_query
from gateway.context.retrieval import Retrieved, Retriever
from gateway.observability import Metrics
from gateway.profile.model import Profile
from gateway.store.index import Hit
from gateway.store.records import Scope
from gateway.tokens import TokenCounter
from gateway.types import ChatRequest, Identity, Prepared
from gateway.upstream.routes import Route

_NO_USER = Prepared(headers={"x-memory-status": "no-user"})
_OFF = Prepared(headers={"x-memory-status": "off"})
#: The holdout's "retrieval": none of the user's memories (the tenant's context still applies).
_HELD_OUT = Retrieved([], "empty", 0.0)
_NOTHING = Selection("", (), 0, 0, 0)


class MemoryContext:
    def __init__(
        self,
        config: GatewayConfig,
        retriever: Retriever,
        metrics: Metrics,
        personalization: Personalization | None = None,
    ) -> None:
        self._retriever = retriever
        self._metrics = metrics
        self._personalization = personalization
        self._settings = config.context
        self._priorities = config.memory.categories
        self._tenant_items = {
            tenant: tenant_items(settings.context, self._priorities)
            for tenant, settings in config.tenants.items()
        }

    async def prepare(self, identity: Identity, chat: ChatRequest, route: Route) -> Prepared:
        if identity.user is None:
            self._metrics.retrieval("skipped", None)
            return _NO_USER
        if identity.mode == "off":
            self._metrics.retrieval("skipped", None)
            return _OFF
        started = time.perf_counter()
        scope = Scope(identity.tenant, identity.user)
        held_out = identity.cohort == "holdout"
        # A held-out user gets no profile either: it is learned, like their memories.
        personalization = self._personalization
        if held_out or not identity.personalization:
            personalization = None
        if held_out:
            retrieved, profile = _HELD_OUT, None
        else:
            retrieved, profile = await self._recall(scope, identity, chat, personalization)
        assembled = time.perf_counter()
        selection = await self._select(identity, chat, route, retrieved, personalization, profile)
        if personalization is not None and selection.dropped:
            await personalization.overflowed(scope, profile)
        self._metrics.upcoming_injected(sum(i.category == UPCOMING for i in selection.items))
        messages = inject(chat.messages, selection.block)
        self._report(route, None if held_out else retrieved, selection, started, assembled)
        headers = _headers(retrieved, selection)
        if held_out:
            headers = {**headers, "x-memory-status": "holdout"}
        memories = [item for item in selection.items if item.memory_id]
        return Prepared(
            messages=messages if selection.block else None,
            headers=headers,
            injected=tuple(item.content for item in memories),
            injected_ids=tuple(item.memory_id for item in memories if item.memory_id),
            block=selection.block,
        )

    async def preview(
        self, identity: Identity, chat: ChatRequest, route: Route
    ) -> tuple[Retrieved, Selection]:
        """What ``prepare`` would choose for ``chat`` now, and the hits it chose from; it
        counts nothing and starts nothing (no metrics, no summary), so looking changes nothing.
        The holdout is not applied: the preview shows what the memory would contribute."""
        assert identity.user is not None
        scope = Scope(identity.tenant, identity.user)
        personalization = self._personalization if identity.personalization else None
        retrieved, profile = await self._recall(scope, identity, chat, personalization)
        return retrieved, await self._select(
            identity, chat, route, retrieved, personalization, profile
        )

    async def _recall(
        self,
        scope: Scope,
        identity: Identity,
        chat: ChatRequest,
        personalization: Personalization | None,
    ) -> tuple[Retrieved, Profile | None]:
        """The user's memories for ``chat``, and their profile, read side by side."""
        if personalization is None:
            return await self._retrieve(identity, chat), None
        return await personalization.alongside(scope, self._retrieve(identity, chat))

    async def _retrieve(self, identity: Identity, chat: ChatRequest) -> Retrieved:
        assert identity.user is not None
        query = build_query(chat.messages)
        if not query:
            return Retrieved([], "empty", 0.0)
        scope = Scope(identity.tenant, identity.user)
        return await self._retriever.retrieve(scope, query, identity.retrieval_mode)

    async def _select(
        self,
        identity: Identity,
        chat: ChatRequest,
        route: Route,
        retrieved: Retrieved,
        personalization: Personalization | None = None,
        profile: Profile | None = None,
    ) -> Selection:
        tenant = self._tenant_items.get(identity.tenant, ())
        hits = retrieved.hits
        if not tenant and not hits and personalization is None:
            return _NOTHING
        counter = TokenCounter(route.upstream_model)
        budget = await request_budget(
            identity.budget_override, chat, route.context_window, counter, self._settings
        )
        room = int(budget * self._settings.profile_share)
        if personalization is not None:
            assert identity.user is not None
            scope = Scope(identity.tenant, identity.user)
            extra = await personalization.items(scope, profile, _within(room, counter))
            tenant += extra
            shown = {item.memory_id for item in extra if item.memory_id}
            if shown:
                hits = [hit for hit in hits if hit.memory.id not in shown]
        if not tenant and not hits:
            return _NOTHING
        # Ranked on their numbers alone; a hit becomes a Candidate only when the choice reaches
        # it, which for most of ~200 hits it never does.
        known = self._priorities
        priorities = [item.priority for item in tenant]
        priorities += [known.get(hit.memory.category, 0) for hit in hits]
        order = rank_order(
            priorities, [item.relevance for item in tenant] + [hit.score for hit in hits]
        )
        offset = len(tenant)
        ranked = (
            tenant[i] if i < offset else candidate(hits[i - offset], priorities[i]) for i in order
        )
        # The profile is ranked above every memory whatever the question: its share of the
        # budget is capped so that it cannot crowd out the memories the question needs.
        limits = {PROFILE: room}
        return select_ranked(ranked, len(order), budget, counter, self._settings.template, limits)

    def _report(
        self,
        route: Route,
        retrieved: Retrieved | None,
        selection: Selection,
        started: float,
        assembled: float,
    ) -> None:
        """``retrieved`` is None for the holdout, which retrieves nothing."""
        metrics = self._metrics
        if retrieved is None:
            metrics.retrieval("skipped", None)
        else:
            # A lexical fallback is counted apart: served with memories, but not fully ranked.
            outcome = "lexical" if retrieved.fallback else retrieved.outcome
            metrics.retrieval(outcome, retrieved.seconds)
        metrics.overhead("retrieval", assembled - started)
        metrics.overhead("assembly", time.perf_counter() - assembled)
        dropped = {"budget": selection.dropped}
        if selection.repeated:
            dropped["repeated"] = selection.repeated
        if retrieved is not None and retrieved.expired:
            dropped["expired"] = retrieved.expired
        metrics.context(selection.tokens, selection.budget, dropped)
        if selection.tokens:
            metrics.tokens(route.name, "context", selection.tokens)


def _headers(retrieved: Retrieved, selection: Selection) -> Mapping[str, str]:
    if retrieved.degraded:
        status = "degraded"
    elif any(item.memory_id for item in selection.items):
        status = "ok"
    else:
        status = "empty"
    headers = {
        "x-memory-status": status,
        "x-memory-items": str(len(selection.items)),
        "x-memory-tokens": str(selection.tokens),
        "x-memory-profile": "applied" if applied(selection.items) else "none",
    }
    if not retrieved.degraded:
        # How they were ranked: "lexical" when the query embedder was late or overloaded.
        headers["x-memory-mode"] = retrieved.mode
    if retrieved.degraded:
        # Why there are no memories: "timeout" (the deadline passed) or "error" (the store or
        # the embedder failed); the reason's details stay in the logs and metrics.
        headers["x-memory-degraded-reason"] = retrieved.outcome
    return headers


def candidate(hit: Hit, priority: int) -> Candidate:
    """A ranked memory as a candidate for the block."""
    memory = hit.memory
    return Candidate(
        memory.content, memory.category, priority, hit.score, memory.created_at.date(), memory.id
    )


def _within(room: int, counter: TokenCounter) -> Callable[[Sequence[str]], bool]:
    """Whether a section of these lines, heading included, takes at most ``room`` tokens."""

    def fits(lines: Sequence[str]) -> bool:
        return sum(counter.count_line(f"- {line}\n") for line in lines) + 4 <= room

    return fits
