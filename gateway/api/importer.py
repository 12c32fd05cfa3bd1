"""Bulk import of memories from JSON lines: what ``gateway memory import`` runs.

One JSON object per line::

    {"user_id": "u-42", "content": "Prefers tea.", "category": "preference",
     "created_at": "2024-05-01T12:00:00Z", "metadata": {"origin": "crm"}, "tenant": "acme"}

``user_id`` and ``content`` (or its alias ``text``) are required. ``tenant`` defaults to the
importer's default tenant and must be the tenant of a configured key: memories under any other
tenant could never be read. ``category`` defaults to ``fact``; ``created_at`` is ISO 8601 (a
date or a zone-less time is taken as UTC) or epoch seconds. Blank lines are ignored.

Bad lines are skipped and reported by line number and field, never by their text; the good lines
are imported all the same. Memory ids are derived from the scope and the content, so the same
text for the same user is one memory, and running the same file again (after fixing its bad
lines, or after an interruption) adds nothing twice.

Texts are embedded in batches while the previous batch is written, and every write goes through
``MemoryStore.add``, so generations and snapshots stay as consistent as after API writes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.api.fields import DEFAULT_CATEGORY, MAX_CONTENT_CHARS, MAX_METADATA_BYTES
from gateway.audit import AuditTrail
from gateway.config import GatewayConfig
from gateway.context.service import build_embedder, cache_settings, generation_log
from gateway.errors import GatewayError, ImportInterrupted, InvalidRequest
from gateway.proxy.identity import check_user_id
from gateway.store.chroma import ChromaBackend
from gateway.store.embedding import Embedder
from gateway.store.index import Vector
from gateway.store.records import Scope
from gateway.store.store import MemoryStore, NewMemory

FIELDS = frozenset({"user_id", "content", "text", "tenant", "category", "created_at", "metadata"})
DEFAULT_BATCH = 256
#: Write snapshots (and let go of the indexes they hold) after this many memories.
FLUSH_EVERY = 10_000
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


class BadLine(Exception):
    """One input line that cannot be imported; says where and why, never what it held."""

    def __init__(self, line: int, field: str | None, reason: str) -> None:
        self.line = line
        self.field = field
        self.reason = reason
        where = f"line {line}" if field is None else f"line {line}, field '{field}'"
        super().__init__(f"{where}: {reason}")


@dataclass
class ImportReport:
    """What an import did."""

    lines: int = 0
    imported: int = 0
    #: Lines whose memory was already stored (same user, same content), from this file or before.
    already_present: int = 0
    skipped: int = 0
    #: Scopes (tenant and user) that received at least one new memory.
    scopes: set[str] = field(default_factory=set)

    @property
    def users(self) -> int:
        return len(self.scopes)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    line: int
    scope: Scope
    memory: NewMemory


class LineParser:
    """Turns one JSON line into a scoped ``NewMemory``, or raises ``BadLine``."""

    def __init__(
        self, default_tenant: str, tenants: Collection[str], categories: Collection[str]
    ) -> None:
        self._default_tenant = default_tenant
        self._tenants = tenants
        self._categories = categories

    def parse(self, number: int, raw: bytes) -> ParsedLine:
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            # orjson's message gives a position, not the text.
            raise BadLine(number, None, f"not valid JSON ({exc})") from None
        if not isinstance(item, dict):
            raise BadLine(number, None, "expected a JSON object")
        unknown = sorted(set(item) - FIELDS)
        if unknown:
            raise BadLine(
                number, unknown[0], f"unknown field (expected {', '.join(sorted(FIELDS))})"
            )
        scope = Scope(self._tenant(number, item), _user(number, item))
        content = _content(number, item)
        memory = NewMemory(
            content=content,
            category=self._category(number, item),
            created_at=_created_at(number, item.get("created_at")),
            metadata=_metadata(number, item.get("metadata")),
            id=memory_id(scope, content),
        )
        return ParsedLine(number, scope, memory)

    def _tenant(self, number: int, item: Mapping[str, Any]) -> str:
        tenant = item.get("tenant", self._default_tenant)
        if tenant not in self._tenants:
            raise BadLine(number, "tenant", "not the tenant of any key in the config")
        return str(tenant)

    def _category(self, number: int, item: Mapping[str, Any]) -> str:
        category = item.get("category", DEFAULT_CATEGORY)
        if not isinstance(category, str) or category not in self._categories:
            names = ", ".join(sorted(self._categories))
            raise BadLine(
                number, "category", f"expected one of the configured categories ({names})"
            )
        return category


def memory_id(scope: Scope, content: str) -> str:
    """The id an imported memory gets: the same text for the same user is one memory."""
    return hashlib.sha256(f"{scope.key}\n{content}".encode()).hexdigest()[:32]


def _user(number: int, item: Mapping[str, Any]) -> str:
    user = item.get("user_id")
    if not isinstance(user, str):
        raise BadLine(number, "user_id", "required, a string")
    try:
        return check_user_id(user, "user_id")
    except InvalidRequest as exc:
        raise BadLine(number, "user_id", exc.message.split(": ", 1)[-1]) from None


def _content(number: int, item: Mapping[str, Any]) -> str:
    if "content" in item and "text" in item:
        raise BadLine(number, "text", "give 'content' or its alias 'text', not both")
    name = "content" if "content" in item else "text"
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BadLine(number, name, "required, a non-empty string ('text' is an alias)")
    if len(value) > MAX_CONTENT_CHARS:
        raise BadLine(number, name, f"longer than {MAX_CONTENT_CHARS} characters")
    return value.strip()


def _created_at(number: int, value: Any) -> datetime | None:
    if value is None:
        return None
    moment = _moment(value)
    # Stored as a float timestamp: a date at the very edge of the calendar would not come back.
    if moment is None or not _EARLIEST <= moment < _LATEST:
        raise BadLine(
            number,
            "created_at",
            "expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z, or epoch seconds",
        )
    return moment


def _moment(value: Any) -> datetime | None:
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _metadata(number: int, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadLine(number, "metadata", "expected a JSON object")
    if len(orjson.dumps(value)) > MAX_METADATA_BYTES:
        raise BadLine(number, "metadata", f"larger than {MAX_METADATA_BYTES} bytes as JSON")
    return value


class Importer:
    """Parses, embeds and stores lines in batches; the next batch is embedded while the
    current one is written."""

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        parser: LineParser,
        *,
        batch_size: int = DEFAULT_BATCH,
        on_error: Callable[[BadLine], None] | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self._audit = audit
        self._store = store
        self._embedder = embedder
        self._parser = parser
        self._batch_size = batch_size
        self._on_error = on_error
        self._since_flush = 0

    async def run(self, lines: Iterable[bytes]) -> ImportReport:
        report = ImportReport()
        pending: tuple[list[ParsedLine], asyncio.Future[Vector]] | None = None
        try:
            for batch in self._batches(lines, report):
                texts = [parsed.memory.content for parsed in batch]
                embedding = asyncio.ensure_future(self._embedder.embed(texts))
                if pending is not None:
                    await self._store_batch(*pending, report)
                pending = (batch, embedding)
            if pending is not None:
                await self._store_batch(*pending, report)
                pending = None
            await self._store.flush()
        finally:
            if pending is not None:
                pending[1].cancel()
        return report

    def _batches(self, lines: Iterable[bytes], report: ImportReport) -> Iterator[list[ParsedLine]]:
        batch: list[ParsedLine] = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            report.lines += 1
            try:
                batch.append(self._parser.parse(number, raw))
            except BadLine as bad:
                report.skipped += 1
                if self._on_error is not None:
                    self._on_error(bad)
                continue
            if len(batch) >= self._batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    async def _store_batch(
        self, batch: list[ParsedLine], embedding: asyncio.Future[Vector], report: ImportReport
    ) -> None:
        try:
            vectors = await embedding
            for scope, rows in _by_scope(batch).items():
                await self._store_rows(scope, [batch[i] for i in rows], vectors[rows], report)
        except GatewayError as exc:
            raise ImportInterrupted(report.imported, batch[0].line, exc) from exc
        self._since_flush += len(batch)
        if self._since_flush >= FLUSH_EVERY:
            self._since_flush = 0
            await self._store.flush()

    async def _store_rows(
        self, scope: Scope, rows: list[ParsedLine], vectors: Vector, report: ImportReport
    ) -> None:
        index = await self._store.index(scope)
        fresh: dict[str, int] = {}
        for position, parsed in enumerate(rows):
            assert parsed.memory.id is not None
            if parsed.memory.id in index or parsed.memory.id in fresh:
                report.already_present += 1
            else:
                fresh[parsed.memory.id] = position
        if fresh:
            keep = list(fresh.values())
            await self._store.add(scope, [rows[i].memory for i in keep], vectors=vectors[keep])
            report.imported += len(keep)
            report.scopes.add(scope.key)
            if self._audit is not None:
                await self._audit.write(
                    key_name="cli",
                    tenant=scope.tenant,
                    user_id=scope.user,
                    action="memory.import",
                    via="cli",
                    count=len(keep),
                )


def _by_scope(batch: list[ParsedLine]) -> dict[Scope, list[int]]:
    """Row numbers of the batch per scope, in file order."""
    groups: dict[Scope, list[int]] = {}
    for row, parsed in enumerate(batch):
        groups.setdefault(parsed.scope, []).append(row)
    return groups


def default_tenant(config: GatewayConfig) -> str:
    """The tenant of the first configured key: where lines without ``tenant`` go by default."""
    return config.auth.keys[0].tenant


def tenants(config: GatewayConfig) -> frozenset[str]:
    return frozenset(key.tenant for key in config.auth.keys)


def open_store(config: GatewayConfig, embedder: Embedder) -> MemoryStore:
    """The store as ``gateway serve`` opens it (snapshots only for an embedded store)."""
    settings = config.memory.store
    backend = ChromaBackend(path=settings.path, url=settings.url)
    backend.connect()
    cache = cache_settings(config, remote=settings.url is not None)
    return MemoryStore(backend, embedder, generation_log(config, backend), cache)


async def import_lines(
    config: GatewayConfig,
    lines: Iterable[bytes],
    *,
    tenant: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_error: Callable[[BadLine], None] | None = None,
) -> ImportReport:
    """Import ``lines`` into the store ``config`` names, with its configured embedder."""
    parser = LineParser(tenant or default_tenant(config), tenants(config), config.memory.categories)
    embedder = await asyncio.to_thread(build_embedder, config.memory)
    try:
        store = await asyncio.to_thread(open_store, config, embedder)
        try:
            audit = AuditTrail.for_config(config)
            importer = Importer(
                store, embedder, parser, batch_size=batch_size, on_error=on_error, audit=audit
            )
            return await importer.run(lines)
        finally:
            await store.close()
    finally:
        embedder.close()
