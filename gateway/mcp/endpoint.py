"""``/mcp``: the gateway's key check in front of the MCP SDK's streamable-HTTP transport.

The transport runs stateless, answering each POST with one JSON body: any worker process can
serve any request (no session to find again, no stream to keep open), which is how the gateway
runs with ``server.workers > 1`` behind a load balancer. The key is checked here, before the SDK
reads the body, so a request without a valid key costs no JSON-RPC parsing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from importlib.metadata import version
from typing import Any

from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    TextResourceContents,
)
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from gateway.errors import GatewayError, NotFound
from gateway.mcp.schemas import RESOURCE_TEMPLATES
from gateway.mcp.tools import Toolbox
from gateway.proxy.request import check_declared_size

#: The toolbox of the configuration in force (a reload builds a new one), or None when
#: ``mcp.enabled`` was turned off by a reload.
Current = Callable[[Request], Toolbox | None]
Context = ServerRequestContext[Any]

INSTRUCTIONS = (
    "The memory of one user of this gateway. Search it before answering from assumptions; add "
    "a memory when the user states a lasting fact or preference; delete what they ask to forget."
)


class McpEndpoint:
    """The ASGI app at ``/mcp``. ``running()`` belongs in the gateway's lifespan: the SDK's
    session manager serves every request from a task group opened there."""

    def __init__(self, current: Current, max_body_bytes: int) -> None:
        self._current = current
        self._max_body_bytes = max_body_bytes
        server: Server[Any] = Server(
            "memory-gateway",
            version=version("memory-gateway"),
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
        )
        # No DNS-rebinding check (``security_settings=None``): every request carries a gateway
        # key, which a page a browser was tricked into loading does not have.
        self._manager = StreamableHTTPSessionManager(
            server, json_response=True, stateless=True, max_request_body_size=max_body_bytes
        )

    def running(self) -> AbstractAsyncContextManager[None]:
        return self._manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        self._toolbox(request).admit(request)
        # The SDK refuses a larger body too, but in plain text; this says it in the OpenAI shape.
        check_declared_size(request.headers, self._max_body_bytes)
        await self._manager.handle_request(scope, receive, send)

    def _toolbox(self, request: Request | None) -> Toolbox:
        toolbox = self._current(request) if request is not None else None
        if toolbox is None:
            raise NotFound("The MCP endpoint is disabled on this gateway (mcp.enabled: false).")
        return toolbox

    async def _list_tools(
        self, ctx: Context, params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=list(self._toolbox(_request(ctx)).tools))

    async def _call_tool(self, ctx: Context, params: CallToolRequestParams) -> CallToolResult:
        request = _request(ctx)
        return await self._toolbox(request).call(request, params.name, params.arguments or {})

    async def _list_templates(
        self, ctx: Context, params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(resource_templates=list(RESOURCE_TEMPLATES))

    async def _read_resource(
        self, ctx: Context, params: ReadResourceRequestParams
    ) -> ReadResourceResult:
        request = _request(ctx)
        uri = str(params.uri)
        try:
            text = await self._toolbox(request).read(request, uri)
        except GatewayError as exc:
            # A resource has no error result of its own, unlike a tool: a JSON-RPC error it is.
            raise MCPError(INVALID_PARAMS, exc.message, {"uri": uri}) from exc
        content = TextResourceContents(uri=uri, text=text, mime_type="application/json")
        return ReadResourceResult(contents=[content])


def _request(ctx: Context) -> Request:
    # Over streamable HTTP the SDK hands each handler the HTTP request it came in.
    request = ctx.request
    assert isinstance(request, Request)
    return request
