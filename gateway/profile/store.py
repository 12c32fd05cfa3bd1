"""Where profiles are kept: one document per user in Chroma, beside the user's memories.

The document lives in the tenant's document collection under the user's scope digest, read
back only after the same two checks as a memory (Chroma filters by scope, and the record that
comes back must carry the scope's tag and id prefix). It is erased with the user's memories.

Reads are served from a small in-process cache, so a request pays for Chroma once per user;
every change goes to Chroma before the cache. With several worker processes a cached profile is
trusted for ``ttl_s`` at most, since another worker may have changed it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from gateway.profile.model import Profile, decode, encode
from gateway.store.records import Scope

KIND = "profile"
_LOCK_STRIPES = 64


class Documents(Protocol):
    """The durable side: ``ChromaBackend`` implements it. Synchronous; run on a thread."""

    def get_document(self, scope: Scope, kind: str) -> str | None: ...

    def put_document(self, scope: Scope, kind: str, text: str) -> None: ...

    def delete_documents(self, scope: Scope) -> None: ...


class ProfileStore:
    def __init__(
        self, documents: Documents, *, max_cached: int = 10_000, ttl_s: float | None = None
    ) -> None:
        self._documents = documents
        self._max_cached = max_cached
        self._ttl_s = ttl_s
        self._cache: OrderedDict[str, tuple[Profile, float]] = OrderedDict()
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]

    def cached(self, scope: Scope) -> Profile | None:
        """The user's profile if it is cached and current; no I/O."""
        cached = self._cache.get(scope.key)
        if cached is None or (
            self._ttl_s is not None and time.monotonic() - cached[1] > self._ttl_s
        ):
            return None
        self._cache.move_to_end(scope.key)
        return cached[0]

    async def get(self, scope: Scope) -> Profile:
        """The user's profile (empty when they have none); raises ``StoreUnavailable``."""
        cached = self.cached(scope)
        if cached is not None:
            return cached
        text = await asyncio.to_thread(self._documents.get_document, scope, KIND)
        profile = Profile() if text is None else decode(text)
        self._remember(scope, profile)
        return profile

    async def change(self, scope: Scope, change: Callable[[Profile], Profile]) -> Profile:
        """Apply ``change`` to the user's profile and store the result; one change at a time
        per user, so two exchanges learned at once both count."""
        async with self._lock(scope):
            self._cache.pop(scope.key, None)  # read the durable copy, not a stale cached one
            old = await self.get(scope)
            new = change(old)
            if new != old:
                await asyncio.to_thread(self._documents.put_document, scope, KIND, encode(new))
                self._remember(scope, new)
            return new

    async def erase(self, scope: Scope) -> None:
        async with self._lock(scope):
            self._cache.pop(scope.key, None)
            await asyncio.to_thread(self._documents.delete_documents, scope)
            self._cache.pop(scope.key, None)

    def _remember(self, scope: Scope, profile: Profile) -> None:
        self._cache[scope.key] = (profile, time.monotonic())
        self._cache.move_to_end(scope.key)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)

    def _lock(self, scope: Scope) -> asyncio.Lock:
        return self._locks[int(scope.key[:8], 16) % _LOCK_STRIPES]
