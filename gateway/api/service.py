"""What can be done to a user's memories and profile, by whoever asks: the HTTP API, the UI and
the MCP endpoint all call ``MemoryService``, so the role check and the audit record happen here
once, whatever the door.

Every method takes the ``Caller`` (``gateway.api.access.authorize``) and checks its role again
(``permit``); every write is recorded in the audit trail after it is made, with the caller's key
name, tenant and door (``via``), a digest of the user id and the memory id, never content. A
failed write records nothing. Reads are not recorded, except an export, which hands out
everything the gateway keeps about a user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import numpy as np

from gateway.api.access import Action as Permission
from gateway.api.access import Caller, permit
from gateway.api.fields import MemoryChanges, ProfileChanges
from gateway.audit import Action, AuditPage, AuditQuery, AuditTrail
from gateway.config import GatewayConfig, RetrievalConfig
from gateway.context.budget import Candidate, render_item
from gateway.context.service import MemoryServices
from gateway.context.stage import candidate
from gateway.errors import InvalidRequest, PermissionDenied, StoreUnavailable
from gateway.profile.model import FIELDS, FieldState, Profile
from gateway.store.index import Hit
from gateway.store.ranking import Mode, recency
from gateway.store.records import Memory, Scope, Status, iso, utcnow
from gateway.store.store import NewMemory
from gateway.tokens import TokenCounter
from gateway.types import ChatRequest, Identity
from gateway.upstream.routes import ModelRegistry

T = TypeVar("T")
MAX_PAGE = 1000
STATUSES: tuple[Status, ...] = ("active", "superseded", "pending")


@dataclass(frozen=True, slots=True)
class Paged:
    """Where a page sits in the whole list."""

    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + self.limit
        return end if end < self.total else None


@dataclass(frozen=True, slots=True)
class MemoryPage(Paged):
    memories: list[Memory]


@dataclass(frozen=True, slots=True)
class PreviewItem:
    """One candidate for the block, and why it ranks where it does."""

    #: None for what is not a stored memory (the tenant's context, profile directives).
    memory_id: str | None
    category: str
    content: str
    #: Whether it is in the block (else the budget left it out).
    injected: bool
    #: The tokens its line costs in the block.
    tokens: int
    #: The category's priority (``memory.categories``): the first sort key.
    priority: int
    #: The final score: the second sort key.
    score: float
    #: Cosine similarity to the message (None when not ranked on it, or not a memory).
    dense: float | None
    #: BM25 of the message's words, normalised (None when not a memory).
    lexical: float | None
    #: The recency weight the fused score was multiplied by (None when not a memory).
    recency: float | None
    #: How many observations support the memory (None when not a memory).
    evidence: int | None


@dataclass(frozen=True, slots=True)
class Preview:
    """What the chat path would inject for the user now, given one message."""

    block: str
    tokens: int
    budget: int
    #: Every candidate in rank order: the injected ones, then those the budget left out.
    items: tuple[PreviewItem, ...]
    #: How the memories were ranked (``hybrid``, ``dense``, ``lexical``).
    mode: str
    #: ``hit``, ``empty``, ``timeout`` or ``error`` (as ``X-Memory-Status`` would say).
    outcome: str
    #: The model whose tokenizer and context window the budget was counted for.
    model: str


@dataclass(frozen=True, slots=True)
class UserSummary:
    user_id: str
    #: Memories by status: active, superseded, pending.
    memories: dict[str, int]
    #: When a memory of the user was last observed or confirmed (None: no memories).
    last_seen: datetime | None
    #: When the user's memories last changed (the directory of users keeps it).
    last_write: datetime
    #: Profile fields with a value, and the share of all fields that is.
    profile_fields: int
    profile_completeness: float

    def public(self) -> dict[str, Any]:
        return {
            "object": "user",
            "user_id": self.user_id,
            "memories": self.memories,
            "last_seen": _iso(self.last_seen),
            "last_write": _iso(self.last_write),
            "profile_fields": self.profile_fields,
            "profile_completeness": round(self.profile_completeness, 3),
        }


@dataclass(frozen=True, slots=True)
class UserPage(Paged):
    users: list[UserSummary]


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant: str
    #: Whether a key of the config names it (else it is only found in the store).
    configured: bool
    users: int

    def public(self) -> dict[str, Any]:
        return {
            "object": "tenant",
            "tenant": self.tenant,
            "configured": self.configured,
            "users": self.users,
        }


class MemoryService:
    def __init__(
        self,
        config: GatewayConfig,
        memory: MemoryServices,
        audit: AuditTrail,
        registry: ModelRegistry,
    ) -> None:
        self._config = config
        self._memory = memory
        self._store = memory.store
        self._audit = audit
        self._registry = registry
        self._timeout_s = config.memory.api.timeout_s
        self._categories = config.memory.categories

    @property
    def categories(self) -> dict[str, int]:
        return dict(self._categories)

    # -- reading ---------------------------------------------------------------------------

    async def list_memories(
        self,
        caller: Caller,
        user_id: str,
        *,
        status: Status | None = "active",
        limit: int = 100,
        offset: int = 0,
    ) -> MemoryPage:
        """Newest first; ``status`` None lists every status."""
        scope = self._scope(caller, user_id, "read")
        stored = await self._in_time(self._store.all(scope))
        memories = [m for m in reversed(stored) if status is None or m.status == status]
        return MemoryPage(len(memories), offset, limit, memories[offset : offset + limit])

    async def get(self, caller: Caller, user_id: str, memory_id: str) -> Memory:
        scope = self._scope(caller, user_id, "read")
        return await self._in_time(self._store.get(scope, memory_id))

    async def search(
        self, caller: Caller, user_id: str, query: str, *, mode: Mode = "hybrid", limit: int = 10
    ) -> list[Hit]:
        scope = self._scope(caller, user_id, "read")
        return await self._in_time(
            self._memory.retriever.search(scope, query, mode=mode, limit=limit)
        )

    async def export(self, caller: Caller, user_id: str) -> dict[str, Any]:
        """Everything kept about the user: memories of every status and the profile."""
        scope = self._scope(caller, user_id, "read")
        memories = await self._in_time(self._store.all(scope))
        profile = await self._in_time(self._memory.profiles.get(scope))
        await self._record(caller, scope, "memory.export", count=len(memories))
        return {
            "object": "user.memories.export",
            "user_id": scope.user,
            "exported_at": iso(utcnow()),
            "memories": [m.public() for m in memories],
            "profile": profile.export(scope.user),
        }

    async def preview(
        self, caller: Caller, user_id: str, message: str, *, model: str | None = None
    ) -> Preview:
        """The block the chat path would inject now for ``message`` from the user, with every
        candidate's score broken down. Looks only: nothing is learned or recorded."""
        scope = self._scope(caller, user_id, "read")
        if not message.strip():
            raise InvalidRequest("Invalid 'message': expected a non-empty string.", param="message")
        route = self._registry.get(model or self._default_model())
        chat = ChatRequest(
            body={"model": route.name, "messages": [{"role": "user", "content": message}]},
            model=route.name,
            messages=[{"role": "user", "content": message}],
            stream=False,
            include_usage=False,
            user=scope.user,
        )
        identity = Identity(scope.tenant, scope.user, "read-only")
        retrieved, selection = await self._memory.context.preview(identity, chat, route)
        counter = TokenCounter(route.upstream_model)
        hits = {hit.memory.id: hit for hit in retrieved.hits}
        chosen = {item.memory_id for item in selection.items if item.memory_id}
        params = self._config.memory.retrieval.model_copy(update={"mode": retrieved.mode})
        explain = partial(self._explained, counter=counter, params=params, now=time.time())
        items = [explain(item, hits.get(item.memory_id or ""), True) for item in selection.items]
        # The rest in the order the budget met them: priority, then score.
        left_out = sorted(
            (hit for hit in retrieved.hits if hit.memory.id not in chosen),
            key=lambda hit: (-self._categories.get(hit.memory.category, 0), -hit.score),
        )
        items += [
            explain(candidate(hit, self._categories.get(hit.memory.category, 0)), hit, False)
            for hit in left_out
        ]
        return Preview(
            block=selection.block,
            tokens=selection.tokens,
            budget=selection.budget,
            items=tuple(items),
            mode=retrieved.mode,
            outcome=retrieved.outcome,
            model=route.name,
        )

    def _explained(
        self,
        item: Candidate,
        hit: Hit | None,
        injected: bool,
        *,
        counter: TokenCounter,
        params: RetrievalConfig,
        now: float,
    ) -> PreviewItem:
        weight = None
        if hit is not None:
            seen = np.asarray([hit.memory.seen_at.timestamp()], dtype=np.float32)
            value = recency(seen, now, params)
            weight = float(value if isinstance(value, float) else value[0])
        return PreviewItem(
            memory_id=item.memory_id,
            category=item.category,
            content=item.content,
            injected=injected,
            tokens=counter.count_line(render_item(item)),
            priority=item.priority,
            score=round(float(item.relevance), 6),
            dense=None if hit is None else round(hit.dense, 6),
            lexical=None if hit is None else round(hit.lexical, 6),
            recency=None if weight is None else round(weight, 6),
            evidence=None if hit is None else hit.memory.evidence,
        )

    def _default_model(self) -> str:
        default = self._config.routing.default_model
        return default if default is not None else self._registry.names()[0]

    # -- writing ---------------------------------------------------------------------------

    async def add(self, caller: Caller, user_id: str, new: Sequence[NewMemory]) -> list[Memory]:
        scope = self._scope(caller, user_id, "write")
        # Embedding 1,000 memories takes seconds of CPU (~5.5 s here): it is not the store's
        # answer the deadline waits for, so it comes first.
        vectors = await self._store.embed(new)
        stored = await self._in_time(self._store.add(scope, new, vectors))
        if len(stored) == 1:
            await self._record(caller, scope, "memory.add", memory_id=stored[0].id)
        else:
            await self._record(caller, scope, "memory.add", count=len(stored))
        return stored

    async def patch(
        self, caller: Caller, user_id: str, memory_id: str, changes: MemoryChanges
    ) -> Memory:
        scope = self._scope(caller, user_id, "write")
        given = changes.given()
        if not given:
            raise InvalidRequest(
                "Nothing to change: send content, category, metadata or created_at."
            )
        updated = await self._in_time(
            self._store.update(scope, memory_id, lambda m: replace(m, **given))
        )
        await self._record(caller, scope, "memory.patch", memory_id=memory_id)
        return updated

    async def delete(self, caller: Caller, user_id: str, memory_id: str) -> None:
        scope = self._scope(caller, user_id, "write")
        await self._in_time(self._store.delete(scope, memory_id))
        await self._record(caller, scope, "memory.delete", memory_id=memory_id)

    async def erase(self, caller: Caller, user_id: str) -> int:
        """Every memory of the user, and their profile; the audit trail keeps this erasure's
        record (and the earlier ones, which hold no content)."""
        scope = self._scope(caller, user_id, "write")
        count = await self._in_time(self._store.erase(scope))
        await self._in_time(self._memory.profiles.erase(scope))
        await self._record(caller, scope, "memory.erase", count=count)
        return count

    # -- the profile -----------------------------------------------------------------------

    async def profile(self, caller: Caller, user_id: str) -> Profile:
        scope = self._scope(caller, user_id, "read")
        return await self._in_time(self._memory.profiles.get(scope))

    async def set_profile(
        self, caller: Caller, user_id: str, changes: ProfileChanges, *, replace_set: bool = False
    ) -> Profile:
        """Set fields (``source: set``, which inference never overwrites); a None clears one.
        ``replace_set``: the fields set before and not named are cleared too (``PUT``)."""
        scope = self._scope(caller, user_id, "write")
        now = time.time()

        def change(profile: Profile) -> Profile:
            if replace_set:
                for name, state in profile.fields.items():
                    if state.source == "set" and name not in changes:
                        profile = profile.with_field(name, None)
            for name, value in changes.items():
                field = None if value is None else FieldState(value, "set", 1, now)
                profile = profile.with_field(name, field)
            return profile

        profile = await self._in_time(self._memory.profiles.change(scope, change))
        await self._record(caller, scope, "profile.set", count=len(changes))
        return profile

    async def clear_profile(self, caller: Caller, user_id: str) -> None:
        scope = self._scope(caller, user_id, "write")
        await self._in_time(self._memory.profiles.change(scope, lambda _: Profile()))
        await self._record(caller, scope, "profile.clear")

    # -- users, tenants and the audit trail -------------------------------------------------

    async def users(
        self, caller: Caller, *, query: str | None = None, limit: int = 100, offset: int = 0
    ) -> UserPage:
        """The users of the caller's tenant (an admin's: the one it named), sorted by id;
        ``query`` keeps those whose id contains it (case-insensitive)."""
        permit(caller, "read")
        tenant = caller.acting_tenant()
        entries = await self._in_time(self._store.users(tenant))
        if query:
            needle = query.casefold()
            entries = [e for e in entries if needle in e.user.casefold()]
        page = entries[offset : offset + limit]
        summaries = await asyncio.gather(
            *(self._summary(Scope(tenant, e.user), e.last_write) for e in page)
        )
        return UserPage(len(entries), offset, limit, list(summaries))

    async def _summary(self, scope: Scope, last_write: float) -> UserSummary:
        memories = await self._in_time(self._store.all(scope))
        profile = await self._in_time(self._memory.profiles.get(scope))
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for memory in memories:
            counts[memory.status] = counts.get(memory.status, 0) + 1
        seen = max((m.seen_at for m in memories), default=None)
        filled = sum(1 for name in FIELDS if name in profile.fields)
        return UserSummary(
            scope.user,
            counts,
            seen,
            datetime.fromtimestamp(last_write, UTC),
            filled,
            filled / len(FIELDS) if FIELDS else 0.0,
        )

    async def tenants(self, caller: Caller) -> list[TenantSummary]:
        """Every tenant: those the config's keys name and those found in the store."""
        permit(caller, "admin")
        found = await self._in_time(self._store.tenants())
        configured = {key.tenant for key in self._config.auth.keys}
        names = sorted(configured | set(found))
        return [TenantSummary(name, name in configured, found.get(name, 0)) for name in names]

    async def audit(self, caller: Caller, query: AuditQuery) -> AuditPage:
        """A page of the audit trail: an admin's of every tenant (or the one named), a
        read-only key's of its own tenant only."""
        permit(caller, "audit")
        if caller.role != "admin":
            if query.tenant not in (None, caller.tenant):
                raise PermissionDenied(f"A {caller.role} key reads its own tenant's trail only.")
            query = replace(query, tenant=caller.tenant)
        elif query.tenant is None and caller.tenant is not None:
            query = replace(query, tenant=caller.tenant)
        if query.user_id is not None and query.tenant is None:
            raise InvalidRequest(
                "Invalid 'user_id': name the tenant too (tenant or X-Tenant-Id).", param="tenant"
            )
        return await self._audit.page(query)

    # -- helpers ---------------------------------------------------------------------------

    def _scope(self, caller: Caller, user_id: str, action: Permission) -> Scope:
        permit(caller, action)
        return caller.scope(user_id)

    async def _record(
        self,
        caller: Caller,
        scope: Scope,
        action: Action,
        *,
        memory_id: str | None = None,
        count: int | None = None,
    ) -> None:
        await self._audit.write(
            key_name=caller.key_name,
            tenant=scope.tenant,
            user_id=scope.user,
            action=action,
            via=caller.via,
            memory_id=memory_id,
            count=count,
        )

    async def _in_time(self, call: Awaitable[T]) -> T:
        """``call``'s result, or ``StoreUnavailable`` once the deadline has passed: a hung
        store must not hang the API. Abandoning the call releases the user's lock."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await call
        except TimeoutError:
            raise StoreUnavailable(
                f"The memory store did not answer within {self._timeout_s:g} s."
            ) from None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


__all__ = [
    "MAX_PAGE",
    "MemoryPage",
    "MemoryService",
    "Preview",
    "PreviewItem",
    "TenantSummary",
    "UserPage",
    "UserSummary",
]
