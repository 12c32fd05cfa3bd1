"""Who answers an Anthropic Messages request (``POST /v1/messages``), and Anthropic's own API.

``anthropic/`` models get the client's bytes over pooled connections (``AnthropicWire``); the
built-in ``echo`` model answers in kind; every other model goes through litellm's Messages
bridge (``gateway.upstream.litellm_messages``), which translates for its provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import orjson

from gateway.upstream import Reply, ReplyStream
from gateway.upstream.http1 import Client, Response
from gateway.upstream.openai_wire import WireStream, open_answer, read_answer
from gateway.upstream.routes import Route

MessagesProtocol = Literal["anthropic", "litellm", "echo"]
DEFAULT_API_BASE = "https://api.anthropic.com"
#: Sent when the client names no version (the API requires one): the first, still served.
DEFAULT_VERSION = "2023-06-01"


class MessagesUpstream(Protocol):
    """Like ``gateway.upstream.Upstream``, for Anthropic-shaped bodies; ``headers`` are the
    client's ``anthropic-version`` and ``anthropic-beta``."""

    async def complete(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Reply: ...

    async def stream(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> ReplyStream: ...

    async def close(self) -> None: ...


def messages_protocol(route: Route) -> MessagesProtocol:
    """How ``route`` answers a Messages request."""
    if route.protocol == "echo":
        return "echo"
    if route.protocol == "litellm" and route.config.model.startswith("anthropic/"):
        return "anthropic"
    return "litellm"


def messages_url(route: Route) -> str:
    """The Messages endpoint of ``route``'s ``api_base`` (given with or without ``/v1``)."""
    base = (route.config.api_base or DEFAULT_API_BASE).rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


def sse_event(name: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event as Anthropic frames them: the type named twice."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicWire:
    """A ``MessagesUpstream`` that sends the body as-is, apart from the model name."""

    def __init__(self) -> None:
        self._client = Client()

    async def complete(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Reply:
        return await read_answer(route, lambda: self._post(route, body, headers))

    async def stream(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> WireStream:
        return await open_answer(route, lambda: self._post(route, body, headers))

    async def _post(
        self, route: Route, body: dict[str, Any], client: Mapping[str, str]
    ) -> Response:
        url = messages_url(route)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Accept-Encoding": "identity",
            "anthropic-version": client.get("anthropic-version", DEFAULT_VERSION),
            **{k: v for k, v in client.items() if k != "anthropic-version"},
            **route.config.headers,
        }
        if route.config.api_key is not None:
            headers["x-api-key"] = route.config.api_key.get_secret_value()
        payload = orjson.dumps({**body, "model": route.upstream_model})
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return await self._client.pool(url).request("POST", path, headers, payload)

    async def close(self) -> None:
        await self._client.aclose()
