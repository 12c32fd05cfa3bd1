"""The audit trail's file: one JSON object a line, appended and synced to disk per record.

Several worker processes (and ``gateway memory import``) append to one file: each write holds an
exclusive ``flock`` on it, so lines never interleave, and is ``fsync``-ed before the request that
made it is answered, so a record outlives a ``kill -9`` the moment its write is acknowledged. A
line a crash cut short is skipped when read, and the next record starts on a line of its own.

Records hold a keyed digest of the user id (HMAC-SHA-256 over the tenant and the user), so the
trail can answer "what happened to this user" for someone who knows the id, and nothing to
someone who reads the file. The key is ``audit.digest_key``, or a random one kept beside the
file (``<path>.key``), made by whichever process needs it first.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import orjson

from gateway.config import GatewayConfig
from gateway.errors import StoreUnavailable
from gateway.observability import Metrics

#: ``memory.add``, ``memory.patch``, ``memory.delete``, ``memory.erase``, ``memory.export``,
#: ``memory.import``, ``profile.set``, ``profile.clear``, ``config.reload``; a new kind is added
#: to ``gateway.observability.labels.AUDIT_ACTIONS`` too, or its metric counts it as ``other``.
Action = str
#: Which door the write came in by; ``signal`` is a config reload (SIGHUP, ``gateway reload``).
Via = Literal["api", "ui", "mcp", "cli", "signal"]
DIGEST_CHARS = 24
MAX_PAGE = 1000
_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    #: UTC, ISO 8601 with microseconds and a ``Z``.
    time: str
    key_name: str
    #: None for what belongs to no tenant (a config reload).
    tenant: str | None
    #: The keyed digest of the tenant and user id (``AuditTrail.digest``); None for no user.
    user: str | None
    action: Action
    memory_id: str | None = None
    #: How many memories a batch (add, erase, import, export) touched.
    count: int | None = None
    via: Via = "api"

    def public(self) -> dict[str, Any]:
        return {
            "object": "audit.record",
            "id": self.id,
            "time": self.time,
            "key_name": self.key_name,
            "tenant": self.tenant,
            "user_digest": self.user,
            "action": self.action,
            "memory_id": self.memory_id,
            "count": self.count,
            "via": self.via,
        }


@dataclass(frozen=True, slots=True)
class AuditQuery:
    #: One tenant's records, or None for every tenant's (admin keys only).
    tenant: str | None = None
    since: datetime | None = None
    action: str | None = None
    #: One user's records (needs ``tenant``: the digest covers both).
    user_id: str | None = None
    limit: int = 100
    #: The ``id`` of the last record of the previous page.
    after: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[AuditRecord]
    #: Pass as ``after`` for the next page; None when this page is the last.
    next_after: str | None


class AuditTrail:
    def __init__(
        self, path: Path, *, digest_key: bytes | None = None, metrics: Metrics | None = None
    ) -> None:
        self._path = path
        self._digest_key = digest_key
        self._metrics = metrics
        # flock excludes other processes; threads of this one take turns on this lock first.
        self._lock = threading.Lock()

    @classmethod
    def for_config(cls, config: GatewayConfig, metrics: Metrics | None = None) -> AuditTrail:
        """The trail at ``config.audit_path()``, keyed by ``audit.digest_key`` when set."""
        key = config.audit.digest_key
        digest_key = key.get_secret_value().encode() if key is not None else None
        return cls(config.audit_path(), digest_key=digest_key, metrics=metrics)

    @property
    def path(self) -> Path:
        return self._path

    def digest(self, tenant: str, user_id: str) -> str:
        """The user's digest as records hold it."""
        t, u = tenant.encode(), user_id.encode()
        message = b"%d:%b|%d:%b" % (len(t), t, len(u), u)
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()[:DIGEST_CHARS]

    def record(
        self,
        *,
        key_name: str,
        tenant: str | None,
        user_id: str | None,
        action: Action,
        via: Via,
        memory_id: str | None = None,
        count: int | None = None,
    ) -> AuditRecord:
        """Append one record and sync it to disk; blocking (``write`` is the async form)."""
        now = datetime.now(UTC)
        record = AuditRecord(
            id=f"{int(now.timestamp() * 1e6):016x}{secrets.token_hex(4)}",
            time=now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            key_name=key_name,
            tenant=tenant,
            user=self.digest(tenant, user_id) if tenant is not None and user_id else None,
            action=action,
            memory_id=memory_id,
            count=count,
            via=via,
        )
        line = orjson.dumps(_stored(record)) + b"\n"
        try:
            self._append(line)
        except OSError as exc:
            raise StoreUnavailable(
                "The change was made, but the audit trail cannot be written right now."
            ) from exc
        if self._metrics is not None:
            self._metrics.audit_record(action)
        return record

    async def write(self, **fields: Any) -> AuditRecord:
        """``record`` (same keywords) on a worker thread: the event loop never waits for the
        disk."""
        return await asyncio.to_thread(partial(self.record, **fields))

    def read(self, query: AuditQuery) -> AuditPage:
        """One page of the records ``query`` selects, oldest first."""
        wanted_user = (
            self.digest(query.tenant, query.user_id)
            if query.user_id is not None and query.tenant is not None
            else None
        )
        since = query.since.astimezone(UTC) if query.since is not None else None
        started = query.after is None
        found: list[AuditRecord] = []
        for record in self._records():
            if not started:
                started = record.id == query.after
                continue
            if query.tenant is not None and record.tenant != query.tenant:
                continue
            if query.action is not None and record.action != query.action:
                continue
            if wanted_user is not None and record.user != wanted_user:
                continue
            if since is not None and _parsed(record.time) < since:
                continue
            if len(found) == query.limit:
                return AuditPage(found, found[-1].id)
            found.append(record)
        return AuditPage(found, None)

    async def page(self, query: AuditQuery) -> AuditPage:
        return await asyncio.to_thread(self.read, query)

    def _append(self, line: bytes) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # A crash cut the last record short: this one starts on a line of its own.
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)  # releases the flock

    def _records(self) -> Iterator[AuditRecord]:
        try:
            handle = self._path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                record = _loaded(line)
                if record is not None:
                    yield record

    def _key(self) -> bytes:
        if self._digest_key is None:
            self._digest_key = _shared_key(self._path.with_name(self._path.name + ".key"))
        return self._digest_key


def _shared_key(path: Path) -> bytes:
    """The key in ``path``, made there first if there is none: written under another name and
    linked into place, so no process ever reads half a key."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(_KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process made it first: theirs is the key
    finally:
        draft.unlink()
    return path.read_bytes()


def _stored(record: AuditRecord) -> dict[str, Any]:
    return {k: v for k, v in record.public().items() if k != "object" and v is not None}


def _loaded(line: bytes) -> AuditRecord | None:
    try:
        data = orjson.loads(line)
        return AuditRecord(
            id=data["id"],
            time=data["time"],
            key_name=data["key_name"],
            tenant=data.get("tenant"),
            user=data.get("user_digest"),
            action=data["action"],
            memory_id=data.get("memory_id"),
            count=data.get("count"),
            via=data.get("via", "api"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None  # a line a crash cut short


def _parsed(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))
