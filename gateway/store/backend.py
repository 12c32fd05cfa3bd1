"""The durable copy of every memory, as ``MemoryStore`` sees it: one small interface.

``ChromaBackend`` (``gateway.store.chroma``) is the implementation the gateway ships; a test or
another database can stand in for it without patching. Every method is synchronous and is called
on the store's worker threads; each raises ``StoreUnavailable`` when the database cannot be
reached, and ``IsolationViolation`` when it answers with a record of another scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from gateway.store.records import Scope


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One memory as the database keeps it: its text, its metadata and its vector."""

    id: str
    document: str
    metadata: Mapping[str, Any]
    embedding: npt.NDArray[np.float32] | None


@dataclass(frozen=True, slots=True)
class UserEntry:
    """One user in the store's directory of users: who, and when their memories last changed."""

    tenant: str
    user: str
    #: Epoch seconds.
    last_write: float


class Backend(Protocol):
    """Where memories are written on every change and read to (re)build a user's index."""

    def close(self) -> None: ...

    def heartbeat(self) -> None:
        """Return once the database answers; raise ``StoreUnavailable`` otherwise."""

    def put(self, scope: Scope, records: Sequence[StoredRecord]) -> None: ...

    def replace(self, scope: Scope, record: StoredRecord) -> None: ...

    def update_metadata(
        self, scope: Scope, memory_id: str, metadata: Mapping[str, Any]
    ) -> None: ...

    def delete(self, scope: Scope, ids: Sequence[str]) -> None: ...

    def erase(self, scope: Scope) -> None: ...

    def fetch(self, scope: Scope) -> list[StoredRecord]:
        """Every record of ``scope``, and none of any other."""

    def identity(self) -> str:
        """The database's id, made when it was first used and kept in it: a wiped database,
        or another one, answers with another id."""

    def note_user(self, scope: Scope, at: float) -> None:
        """Record in the directory of users that ``scope``'s memories changed at ``at``."""

    def forget_user(self, scope: Scope) -> None:
        """Remove ``scope`` from the directory (an erase): its id is no longer kept."""

    def users(self, tenant: str) -> list[UserEntry]:
        """Every user of ``tenant`` in the directory, in no particular order."""

    def tenants(self) -> dict[str, int]:
        """Every tenant in the directory, with its number of users."""

    def purge(self) -> None:
        """Remove what the database still keeps of deleted records (logs, free pages), where
        this gateway may; return once it is gone."""
