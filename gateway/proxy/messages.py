"""``POST /v1/messages``: Anthropic's Messages API, through the same stages as a chat completion.

Authentication, identity (``X-User-Id``, else ``metadata.user_id``), the memory stage, learning
and accounting are the chat's own; what differs is the wire format: the body is read as a
Messages request, the block goes into ``system``, the provider is chosen per route
(``gateway.upstream.anthropic``) and the answer is read and tapped as Anthropic's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from gateway.proxy.anthropic import MessagesRequest, MessagesTap, parse_messages, read_message
from gateway.proxy.chat import ChatCompletions, Exchange
from gateway.proxy.stream import StreamTap
from gateway.upstream import Reply, ReplyStream
from gateway.upstream.anthropic import MessagesProtocol, MessagesUpstream, messages_protocol
from gateway.upstream.routes import Route

T = TypeVar("T")
#: One call to a provider: (upstream, route, body, the client's Anthropic headers).
Call = Callable[[MessagesUpstream, Route, dict[str, Any], Mapping[str, str]], Awaitable[T]]


class Messages(ChatCompletions):
    """The Messages endpoint; ``upstreams`` answer it by ``messages_protocol``."""

    def __init__(
        self, *, upstreams: Mapping[MessagesProtocol, MessagesUpstream], **stages: Any
    ) -> None:
        super().__init__(**stages)
        self._upstreams = upstreams

    def _parse(self, raw: bytes, headers: Mapping[str, str]) -> MessagesRequest:
        return parse_messages(raw, headers)

    async def _send(self, exchange: Exchange) -> tuple[Route, Reply]:
        return await self._attempt(exchange, lambda up, *args: up.complete(*args))

    async def _open(self, exchange: Exchange) -> tuple[Route, ReplyStream]:
        return await self._attempt(exchange, lambda up, *args: up.stream(*args))

    async def _attempt(self, exchange: Exchange, call: Call[T]) -> tuple[Route, T]:
        request = exchange.chat
        assert isinstance(request, MessagesRequest)
        body = request.body_with(exchange.prepared.block)

        def one(route: Route) -> Awaitable[T]:
            upstream = self._upstreams[messages_protocol(route)]
            return call(upstream, route, body, request.headers)

        return await self._forwarder.attempt(exchange.chain, one)

    def _read(self, body: bytes) -> tuple[str, Mapping[str, Any] | None]:
        return read_message(body)

    def _tap(self) -> StreamTap:
        return MessagesTap()
