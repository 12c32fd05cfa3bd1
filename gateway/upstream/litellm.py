"""Providers that need translation (Anthropic, Bedrock, Vertex, Ollama, ...), through litellm.

litellm is imported on the first request that needs it, so a gateway that only forwards
OpenAI-wire traffic never pays its import time or memory.
"""

from __future__ import annotations

import base64
import socket
from array import array
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import openai
import orjson

from gateway._litellm import load_litellm
from gateway.errors import (
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_body,
)
from gateway.upstream import Reply
from gateway.upstream.routes import Route
from gateway.upstream.status import key_missing, key_rejected, provider_failed, redact

_DONE = b"data: [DONE]\n\n"


class LiteLLM:
    """An ``Upstream`` that hands the request to ``litellm.acompletion``."""

    async def complete(self, route: Route, body: dict[str, Any]) -> Reply:
        try:
            response = await load_litellm().acompletion(**_arguments(route, body, stream=False))
        except openai.OpenAIError as exc:
            raise translate(route, exc) from exc
        return Reply(200, {}, response.model_dump_json(exclude_none=False).encode())

    async def stream(self, route: Route, body: dict[str, Any]) -> LiteLLMStream:
        try:
            response = await load_litellm().acompletion(**_arguments(route, body, stream=True))
        except openai.OpenAIError as exc:
            raise translate(route, exc) from exc
        return LiteLLMStream(route, response)

    async def embedding(self, route: Route, body: dict[str, Any]) -> Reply:
        """``POST /v1/embeddings`` through ``litellm.aembedding``, answered in OpenAI's shape."""
        # Asked of the provider as floats, whatever the client wants: many providers know no
        # other encoding, and the SDKs' default (base64) is applied here instead.
        encoding = body.get("encoding_format")
        arguments = _arguments(route, body, stream=False)
        for unsent in ("stream", "_skip_mcp_handler", "encoding_format"):
            arguments.pop(unsent, None)
        try:
            response = await load_litellm().aembedding(**arguments)
        except openai.OpenAIError as exc:
            raise translate(route, exc) from exc
        answer = response.model_dump(exclude_none=True)
        answer["data"] = [_encoded(item, encoding) for item in answer.get("data") or ()]
        return Reply(200, {}, orjson.dumps(answer))

    async def close(self) -> None:
        # litellm keeps provider clients in a process-wide cache; close them with the app and
        # empty the cache so a later app in the same process does not inherit closed clients.
        litellm = load_litellm()
        from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

        await close_litellm_async_clients()  # type: ignore[no-untyped-call]
        litellm.in_memory_llm_clients_cache.flush_cache()


class LiteLLMStream:
    status = 200
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, route: Route, response: Any) -> None:
        self._route = route
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response:
                yield b"data: " + chunk.model_dump_json(exclude_none=True).encode() + b"\n\n"
        except openai.OpenAIError as exc:
            raise translate(self._route, exc) from exc
        yield _DONE

    async def aclose(self) -> None:
        close = getattr(self._response, "aclose", None)
        if close is not None:
            await close()


def _encoded(item: dict[str, Any], encoding: Any) -> dict[str, Any]:
    """One embedding as the client asked for it: floats, or base64 of float32 (native order,
    which is little-endian, as OpenAI's, on every platform the gateway runs on)."""
    vector = item.get("embedding")
    if encoding == "base64" and isinstance(vector, list):
        item["embedding"] = base64.b64encode(array("f", vector).tobytes()).decode()
    elif encoding != "base64" and isinstance(vector, str):
        item["embedding"] = array("f", base64.b64decode(vector)).tolist()
    return item


def _arguments(route: Route, body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    config = route.config
    arguments: dict[str, Any] = {**body, **config.litellm_params}
    arguments.update(model=config.model, stream=stream, timeout=config.timeout_s, num_retries=0)
    # Any request with tools otherwise detours through litellm's proxy-only MCP bridge, which
    # imports a package litellm does not install ("No module named 'mcp'").
    arguments["_skip_mcp_handler"] = True
    if config.api_base:
        arguments["api_base"] = config.api_base
    if config.api_key is not None:
        arguments["api_key"] = config.api_key.get_secret_value()
    if config.headers:
        arguments["extra_headers"] = dict(config.headers)
    return arguments


def translate(route: Route, exc: openai.OpenAIError) -> UpstreamError:
    """Map litellm's exceptions (subclasses of openai's) onto ours, by class and status."""
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout(
            f"The provider for model '{route.name}' did not answer within "
            f"{route.config.timeout_s:g} s."
        )
    if _cannot_connect(exc):
        return UpstreamUnavailable(
            f"Could not reach the provider for model '{route.name}' (cannot connect)."
        )
    status = _status(exc)
    if status is None:
        return UpstreamUnavailable(
            f"Could not reach the provider for model '{route.name}' ({type(exc).__name__})."
        )
    if status in (401, 403):
        # Whether a provider needs a key (Bedrock and Vertex take other credentials, Ollama none)
        # is litellm's to know: without a configured key, its refusal means the key is missing.
        return key_missing(route) if route.config.api_key is None else key_rejected(route, status)
    if status >= 500:
        return provider_failed(route, status)
    kind = "rate_limit_error" if status == 429 else "invalid_request_error"
    message = redact(str(getattr(exc, "message", "")).encode(), route).decode()
    return UpstreamStatus(
        status, error_body(message, kind), message=f"provider answered HTTP {status}"
    )


def _status(exc: openai.OpenAIError) -> int | None:
    """The provider's HTTP status, or None when no answer came back."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code
    if isinstance(exc, openai.APIConnectionError):
        return None
    # litellm raises its plain ``APIError`` for statuses it has no class for (a 403 from an
    # OpenAI-compatible provider, say), with the status as an attribute.
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and status >= 400 else None


def _cannot_connect(exc: BaseException) -> bool:
    """litellm reports a refused connection as an HTTP 500 from the provider; the cause chain
    (the OS's refusal, or a failed name lookup, at its root) tells the two apart."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError | socket.gaierror):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
