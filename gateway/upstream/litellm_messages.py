"""Anthropic Messages requests for every provider but Anthropic, through litellm's bridge.

``litellm.anthropic.messages.acreate`` translates the body for the route's provider (OpenAI's
models go to its Responses API, other OpenAI-wire servers to chat completions) and answers in
Anthropic's shapes: a Message, or the ``message_start`` ... ``message_stop`` event stream.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import openai
import orjson

from gateway._litellm import load_litellm
from gateway.errors import UpstreamUnavailable
from gateway.upstream import Reply
from gateway.upstream.anthropic import sse_event
from gateway.upstream.litellm import LiteLLM, _arguments, translate
from gateway.upstream.routes import Route


class LiteLLMMessages:
    """A ``MessagesUpstream`` that hands the request to litellm's Messages bridge."""

    async def complete(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Reply:
        answer = await self._call(route, body, stream=False)
        if not isinstance(answer, dict):
            answer = answer.model_dump(exclude_none=False)
        return Reply(200, {}, orjson.dumps(answer))

    async def stream(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> LiteLLMMessagesStream:
        return LiteLLMMessagesStream(route, await self._call(route, body, stream=True))

    async def _call(self, route: Route, body: dict[str, Any], *, stream: bool) -> Any:
        arguments = _arguments(route, body, stream=stream)
        # The chat bridge's own detour; the Messages bridge takes no such flag.
        arguments.pop("_skip_mcp_handler", None)
        try:
            return await load_litellm().anthropic.messages.acreate(**arguments)
        except openai.OpenAIError as exc:
            raise translate(route, exc) from exc

    async def close(self) -> None:
        # A gateway whose routes all speak OpenAI's wire format to chat builds no chat LiteLLM
        # upstream, so this one closes litellm's shared clients too: if litellm was ever loaded.
        if "litellm" in sys.modules:
            await LiteLLM().close()


class LiteLLMMessagesStream:
    status = 200
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, route: Route, events: AsyncIterator[Any]) -> None:
        self._route = route
        self._events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for event in self._events:
                # Framed bytes from most providers; a parsed event from some.
                if isinstance(event, bytes):
                    if event.startswith(b"event: error"):
                        # litellm's own account of a failed stream, exception text and all.
                        raise UpstreamUnavailable(
                            f"The provider for model '{self._route.name}' failed mid-stream."
                        )
                    yield event
                elif isinstance(event, dict):
                    yield sse_event(str(event.get("type", "")), event)
        except openai.OpenAIError as exc:
            raise translate(self._route, exc) from exc

    async def aclose(self) -> None:
        close = getattr(self._events, "aclose", None)
        if close is not None:
            await close()
