"""Keeping the indexes of several hosts coherent: generation records in the Chroma server.

Each host serves a user's memories from its own in-process index, and trusts that index while
its generation equals the user's generation record (see ``gateway.store.store``). With an
embedded store, that record is a row in a local SQLite file (``Generations`` in
``gateway.store.snapshots``). With a ``chroma run`` server, every host must see it, so it lives
in the server itself: one small collection per tenant, one record per user, whose id is the
user's scope digest and whose metadata holds the generation. The record carries neither a user
id nor any memory text.

Chroma has no atomic increment, so a bump writes a fresh random 62-bit value instead of adding
one: what the store needs from a generation is only that it differs from every value a reader
may hold from before the write. Two hosts writing one user at the same moment are caught by the
store re-reading the record before its closing bump (``MemoryStore._write``).

How fresh a host's view is, is ``memory.cache.max_staleness_ms``: a host re-reads a user's
record at most that often, and an erase waits that long before it returns, so once an erase has
returned on any host, no host serves the user's old index again. docs/operations.md has the
measured cost of a check.

An erase also leaves an erasure record (``<scope digest>:erased``, the time it began): a job that
another host's journal accepted for the user before the erase is dropped when it finds one, as
the host's own journal already does for erasures it saw itself.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from typing import Any, Protocol

from gateway.errors import StoreUnavailable
from gateway.store.chroma import ChromaBackend
from gateway.store.records import Scope

#: Chroma wants a vector with every record; generation records are found by id only.
_NO_VECTOR = [[0.0]]


class GenerationLog(Protocol):
    """A counter per scope, bumped around every write to the store (before and after)."""

    def current(self, scope: Scope) -> int: ...

    def bump(self, scope: Scope) -> int: ...

    def adopt(self, store_id: str) -> bool:
        """Make the counters those of the store ``store_id``; True if any were dropped."""
        ...

    def close(self) -> None: ...


def _erasure_id(scope: Scope) -> str:
    return f"{scope.key}:erased"


def generations_collection(tenant: str) -> str:
    """The name of the tenant's collection of generation records."""
    return "gen-" + hashlib.sha256(tenant.encode()).hexdigest()[:40]


class SharedGenerations:
    """Generation records kept in the Chroma server that every host writes to."""

    def __init__(self, backend: ChromaBackend) -> None:
        self._backend = backend
        self._lock = threading.Lock()
        self._collections: dict[str, Any] = {}

    def current(self, scope: Scope) -> int:
        """The scope's generation as the server has it now (0: never written)."""
        found = self._call(
            scope, lambda c: c.get(ids=[scope.key], include=["metadatas"])["metadatas"]
        )
        if not found or not found[0]:
            return 0
        return int(found[0]["seq"])

    def bump(self, scope: Scope) -> int:
        """Give the scope a generation no host has seen before, and return it."""
        value = secrets.randbits(62) + 1
        self._call(
            scope,
            lambda c: c.upsert(ids=[scope.key], embeddings=_NO_VECTOR, metadatas=[{"seq": value}]),
        )
        return value

    def adopt(self, store_id: str) -> bool:
        """Records kept in the store itself always belong to it: nothing to drop."""
        return False

    def record_erasure(self, scope: Scope, at: float) -> None:
        """Note that the user's data is being erased at ``at`` (epoch seconds), for hosts whose
        journals still hold jobs of theirs from before."""
        self._call(
            scope,
            lambda c: c.upsert(
                ids=[_erasure_id(scope)], embeddings=_NO_VECTOR, metadatas=[{"at": at}]
            ),
        )

    def erased_since(self, scope: Scope, moment: float) -> bool:
        """Whether the user's data was erased at or after ``moment`` (epoch seconds)."""
        found = self._call(
            scope, lambda c: c.get(ids=[_erasure_id(scope)], include=["metadatas"])["metadatas"]
        )
        return bool(found and found[0] and float(found[0]["at"]) >= moment)

    def close(self) -> None:
        """Nothing to release: the connection is the backend's."""

    def _call(self, scope: Scope, operation: Any) -> Any:
        try:
            return operation(self._collection(scope.tenant))
        except StoreUnavailable:
            raise
        except Exception as exc:
            # A collection handle may outlive a server that lost it; look it up afresh next time.
            with self._lock:
                self._collections.pop(scope.tenant, None)
            raise StoreUnavailable(
                f"The memory store is unavailable ({type(exc).__name__})."
            ) from exc

    def _collection(self, tenant: str) -> Any:
        with self._lock:
            collection = self._collections.get(tenant)
        if collection is None:
            collection = self._backend.named_collection(generations_collection(tenant))
            with self._lock:
                self._collections[tenant] = collection
        return collection
