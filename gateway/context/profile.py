"""Stage 4c: the user's profile and their upcoming memories, as injectable items.

The profile becomes the ``## profile`` section: directive sentences (``gateway.profile.render``)
ranked with the compliance rules' priority, after them, so the section sits after compliance
and before everything else and is budgeted like any other item. Memories due within
``context.upcoming_days`` become the ``## upcoming`` section, right after it.

Loading the profile never fails a request: a store that cannot answer in time means no profile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any, Final, TypeVar

from gateway.config import GatewayConfig
from gateway.context.budget import Candidate
from gateway.errors import GatewayError
from gateway.profile.model import Profile
from gateway.profile.render import Organization, directives
from gateway.profile.store import ProfileStore
from gateway.profile.summary import SummaryWriter
from gateway.profile.upcoming import DueSoon, today
from gateway.store.index import UserIndex
from gateway.store.records import Scope
from gateway.store.store import MemoryStore

T = TypeVar("T")
PROFILE: Final = "profile"
UPCOMING: Final = "upcoming"
log = logging.getLogger(__name__)


class Personalization:
    def __init__(
        self,
        config: GatewayConfig,
        profiles: ProfileStore,
        memories: MemoryStore,
        summaries: SummaryWriter,
    ) -> None:
        self._settings = config.personalization
        self._upcoming_days = config.context.upcoming_days
        self._timeout_s = config.memory.retrieval.timeout_ms / 1000
        self._profiles = profiles
        self._memories = memories
        self._summaries = summaries
        self._due = DueSoon()
        categories = config.memory.categories
        self._priority = categories.get("compliance", max(categories.values(), default=0))
        self._organizations: Mapping[str, Organization] = {
            tenant: Organization(settings.context.tone, bool(settings.context.compliance))
            for tenant, settings in config.tenants.items()
        }

    async def alongside(
        self, scope: Scope, search: Coroutine[Any, Any, T]
    ) -> tuple[T, Profile | None]:
        """``search``'s result and the user's profile (None when personalization is off). A
        cached profile costs no I/O; otherwise it is read while the memories are searched."""
        if not self._settings.profile:
            return await search, None
        profile = self._profiles.cached(scope)
        if profile is not None:
            return await search, self._fresh(profile)
        found, loaded = await asyncio.gather(search, self._load(scope))
        return found, loaded

    async def _load(self, scope: Scope) -> Profile | None:
        """The user's profile, or None when the store cannot answer within the deadline."""
        try:
            profile = await asyncio.wait_for(self._profiles.get(scope), self._timeout_s)
        except (GatewayError, TimeoutError) as exc:
            log.warning("profile unavailable (%s); answering without it", type(exc).__name__)
            return None
        return self._fresh(profile)

    def _fresh(self, profile: Profile) -> Profile:
        return profile.fresh(time.time(), self._settings.stale_after_days * 86400)

    async def items(self, scope: Scope, profile: Profile | None) -> tuple[Candidate, ...]:
        """The profile's directives, then the upcoming memories, as candidates."""
        items: list[Candidate] = []
        if profile is not None:
            organization = self._organizations.get(scope.tenant, Organization())
            lines = directives(profile, organization, self._settings)
            items += [self._item(PROFILE, line, rank) for rank, line in enumerate(lines)]
        if self._upcoming_days:
            index = await self._cached(scope)
            if index is not None:
                due = self._due.within(scope.key, index, today(), self._upcoming_days)
                items += [self._item(UPCOMING, m.content, rank, m.id) for rank, m in enumerate(due)]
        return tuple(items)

    async def overflowed(self, scope: Scope, profile: Profile | None) -> None:
        """The request had to leave relevant memories out: a summary may be due."""
        if profile is None:
            return
        index = await self._cached(scope)
        if index is not None:
            self._summaries.consider(scope, profile, len(index))

    async def _cached(self, scope: Scope) -> UserIndex | None:
        """The user's loaded index, or None when the store cannot say whether it is current
        (another host's writes are checked in the store): these items are extras, and a chat
        never fails for the store's sake."""
        try:
            return await self._memories.cached(scope)
        except GatewayError as exc:
            log.warning(
                "memories unavailable (%s); answering without upcoming ones", type(exc).__name__
            )
            return None

    def _item(self, category: str, text: str, rank: int, memory_id: str | None = None) -> Candidate:
        # Below the compliance rules (relevance 1.0) at the same priority, in their given order.
        return Candidate(text, category, self._priority, 0.99 - rank * 1e-4, memory_id=memory_id)


def applied(items: tuple[Candidate, ...]) -> bool:
    return any(item.category == PROFILE and item.memory_id is None for item in items)
