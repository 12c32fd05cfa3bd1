"""``POST /v1/messages``: Anthropic's Messages API, through the same stages as a chat completion.

Authentication, identity (``X-User-Id``, else ``metadata.user_id``), the memory stage, learning
and accounting are the chat's own; the body, the answer and the stream are read in the
``ANTHROPIC`` dialect (``gateway.proxy.anthropic``). What differs besides is forwarding: the
upstream is chosen per route (``gateway.upstream.anthropic.messages_protocol``) and the client's
``anthropic-version`` and ``anthropic-beta`` headers go with the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from gateway.proxy.anthropic import FORWARDED_HEADERS
from gateway.proxy.chat import ChatCompletions, Exchange
from gateway.upstream import Reply, ReplyStream
from gateway.upstream.anthropic import MessagesProtocol, MessagesUpstream, messages_protocol
from gateway.upstream.routes import Route

T = TypeVar("T")
#: One call to a provider: (upstream, route, body, the client's Anthropic headers).
Call = Callable[[MessagesUpstream, Route, dict[str, Any], Mapping[str, str]], Awaitable[T]]


class Messages(ChatCompletions):
    """The Messages endpoint (with the ``ANTHROPIC`` dialect); ``upstreams`` answer it by
    ``messages_protocol``."""

    def __init__(
        self, *, upstreams: Mapping[MessagesProtocol, MessagesUpstream], **stages: Any
    ) -> None:
        super().__init__(**stages)
        self._upstreams = upstreams

    async def _send(self, exchange: Exchange) -> tuple[Route, Reply]:
        return await self._attempt(exchange, lambda up, *args: up.complete(*args))

    async def _open(self, exchange: Exchange) -> tuple[Route, ReplyStream]:
        return await self._attempt(exchange, lambda up, *args: up.stream(*args))

    async def _attempt(self, exchange: Exchange, call: Call[T]) -> tuple[Route, T]:
        sent = exchange.headers
        headers = {name: sent[name] for name in FORWARDED_HEADERS if name in sent}

        def one(route: Route) -> Awaitable[T]:
            upstream = self._upstreams[messages_protocol(route)]
            return call(upstream, route, exchange.body, headers)

        return await self._forwarder.attempt(exchange.chain, one)
