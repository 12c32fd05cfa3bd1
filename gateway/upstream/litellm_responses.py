"""The Responses API for ``litellm`` routes, through ``litellm.aresponses``.

litellm calls a provider's own Responses API where it has one (OpenAI, Azure) and otherwise
translates the request to the provider's chat API and the answer back (its Responses bridge).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import openai

from gateway._litellm import load_litellm
from gateway.upstream import Reply
from gateway.upstream.litellm import _arguments, translate
from gateway.upstream.responses import sse, unsupported
from gateway.upstream.routes import Route


class LiteLLMResponses:
    """An ``Upstream`` for Responses bodies that hands them to ``litellm.aresponses``."""

    async def complete(self, route: Route, body: dict[str, Any]) -> Reply:
        response = await _call(route, body, stream=False)
        # warnings=False: litellm's own models warn about the usage shapes it fills in itself.
        return Reply(200, {}, response.model_dump_json(exclude_none=True, warnings=False).encode())

    async def stream(self, route: Route, body: dict[str, Any]) -> LiteLLMEvents:
        return LiteLLMEvents(route, await _call(route, body, stream=True))

    async def close(self) -> None:
        # The litellm clients are shared with the chat upstream, which closes them.
        return None


async def _call(route: Route, body: dict[str, Any], *, stream: bool) -> Any:
    litellm = load_litellm()
    try:
        return await litellm.aresponses(**_arguments(route, body, stream=stream))
    except litellm.LiteLLMUnknownProvider as exc:
        # litellm has neither a Responses API nor a chat API to bridge to for this provider.
        raise unsupported(route) from exc
    except openai.OpenAIError as exc:
        raise translate(route, exc) from exc


class LiteLLMEvents:
    status = 200
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, route: Route, response: Any) -> None:
        self._route = route
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for event in self._response:
                yield sse(event.model_dump(mode="json", exclude_none=True, warnings=False))
        except openai.OpenAIError as exc:
            raise translate(self._route, exc) from exc

    async def aclose(self) -> None:
        close = getattr(self._response, "aclose", None)
        if close is not None:
            await close()
