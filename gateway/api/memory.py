"""The memory API: ``/v1/users/{user_id}/memories...``, an HTTP door to ``MemoryService``.

Each handler authorizes the caller (``gateway.api.access``), reads the request, and hands the
work (and the role check and audit record that come with it) to the service.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.access import Action, Caller, authorize
from gateway.api.fields import memory_changes, new_memory, timestamp
from gateway.api.service import MAX_PAGE, MemoryPage, MemoryService
from gateway.audit import AuditQuery
from gateway.errors import InvalidRequest
from gateway.proxy.auth import Authenticator
from gateway.proxy.request import MAX_JSON_DEPTH, parse_json_object, read_body
from gateway.store.index import Hit
from gateway.store.ranking import Mode

MAX_BATCH = 1000
_STATUSES = ("active", "superseded", "pending", "all")


class MemoryAPI:
    def __init__(
        self,
        authenticator: Authenticator,
        service: MemoryService,
        max_body_bytes: int,
        *,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self._auth = authenticator
        self._service = service
        self._max_body_bytes = max_body_bytes
        self._max_json_depth = max_json_depth

    def _caller(self, request: Request, action: Action) -> tuple[Caller, str]:
        return authorize(self._auth, request, action), request.path_params["user_id"]

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await read_body(request, self._max_body_bytes)
        return parse_json_object(raw, self._max_json_depth)

    async def list(self, request: Request) -> Response:
        caller, user = self._caller(request, "read")
        limit = int_param(request, "limit", 100, 1, MAX_PAGE)
        offset = int_param(request, "offset", 0, 0, 10**9)
        status = request.query_params.get("status", "active")
        if status not in _STATUSES:
            raise InvalidRequest(
                "Invalid 'status': expected active, superseded, pending or all.", param="status"
            )
        page = await self._service.list_memories(
            caller,
            user,
            status=None if status == "all" else status,  # type: ignore[arg-type]
            limit=limit,
            offset=offset,
        )
        return _json(_listed(page))

    async def create(self, request: Request) -> Response:
        caller, user = self._caller(request, "write")
        body = await self._body(request)
        categories = self._service.categories
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
            new = [new_memory(item, f"memories[{i}].", categories) for i, item in enumerate(items)]
            stored = await self._service.add(caller, user, new)
            return _json({"object": "list", "data": [m.public() for m in stored]}, 201)
        [stored_one] = await self._service.add(caller, user, [new_memory(body, "", categories)])
        return _json(stored_one.public(), 201)

    async def search(self, request: Request) -> Response:
        caller, user = self._caller(request, "read")
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
        hits = await self._service.search(caller, user, query, mode=_mode(mode), limit=limit)
        return _json({"object": "list", "data": [scored(hit) for hit in hits]})

    async def preview(self, request: Request) -> Response:
        caller, user = self._caller(request, "read")
        body = await self._body(request)
        unknown = set(body) - {"message", "model"}
        if unknown:
            field = sorted(unknown)[0]
            raise InvalidRequest(f"Unknown field '{field}'.", param=field)
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            raise InvalidRequest("Invalid 'message': expected a non-empty string.", param="message")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise InvalidRequest("Invalid 'model': expected a model name.", param="model")
        preview = await self._service.preview(caller, user, message, model=model)
        return _json(
            {
                "object": "user.memories.preview",
                "block": preview.block,
                "tokens": preview.tokens,
                "budget": preview.budget,
                "mode": preview.mode,
                "outcome": preview.outcome,
                "model": preview.model,
                "items": [
                    {field: getattr(item, field) for field in item.__slots__}
                    for item in preview.items
                ],
            }
        )

    async def get(self, request: Request) -> Response:
        caller, user = self._caller(request, "read")
        memory = await self._service.get(caller, user, request.path_params["memory_id"])
        return _json(memory.public())

    async def patch(self, request: Request) -> Response:
        caller, user = self._caller(request, "write")
        changes = memory_changes(await self._body(request), self._service.categories)
        memory_id = request.path_params["memory_id"]
        updated = await self._service.patch(caller, user, memory_id, changes)
        return _json(updated.public())

    async def delete(self, request: Request) -> Response:
        caller, user = self._caller(request, "write")
        memory_id = request.path_params["memory_id"]
        await self._service.delete(caller, user, memory_id)
        return _json({"id": memory_id, "object": "memory.deleted", "deleted": True})

    async def erase(self, request: Request) -> Response:
        caller, user = self._caller(request, "write")
        count = await self._service.erase(caller, user)
        return _json({"object": "user.memories.deleted", "deleted": count})

    async def export(self, request: Request) -> Response:
        caller, user = self._caller(request, "read")
        return _json(await self._service.export(caller, user))

    async def users(self, request: Request) -> Response:
        caller = authorize(self._auth, request, "read", tenant=request.query_params.get("tenant"))
        limit = int_param(request, "limit", 100, 1, MAX_PAGE)
        offset = int_param(request, "offset", 0, 0, 10**9)
        query = request.query_params.get("q") or None
        page = await self._service.users(caller, query=query, limit=limit, offset=offset)
        return _json(
            {
                "object": "list",
                "tenant": caller.tenant,
                "data": [user.public() for user in page.users],
                "total": page.total,
                "has_more": page.next_offset is not None,
                "next_offset": page.next_offset,
            }
        )

    async def tenants(self, request: Request) -> Response:
        caller = authorize(self._auth, request, "admin", tenant_required=False)
        found = await self._service.tenants(caller)
        return _json({"object": "list", "data": [t.public() for t in found]})

    async def audit(self, request: Request) -> Response:
        params = request.query_params
        caller = authorize(
            self._auth, request, "audit", tenant=params.get("tenant"), tenant_required=False
        )
        since = params.get("since")
        user_id = params.get("user_id")
        query = AuditQuery(
            tenant=caller.tenant,
            since=timestamp(since, "since") if since is not None else None,
            action=params.get("action") or None,
            user_id=user_id or None,
            limit=int_param(request, "limit", 100, 1, MAX_PAGE),
            after=params.get("after") or None,
        )
        page = await self._service.audit(caller, query)
        return _json(
            {
                "object": "list",
                "data": [record.public() for record in page.records],
                "has_more": page.next_after is not None,
                "next_after": page.next_after,
            }
        )


def _listed(page: MemoryPage) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [m.public() for m in page.memories],
        "total": page.total,
        "has_more": page.next_offset is not None,
        "next_offset": page.next_offset,
    }


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
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


def scored(hit: Hit) -> dict[str, Any]:
    """A search result as every door shows it: the memory and its scores."""
    return {
        "memory": hit.memory.public(),
        "score": round(hit.score, 6),
        "dense": round(hit.dense, 6),
        "lexical": round(hit.lexical, 6),
    }
