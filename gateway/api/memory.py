"""The memory API: ``/v1/users/{user_id}/memories...``, always scoped to the caller key's tenant."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.context.retrieval import Retriever
from gateway.errors import InvalidRequest, StoreUnavailable
from gateway.profile.store import ProfileStore
from gateway.proxy.auth import Authenticator
from gateway.proxy.identity import check_user_id
from gateway.proxy.request import MAX_JSON_DEPTH, parse_json_object, read_body
from gateway.store.ranking import Mode
from gateway.store.records import Memory, Scope, utcnow
from gateway.store.store import MemoryStore, NewMemory

MAX_BATCH = 1000
MAX_CONTENT_CHARS = 8000
MAX_METADATA_BYTES = 4096
MAX_PAGE = 1000
DEFAULT_CATEGORY = "fact"
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
T = TypeVar("T")


class MemoryAPI:
    def __init__(
        self,
        authenticator: Authenticator,
        store: MemoryStore,
        retriever: Retriever,
        categories: Mapping[str, int],
        max_body_bytes: int,
        *,
        timeout_s: float,
        max_json_depth: int = MAX_JSON_DEPTH,
        profiles: ProfileStore | None = None,
    ) -> None:
        self._auth = authenticator
        self._timeout_s = timeout_s
        #: The users' profiles, exported with their memories.
        self._profiles = profiles
        self._store = store
        self._retriever = retriever
        self._categories = categories
        self._max_body_bytes = max_body_bytes
        self._max_json_depth = max_json_depth

    def _scope(self, request: Request) -> Scope:
        return user_scope(self._auth, request)

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await read_body(request, self._max_body_bytes)
        return parse_json_object(raw, self._max_json_depth)

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

    async def list(self, request: Request) -> Response:
        scope = self._scope(request)
        limit = _int_param(request, "limit", 100, 1, MAX_PAGE)
        offset = _int_param(request, "offset", 0, 0, 10**9)
        status = request.query_params.get("status", "active")
        if status not in ("active", "superseded", "pending", "all"):
            raise InvalidRequest(
                "Invalid 'status': expected active, superseded, pending or all.", param="status"
            )
        stored = await self._in_time(self._store.all(scope))
        memories = [m for m in stored if status in ("all", m.status)]
        memories.reverse()  # newest first
        page = memories[offset : offset + limit]
        return _json(
            {
                "object": "list",
                "data": [m.public() for m in page],
                "total": len(memories),
                "has_more": offset + limit < len(memories),
                "next_offset": offset + limit if offset + limit < len(memories) else None,
            }
        )

    async def create(self, request: Request) -> Response:
        scope = self._scope(request)
        body = await self._body(request)
        if "memories" in body:
            unknown = set(body) - {"memories"}
            if unknown:
                field = sorted(unknown)[0]
                raise InvalidRequest(f"Unknown field '{field}' beside 'memories'.", param=field)
            items = body["memories"]
            if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
                raise InvalidRequest(
                    f"Invalid 'memories': expected an array of 1 to {MAX_BATCH} memory objects.",
                    param="memories",
                )
            new = [self._new(item, f"memories[{i}].") for i, item in enumerate(items)]
            stored = await self._add(scope, new)
            return _json({"object": "list", "data": [m.public() for m in stored]}, 201)
        [stored_one] = await self._add(scope, [self._new(body, "")])
        return _json(stored_one.public(), 201)

    async def _add(self, scope: Scope, new: Sequence[NewMemory]) -> Sequence[Memory]:
        # Embedding 1,000 memories takes seconds of CPU (~5.5 s here): it is not the store's
        # answer the deadline waits for, so it comes first.
        vectors = await self._store.embed(new)
        return await self._in_time(self._store.add(scope, new, vectors))

    async def search(self, request: Request) -> Response:
        scope = self._scope(request)
        body = await self._body(request)
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InvalidRequest("Invalid 'query': expected a non-empty string.", param="query")
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
            raise InvalidRequest("Invalid 'limit': expected a number from 1 to 100.", param="limit")
        mode = body.get("mode", "hybrid")
        if mode not in ("hybrid", "dense"):
            raise InvalidRequest("Invalid 'mode': expected hybrid or dense.", param="mode")
        hits = await self._in_time(
            self._retriever.search(scope, query, mode=_mode(mode), limit=limit)
        )
        data = [
            {
                "memory": hit.memory.public(),
                "score": round(hit.score, 6),
                "dense": round(hit.dense, 6),
                "lexical": round(hit.lexical, 6),
            }
            for hit in hits
        ]
        return _json({"object": "list", "data": data})

    async def get(self, request: Request) -> Response:
        scope = self._scope(request)
        memory = await self._in_time(self._store.get(scope, request.path_params["memory_id"]))
        return _json(memory.public())

    async def patch(self, request: Request) -> Response:
        scope = self._scope(request)
        body = await self._body(request)
        unknown = set(body) - {"content", "category", "metadata", "created_at"}
        if unknown:
            field = sorted(unknown)[0]
            raise InvalidRequest(f"Unknown field '{field}'.", param=field)
        if not body:
            raise InvalidRequest(
                "Nothing to change: send content, category, metadata or created_at."
            )
        changes: dict[str, Any] = {}
        if "content" in body:
            changes["content"] = self._content(body["content"], "content")
        if "category" in body:
            changes["category"] = self._category(body["category"], "category")
        if "metadata" in body:
            changes["metadata"] = _metadata(body["metadata"], "metadata")
        if "created_at" in body:
            changes["created_at"] = _timestamp(body["created_at"], "created_at")
        updated = await self._in_time(
            self._store.update(
                scope, request.path_params["memory_id"], lambda m: _changed(m, changes)
            )
        )
        return _json(updated.public())

    async def delete(self, request: Request) -> Response:
        scope = self._scope(request)
        memory_id = request.path_params["memory_id"]
        await self._in_time(self._store.delete(scope, memory_id))
        return _json({"id": memory_id, "object": "memory.deleted", "deleted": True})

    async def erase(self, request: Request) -> Response:
        scope = self._scope(request)
        count = await self._in_time(self._store.erase(scope))
        return _json({"object": "user.memories.deleted", "deleted": count})

    async def export(self, request: Request) -> Response:
        scope = self._scope(request)
        memories = await self._in_time(self._store.all(scope))
        body: dict[str, Any] = {
            "object": "user.memories.export",
            "user_id": scope.user,
            "exported_at": utcnow().isoformat().replace("+00:00", "Z"),
            "memories": [m.public() for m in memories],
        }
        if self._profiles is not None:
            profile = await self._in_time(self._profiles.get(scope))
            body["profile"] = profile.export(scope.user)
        return _json(body)

    def _new(self, item: Any, prefix: str) -> NewMemory:
        if not isinstance(item, dict):
            raise InvalidRequest(
                f"Invalid '{prefix.rstrip('.') or 'body'}': expected a memory object.",
                param=prefix.rstrip(".") or None,
            )
        unknown = set(item) - {"content", "category", "created_at", "metadata"}
        if unknown:
            field = prefix + sorted(unknown)[0]
            raise InvalidRequest(f"Unknown field '{field}'.", param=field)
        return NewMemory(
            content=self._content(item.get("content"), prefix + "content"),
            category=self._category(item.get("category", DEFAULT_CATEGORY), prefix + "category"),
            created_at=_timestamp(item["created_at"], prefix + "created_at")
            if item.get("created_at") is not None
            else None,
            metadata=_metadata(item.get("metadata", {}), prefix + "metadata"),
        )

    def _content(self, value: Any, param: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest(f"Invalid '{param}': expected a non-empty string.", param=param)
        if len(value) > MAX_CONTENT_CHARS:
            raise InvalidRequest(
                f"Invalid '{param}': longer than {MAX_CONTENT_CHARS} characters.", param=param
            )
        return value.strip()

    def _category(self, value: Any, param: str) -> str:
        if not isinstance(value, str) or value not in self._categories:
            names = ", ".join(sorted(self._categories, key=lambda c: -self._categories[c]))
            raise InvalidRequest(
                f"Invalid '{param}': expected one of the configured categories ({names}).",
                param=param,
            )
        return value


def user_scope(authenticator: Authenticator, request: Request) -> Scope:
    """The user the path names, within the tenant of the caller's key."""
    principal = authenticator.authenticate(request.headers)
    user = check_user_id(request.path_params["user_id"], "user_id")
    return Scope(principal.tenant, user)


def _changed(memory: Memory, changes: Mapping[str, Any]) -> Memory:
    return replace(memory, **changes)


def _metadata(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid '{param}': expected an object.", param=param)
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        # Nested deeper than orjson can write; the body's depth limit normally stops it first.
        raise InvalidRequest(f"Invalid '{param}': nested too deeply.", param=param) from None
    if size > MAX_METADATA_BYTES:
        raise InvalidRequest(
            f"Invalid '{param}': larger than {MAX_METADATA_BYTES} bytes as JSON.", param=param
        )
    return value


def _timestamp(value: Any, param: str) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError):
            moment = None
        # Stored as a float timestamp: a date at the very edge of the calendar would not come
        # back, and would make the user's memories unreadable.
        if moment is not None and _EARLIEST <= moment < _LATEST:
            return moment
    raise InvalidRequest(
        f"Invalid '{param}': expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z.",
        param=param,
    )


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # isdigit() alone admits "²" and other digits int() refuses, and int() refuses 4,300+ digits.
    valid = raw.isascii() and raw.isdigit() and len(raw) <= len(str(high))
    if not valid or not low <= int(raw) <= high:
        raise InvalidRequest(
            f"Invalid '{name}': expected a whole number from {low} to {high}.", param=name
        )
    return int(raw)


def _mode(value: str) -> Mode:
    return "dense" if value == "dense" else "hybrid"


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
