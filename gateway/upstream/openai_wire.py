"""Forwarding to providers that already speak the OpenAI wire format, over pooled connections.

The request body goes out as the client sent it (bar the model name and any injected memory),
and the provider's bytes come back untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.upstream import Reply
from gateway.upstream.http1 import Client, ConnectionFailed, Pool, Response
from gateway.upstream.routes import Route
from gateway.upstream.status import (
    passed_headers,
    require_key,
    status_error,
    timed_out,
    unreachable,
)

#: The path every ``openai`` route's URL ends with.
CHAT_PATH = "/chat/completions"


class OpenAIWire:
    """An ``Upstream`` that sends the request body as-is, apart from the model name.

    Requests go to each route's chat-completions URL, or, given ``path`` (``/responses``), to
    that path beside it."""

    def __init__(self, path: str = CHAT_PATH) -> None:
        self._client = Client()
        self._targets: dict[str, _Target] = {}
        self._path = path

    async def complete(self, route: Route, body: dict[str, Any]) -> Reply:
        return await read_answer(route, lambda: self._post(route, body))

    async def stream(self, route: Route, body: dict[str, Any]) -> WireStream:
        return await open_answer(route, lambda: self._post(route, body))

    async def _post(self, route: Route, body: dict[str, Any]) -> Response:
        target = self._targets.get(route.name) or self._target(route)
        payload = orjson.dumps({**body, "model": route.upstream_model})
        return await target.pool.request("POST", target.path, target.headers, payload)

    def _target(self, route: Route) -> _Target:
        assert route.url is not None
        url = route.url.removesuffix(CHAT_PATH) + self._path
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            # The body is passed through untouched: do not ask for compression.
            "Accept-Encoding": "identity",
            **route.config.headers,
        }
        if route.config.api_key is not None:
            headers["Authorization"] = f"Bearer {route.config.api_key.get_secret_value()}"
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        target = _Target(self._client.pool(url), path, headers)
        self._targets[route.name] = target
        return target

    async def close(self) -> None:
        await self._client.aclose()


#: Sends one request and waits for the head of its answer.
Send = Callable[[], Awaitable[Response]]


async def read_answer(route: Route, send: Send) -> Reply:
    """``send`` and read the whole answer within the route's timeout; a refused key, a timeout, a
    lost connection or an error status raise ``UpstreamError``."""
    require_key(route)
    try:
        async with asyncio.timeout(route.config.timeout_s):
            response = await send()
            data = await response.read()
    except TimeoutError as exc:
        raise timed_out(route) from exc
    except ConnectionFailed as exc:
        raise unreachable(route, exc) from exc
    if response.status >= 400:
        raise status_error(route, response.status, data, _mapping(response))
    return Reply(response.status, passed_headers(response.headers), data)


async def open_answer(route: Route, send: Send) -> WireStream:
    """``send`` and wait for a streamed answer to start, with the same errors as
    ``read_answer``."""
    require_key(route)
    try:
        async with asyncio.timeout(route.config.timeout_s):
            response = await send()
            if response.status >= 400:
                data = await response.read()
                raise status_error(route, response.status, data, _mapping(response))
    except TimeoutError as exc:
        raise timed_out(route) from exc
    except ConnectionFailed as exc:
        raise unreachable(route, exc) from exc
    return WireStream(route, response)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one route's requests go, worked out once."""

    pool: Pool
    path: str
    headers: Mapping[str, str]


class WireStream:
    """A provider's SSE answer, yielded chunk by chunk as the bytes arrive.

    A stream may legitimately run for minutes, so the timeout bounds each wait for the next
    chunk, not the whole stream."""

    def __init__(self, route: Route, response: Response) -> None:
        self.status = response.status
        self.headers = passed_headers(response.headers)
        self._route = route
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self._response.chunks()
        while True:
            try:
                async with asyncio.timeout(self._route.config.timeout_s):
                    chunk = await anext(chunks, None)
            except TimeoutError as exc:
                raise timed_out(self._route) from exc
            except ConnectionFailed as exc:
                raise unreachable(self._route, exc) from exc
            if chunk is None:
                return
            yield chunk

    async def aclose(self) -> None:
        # A stream cut short drops its connection, so the provider stops generating; a stream
        # read to its end has already gone back to the pool.
        self._response.close()


def _mapping(response: Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers}
