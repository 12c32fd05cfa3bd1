"""The tools and resources of ``/mcp``: each checks its arguments, resolves the caller and the
user, and calls the memory service, the same one behind the memory API, so role checks, the
audit trail (``via="mcp"``), consolidation and erasure apply to agents as to HTTP clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from mcp.types import CallToolResult, TextContent, Tool
from starlette.requests import Request

from gateway.api.access import Caller, authorize
from gateway.api.fields import memory_changes, new_memory, profile_value, timestamp
from gateway.api.memory import scored
from gateway.api.service import MemoryService
from gateway.errors import GatewayError, InvalidRequest, NotFound, PermissionDenied
from gateway.mcp import arguments
from gateway.mcp.schemas import (
    MAX_MESSAGE_CHARS,
    MAX_QUERY_CHARS,
    ME,
    MEMORIES_URI,
    NEEDS,
    PROFILE_URI,
    STATUSES,
    tool_list,
)
from gateway.observability import Metrics
from gateway.profile.model import FIELDS
from gateway.proxy.auth import Authenticator
from gateway.proxy.identity import user_header

Arguments = Mapping[str, Any]
#: A page size no user reaches: a filter or a resource covers every memory, not the newest page.
EVERY = 2**31
Result = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One tool call, authorized: who calls, for which user, with what."""

    caller: Caller
    user: str
    arguments: Arguments


@dataclass
class Toolbox:
    """The tools over one configuration's services; a reload builds a new toolbox."""

    authenticator: Authenticator
    service: MemoryService
    metrics: Metrics
    categories: Mapping[str, int]
    tools: tuple[Tool, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.tools = tool_list(self.categories)
        self._allowed = {
            tool.name: frozenset(tool.input_schema["properties"]) for tool in self.tools
        }

    def admit(self, request: Request) -> None:
        """Before the SDK reads the request: a known key (401), a tenant it may act on (403,
        or 400 for an admin key without ``X-Tenant-Id``) and a well-formed ``X-User-Id``."""
        authorize(self.authenticator, request, "read", via="mcp")
        # A malformed header is the request's fault (400); a missing one, the tool's (it may
        # take ``user_id`` instead).
        user_header(request.headers)

    async def call(self, request: Request, name: str, given: Arguments) -> CallToolResult:
        outcome = "error"
        try:
            result = await self._run(request, name, given)
            outcome = "ok"
        except PermissionDenied as exc:
            outcome = "denied"
            return _failed(exc.message)
        except GatewayError as exc:
            return _failed(exc.message)
        finally:
            # Counted whatever happens, an unexpected failure (re-raised, logged) included.
            self.metrics.mcp_tool_call(name, outcome)
        text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=result
        )

    async def _run(self, request: Request, name: str, given: Arguments) -> Result:
        run = _TOOLS.get(name)
        if run is None:
            raise NotFound(f"Unknown tool '{name}': see tools/list.")
        arguments.known(given, self._allowed[name])
        caller = authorize(self.authenticator, request, NEEDS[name], via="mcp")
        user = arguments.user(request.headers, given)
        return await run(self, Call(caller, user, given))

    async def read(self, request: Request, uri: str) -> str:
        """A resource: ``memory://{user_id}/profile`` or ``.../memories/{category}``."""
        user_part, _, rest = uri.removeprefix("memory://").partition("/")
        named = {} if user_part == ME else {"user_id": unquote(user_part)}
        caller = authorize(self.authenticator, request, "read", via="mcp")
        user = arguments.user(request.headers, named)
        if rest == "profile":
            body: object = (await self.service.profile(caller, user)).public(user)
        elif rest.startswith("memories/"):
            category = rest.removeprefix("memories/")
            if category not in self.categories:
                raise NotFound(f"No resource at {uri}: '{category}' is not a memory category.")
            page = await self.service.list_memories(caller, user, limit=EVERY)
            body = [m.public() for m in page.memories if m.category == category]
        else:
            raise NotFound(f"No resource at {uri} (expected {PROFILE_URI} or {MEMORIES_URI}).")
        return orjson.dumps(body).decode()


def _failed(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


async def search_memories(box: Toolbox, call: Call) -> Result:
    query = arguments.text(call.arguments, "query", MAX_QUERY_CHARS)
    limit = arguments.integer(call.arguments, "limit", 10, 1, 100)
    hits = await box.service.search(call.caller, call.user, query, limit=limit)
    results = [scored(hit) for hit in hits]
    return {"results": results}


async def add_memory(box: Toolbox, call: Call) -> Result:
    item = {k: v for k, v in call.arguments.items() if k != "user_id"}
    new = new_memory(item, "", box.categories)
    [stored] = await box.service.add(call.caller, call.user, [new])
    return stored.public()


async def update_memory(box: Toolbox, call: Call) -> Result:
    memory_id = arguments.text(call.arguments, "id", 256)
    body = {k: v for k, v in call.arguments.items() if k not in ("id", "user_id")}
    changes = memory_changes(body, box.categories)
    updated = await box.service.patch(call.caller, call.user, memory_id, changes)
    return updated.public()


async def delete_memory(box: Toolbox, call: Call) -> Result:
    memory_id = arguments.text(call.arguments, "id", 256)
    await box.service.delete(call.caller, call.user, memory_id)
    return {"id": memory_id, "deleted": True}


async def delete_memories(box: Toolbox, call: Call) -> Result:
    category = call.arguments.get("category")
    if category is not None and category not in box.categories:
        arguments.choice(call.arguments, "category", tuple(box.categories))
    status = arguments.choice(call.arguments, "status", STATUSES)
    before = call.arguments.get("created_before")
    cutoff = timestamp(before, "created_before") if before is not None else None
    if category is None and status is None and cutoff is None:
        raise InvalidRequest(
            "Missing filter: give at least one of category, status or created_before.",
            param="category",
        )
    page = await box.service.list_memories(call.caller, call.user, status=None, limit=EVERY)
    doomed = [
        m.id
        for m in page.memories
        if (category is None or m.category == category)
        and (status is None or m.status == status)
        and (cutoff is None or m.created_at < cutoff)
    ]
    for memory_id in doomed:
        await box.service.delete(call.caller, call.user, memory_id)
    return {"deleted": len(doomed), "ids": doomed}


async def get_profile(box: Toolbox, call: Call) -> Result:
    return (await box.service.profile(call.caller, call.user)).public(call.user)


async def set_profile_field(box: Toolbox, call: Call) -> Result:
    name = arguments.choice(call.arguments, "field", FIELDS)
    if name is None or "value" not in call.arguments:
        missing = "field" if name is None else "value"
        raise InvalidRequest(f"Missing '{missing}': give a field and its value.", param=missing)
    try:
        value = profile_value(name, call.arguments["value"])
    except InvalidRequest as exc:
        # The memory API names it ``fields.<name>``; here it is the ``value`` argument.
        message = exc.message.replace(f"'fields.{name}'", "'value'")
        raise InvalidRequest(message, param="value") from None
    profile = await box.service.set_profile(call.caller, call.user, {name: value})
    return profile.public(call.user)


async def what_would_be_injected(box: Toolbox, call: Call) -> Result:
    message = arguments.text(call.arguments, "message", MAX_MESSAGE_CHARS)
    preview = await box.service.preview(call.caller, call.user, message)
    return {
        "block": preview.block,
        "tokens": preview.tokens,
        "budget": preview.budget,
        "model": preview.model,
        "items": [asdict(item) for item in preview.items],
    }


_TOOLS: dict[str, Callable[[Toolbox, Call], Awaitable[Result]]] = {
    "search_memories": search_memories,
    "add_memory": add_memory,
    "update_memory": update_memory,
    "delete_memory": delete_memory,
    "delete_memories": delete_memories,
    "get_profile": get_profile,
    "set_profile_field": set_profile_field,
    "what_would_be_injected": what_would_be_injected,
}
