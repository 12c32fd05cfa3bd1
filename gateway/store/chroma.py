"""The durable store: Chroma, embedded on disk or a ``chroma run`` server (the ``Backend``).

Layout, chosen by measurement (see docs/memory.md): one collection per tenant,
every record tagged with its scope digest and stored under ``<scope digest>:<memory id>``. Chroma
is the system of record and is written on every change; it is read only to (re)build a user's
in-process index, never on the request path.

Ids are unique per collection, so the digest prefix gives every user an id space of their own:
without it, a caller-chosen id that another user of the tenant already has would make Chroma drop
the write, and a later update of that id would rewrite (and re-tag) the other user's record.

Isolation fails closed twice over: reads filter by scope in Chroma, and every record that comes
back is checked against the scope asked for (tag and id prefix); a mismatch raises
``IsolationViolation`` and nothing is returned.

chromadb's client is synchronous; callers run these methods on the store's worker threads.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import numpy.typing as npt

from gateway.errors import GatewayError, IsolationViolation, StoreUnavailable
from gateway.store.backend import StoredRecord, UserEntry
from gateway.store.child import vacuum
from gateway.store.records import Scope

_PAGE = 5000
#: Chroma purges a log entry only once its vector index has been saved past it, which by
#: default happens every 1,000 records: an erased user's texts stayed in the log until then.
#: At 2 the index is saved on every write (~+15 ms a write in Chroma at 20,000 memories).
SYNC_THRESHOLD = 2
_COLLECTION_METADATA = {"hnsw:space": "cosine", "hnsw:sync_threshold": SYNC_THRESHOLD}
#: The collection that holds the store's id (metadata only, no records).
IDENTITY_COLLECTION = "gateway-store-identity"
#: The directory of users (``GET /v1/users``): one record per user who has memories, keyed by
#: the scope's digest; the only place the store keeps a user id itself, dropped on erase.
USERS_COLLECTION = "gateway-users"


def collection_name(tenant: str) -> str:
    return "mem-" + hashlib.sha256(tenant.encode()).hexdigest()[:40]


def documents_name(tenant: str) -> str:
    """The tenant's collection of per-user documents (profiles), apart from the memories so a
    user's index never loads them."""
    return "doc-" + hashlib.sha256(tenant.encode()).hexdigest()[:40]


class ChromaBackend:
    """Chroma behind the handful of operations the memory store needs."""

    def __init__(
        self, *, path: Path | None = None, url: str | None = None, owned: Path | None = None
    ) -> None:
        """``owned``: the store's files, when this gateway runs the store (embedded, or as its
        child), so ``purge`` may vacuum them."""
        self._path = path
        self._url = url
        self._owned = owned
        self._lock = threading.Lock()
        self._connected: Any = None
        self._collections: dict[str, Any] = {}

    @property
    def _client(self) -> Any:
        """Connect on first use and again after a failure: a store that is down at startup
        must not keep the gateway from serving (requests go on without memories)."""
        with self._lock:
            if self._connected is None:
                self._connected = self._connect()
            return self._connected

    def _connect(self) -> Any:
        import chromadb  # deferred: ~1 s, and only a gateway with memory on needs it
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        try:
            if self._url:
                parsed = urlparse(self._url)
                return chromadb.HttpClient(
                    host=parsed.hostname or "localhost",
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=settings,
                )
            assert self._path is not None
            self._path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self._path), settings=settings)
        except Exception as exc:
            raise _unavailable(exc) from exc

    def connect(self) -> None:
        """Open the client now (at startup), so the first request does not pay for it."""
        with _translated():
            self._client  # noqa: B018

    def close(self) -> None:
        """Release the client (its HTTP connections, or the embedded store's files)."""
        with self._lock:
            client, self._connected = self._connected, None
            self._collections.clear()
        if client is not None:
            with _translated():
                client.close()
                _close_http_sessions(client)

    def _collection(self, tenant: str, name: str | None = None) -> Any:
        name = name or collection_name(tenant)
        collection = self._collections.get(name)
        if collection is None:
            collection = self._client.get_or_create_collection(
                name, embedding_function=None, metadata=dict(_COLLECTION_METADATA)
            )
            hnsw = (collection.configuration or {}).get("hnsw") or {}
            if hnsw.get("sync_threshold") != SYNC_THRESHOLD:
                # A collection made before: takes effect when Chroma next opens it.
                collection.modify(configuration={"hnsw": {"sync_threshold": SYNC_THRESHOLD}})
            self._collections[name] = collection
        return collection

    def named_collection(self, name: str) -> Any:
        """A collection of the gateway's own records beside the memories (e.g. the
        generation records of ``gateway.store.coherence``), created on first use."""
        with _translated():
            return self._client.get_or_create_collection(name, embedding_function=None)

    def identity(self) -> str:
        """The store's id, written into Chroma when it was first used by a gateway: a store
        that was wiped (or another store) has another."""
        with _translated():
            # An existing collection keeps its metadata: the first id written stays the id.
            collection = self._client.get_or_create_collection(
                IDENTITY_COLLECTION, metadata={"store_id": uuid.uuid4().hex}
            )
            store_id = (collection.metadata or {}).get("store_id")
        if not isinstance(store_id, str) or not store_id:
            raise StoreUnavailable("The memory store's identity record is unreadable.")
        return store_id

    def purge(self) -> None:
        """Remove every trace of deleted records from a store this gateway runs (Chroma's log
        and the SQLite file's free pages). For a store server run by someone else this is the
        operator's to configure (docs/learning.md, Erasing a user's data)."""
        if self._owned is not None:
            vacuum(self._owned)

    def note_user(self, scope: Scope, at: float) -> None:
        with _translated():
            self._users().upsert(
                ids=[scope.key],
                documents=[scope.user],
                metadatas=[{"tenant": scope.tenant, "user": scope.user, "last_write": at}],
                # Chroma wants a vector for every record; the directory is never searched by one.
                embeddings=np.ones((1, 1), dtype=np.float32),
            )

    def forget_user(self, scope: Scope) -> None:
        with _translated():
            self._users().delete(ids=[scope.key])

    def users(self, tenant: str) -> list[UserEntry]:
        return [e for e in self._directory({"tenant": tenant}) if e.tenant == tenant]

    def tenants(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self._directory(None):
            counts[entry.tenant] = counts.get(entry.tenant, 0) + 1
        return counts

    def _users(self) -> Any:
        name = USERS_COLLECTION
        collection = self._collections.get(name)
        if collection is None:
            collection = self._client.get_or_create_collection(name, embedding_function=None)
            self._collections[name] = collection
        return collection

    def _directory(self, where: dict[str, Any] | None) -> Iterator[UserEntry]:
        """The directory's entries (metadata only: no documents, no vectors), page by page."""
        offset = 0
        while True:
            with _translated():
                page = self._users().get(
                    where=where, include=["metadatas"], limit=_PAGE, offset=offset
                )
            for metadata in page["metadatas"]:
                yield UserEntry(
                    str(metadata["tenant"]), str(metadata["user"]), float(metadata["last_write"])
                )
            if len(page["ids"]) < _PAGE:
                return
            offset += _PAGE

    def heartbeat(self) -> None:
        with _translated():
            self._client.heartbeat()

    def put(self, scope: Scope, records: Sequence[StoredRecord]) -> None:
        if not records:
            return
        with _translated():
            collection = self._collection(scope.tenant)
            for start in range(0, len(records), _PAGE):
                batch = records[start : start + _PAGE]
                collection.add(
                    ids=[_stored_id(scope, r.id) for r in batch],
                    documents=[r.document for r in batch],
                    metadatas=[_tagged(scope, r.metadata) for r in batch],
                    embeddings=np.stack([_vector(r) for r in batch]),
                )

    def replace(self, scope: Scope, record: StoredRecord) -> None:
        """Overwrite one record (content, metadata and embedding)."""
        with _translated():
            self._collection(scope.tenant).update(
                ids=[_stored_id(scope, record.id)],
                documents=[record.document],
                metadatas=[_tagged(scope, record.metadata)],
                embeddings=np.stack([_vector(record)]),
            )

    def update_metadata(self, scope: Scope, memory_id: str, metadata: Mapping[str, Any]) -> None:
        with _translated():
            self._collection(scope.tenant).update(
                ids=[_stored_id(scope, memory_id)], metadatas=[_tagged(scope, metadata)]
            )

    def delete(self, scope: Scope, ids: Sequence[str]) -> None:
        if not ids:
            return
        with _translated():
            self._collection(scope.tenant).delete(
                ids=[_stored_id(scope, i) for i in ids], where={"scope": scope.key}
            )

    def erase(self, scope: Scope) -> None:
        with _translated():
            self._collection(scope.tenant).delete(where={"scope": scope.key})

    def fetch(self, scope: Scope) -> list[StoredRecord]:
        """Every record of ``scope``, checked to belong to it."""
        with _translated():
            return [_checked(scope, r) for r in self._pages(scope)]

    # -- per-user documents (the profile) -------------------------------------------------

    def get_document(self, scope: Scope, kind: str) -> str | None:
        """The user's document of ``kind``, checked to belong to them; None if there is none."""
        with _translated():
            page = self._documents(scope).get(
                ids=[_stored_id(scope, kind)],
                where={"scope": scope.key},
                include=["documents", "metadatas"],
            )
        if not page["ids"]:
            return None
        record = StoredRecord(page["ids"][0], page["documents"][0], page["metadatas"][0], None)
        text: str = _checked(scope, record).document
        return text

    def put_document(self, scope: Scope, kind: str, text: str) -> None:
        with _translated():
            self._documents(scope).upsert(
                ids=[_stored_id(scope, kind)],
                documents=[text],
                metadatas=[_tagged(scope, {"kind": kind})],
                # Chroma wants a vector for every record; a document is never searched.
                embeddings=np.ones((1, 1), dtype=np.float32),
            )

    def delete_documents(self, scope: Scope) -> None:
        with _translated():
            self._documents(scope).delete(where={"scope": scope.key})

    def _documents(self, scope: Scope) -> Any:
        return self._collection(scope.tenant, documents_name(scope.tenant))

    def _pages(self, scope: Scope) -> Iterator[StoredRecord]:
        collection = self._collection(scope.tenant)
        offset = 0
        while True:
            page = collection.get(
                where={"scope": scope.key},
                include=["documents", "metadatas", "embeddings"],
                limit=_PAGE,
                offset=offset,
            )
            ids = page["ids"]
            for index, stored_id in enumerate(ids):
                yield StoredRecord(
                    stored_id,
                    page["documents"][index],
                    page["metadatas"][index],
                    np.asarray(page["embeddings"][index], dtype=np.float32),
                )
            if len(ids) < _PAGE:
                return
            offset += _PAGE


def _close_http_sessions(client: Any) -> None:
    """chromadb 1.5's HTTP client leaves the connection pools of its two API objects (its own
    and its admin client's) open on ``close()``; left to the garbage collector, their sockets
    are closed with a ResourceWarning."""
    for owner in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(owner, "_server", None), "_session", None)
        if session is not None:
            session.close()


def _stored_id(scope: Scope, memory_id: str) -> str:
    return f"{scope.key}:{memory_id}"


def _tagged(scope: Scope, metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {**metadata, "scope": scope.key}


def _vector(record: StoredRecord) -> npt.NDArray[np.float32]:
    assert record.embedding is not None
    return record.embedding


def _checked(scope: Scope, record: StoredRecord) -> StoredRecord:
    """The record with its plain memory id, if both its tag and its id say it is ``scope``'s."""
    owner, _, memory_id = record.id.partition(":")
    if record.metadata.get("scope") != scope.key or owner != scope.key:
        raise IsolationViolation("The memory store returned a record of another user; refused.")
    return replace(record, id=memory_id)


class _translated:
    """Turns any chromadb failure into ``StoreUnavailable`` at this one boundary."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is not None and not isinstance(exc, GatewayError) and isinstance(exc, Exception):
            raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"The memory store is unavailable ({type(exc).__name__}).")
