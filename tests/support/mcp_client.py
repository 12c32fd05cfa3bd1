"""The MCP SDK's own client (streamable HTTP + ``ClientSession``) against a gateway's ``/mcp``,
one session per call, as a desktop or IDE client would hold one per conversation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ResourceTemplate, TextResourceContents, Tool

from tests.support.gateway import KEY, RunningGateway

T = TypeVar("T")


class McpClient:
    def __init__(
        self,
        gateway: RunningGateway,
        key: str | None = KEY,
        *,
        user: str | None = None,
        tenant: str | None = None,
    ) -> None:
        self.url = f"{gateway.url}/mcp"
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        if user is not None:
            self.headers["X-User-Id"] = user
        if tenant is not None:
            self.headers["X-Tenant-Id"] = tenant

    def _run(self, use: Callable[[ClientSession], Awaitable[T]]) -> T:
        async def session() -> T:
            async with (
                httpx2.AsyncClient(headers=self.headers, timeout=60) as http,
                streamable_http_client(self.url, http_client=http) as (read, write),
                ClientSession(read, write) as client,
            ):
                await client.initialize()
                return await use(client)

        try:
            return asyncio.run(session())
        except BaseExceptionGroup as group:
            # The client's task groups wrap what the server answered: raise that, as a user sees it.
            raise _innermost(group) from None

    def tools(self) -> list[Tool]:
        return self._run(lambda client: _tools(client))

    def templates(self) -> list[ResourceTemplate]:
        return self._run(lambda client: _templates(client))

    def call(self, name: str, **arguments: Any) -> CallToolResult:
        return self._run(lambda client: client.call_tool(name, arguments))

    def result(self, name: str, **arguments: Any) -> Any:
        """A tool's answer, checked to be a success."""
        answer = self.call(name, **arguments)
        assert not answer.is_error, answer.content
        return answer.structured_content

    def error(self, name: str, **arguments: Any) -> str:
        """A tool's error message, checked to be an error."""
        answer = self.call(name, **arguments)
        assert answer.is_error, answer.structured_content
        text: str = answer.content[0].text  # type: ignore[union-attr]
        return text

    def read(self, uri: str) -> Any:
        async def read(client: ClientSession) -> str:
            [content] = (await client.read_resource(uri)).contents
            assert isinstance(content, TextResourceContents)
            return content.text

        return json.loads(self._run(read))


def _innermost(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


async def _tools(client: ClientSession) -> list[Tool]:
    return (await client.list_tools()).tools


async def _templates(client: ClientSession) -> list[ResourceTemplate]:
    return (await client.list_resource_templates()).resource_templates
