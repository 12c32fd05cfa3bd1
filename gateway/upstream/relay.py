"""Relaying any other OpenAI endpoint (embeddings, audio, files, ...) to a provider, as bytes.

The request goes out with the client's method, path, query and headers (less its credentials and
the hop-by-hop ones) and the provider's key; its body, when it is an upload, is written as it is
read from the client. The answer comes back as it arrives, whatever its media type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.upstream.http1 import Client, ConnectionFailed, Pool, Response
from gateway.upstream.openai_wire import WireStream
from gateway.upstream.routes import Route
from gateway.upstream.status import require_key, status_error, timed_out, unreachable

#: Request headers that describe the client's hop, carry its credentials (an organization or
#: project goes with a key, and the key upstream is the operator's), or are the gateway's own
#: (a user id must not travel to the provider); the rest go upstream as sent.
_NOT_FORWARDED = frozenset(
    {
        "host",
        "authorization",
        "x-api-key",
        "api-key",
        "openai-organization",
        "openai-project",
        "cookie",
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
        "accept-encoding",
        "x-user-id",
        "x-memory",
        "x-context-budget",
        "x-retrieval-mode",
    }
)


@dataclass(frozen=True, slots=True)
class Call:
    """One request to relay: ``path`` is below the provider's ``/v1`` and keeps its query."""

    method: str
    path: str
    headers: Mapping[str, str]
    #: The whole body, or its pieces as they arrive from the client.
    body: bytes | AsyncIterable[bytes]
    #: The body's size when known; a streamed body of unknown size goes chunked.
    length: int | None


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's request headers that go on to the provider."""
    return {k: v for k, v in headers.items() if k.lower() not in _NOT_FORWARDED}


class RelayedStream(WireStream):
    """The provider's answer, any media type, yielded as it arrives."""

    def __init__(self, route: Route, response: Response) -> None:
        super().__init__(route, response)
        self.media_type = response.header("content-type")
        declared = response.header("content-length")
        #: The body's size as the provider declared it, when it arrives as declared.
        self.length = (
            int(declared)
            if declared is not None
            and declared.isdigit()
            and response.header("content-encoding") is None
            else None
        )


class Relay:
    """Sends a ``Call`` to the provider of an ``openai``-protocol route."""

    def __init__(self) -> None:
        self._client = Client()
        self._targets: dict[str, tuple[Pool, str]] = {}

    async def open(self, route: Route, call: Call) -> RelayedStream:
        """Send the call and wait for the answer's head; an error answer raises."""
        require_key(route)
        pool, base_path = self._targets.get(route.name) or self._target(route)
        path = base_path + call.path
        headers = self._headers(route, call)
        try:
            if isinstance(call.body, bytes):
                async with asyncio.timeout(route.config.timeout_s):
                    response = await pool.request(call.method, path, headers, call.body)
            else:
                # An upload may take longer than the timeout to send: each wait for the provider
                # is bounded instead.
                response = await pool.stream(
                    call.method, path, headers, call.body, call.length, route.config.timeout_s
                )
            if response.status >= 400:
                async with asyncio.timeout(route.config.timeout_s):
                    data = await response.read()
                mapping = {k.lower(): v for k, v in response.headers}
                raise status_error(route, response.status, data, mapping)
        except TimeoutError as exc:
            raise timed_out(route) from exc
        except ConnectionFailed as exc:
            raise unreachable(route, exc) from exc
        return RelayedStream(route, response)

    def _target(self, route: Route) -> tuple[Pool, str]:
        """The pool and the base path of ``route``'s provider, worked out once."""
        base = route.api_base
        assert base is not None
        target = self._client.pool(base), urlsplit(base).path.rstrip("/")
        self._targets[route.name] = target
        return target

    def _headers(self, route: Route, call: Call) -> dict[str, str]:
        headers = {
            **forwarded_headers(call.headers),
            # The answer is passed through as it comes: do not ask for compression.
            "Accept-Encoding": "identity",
            **route.config.headers,
        }
        if route.config.api_key is not None:
            headers["Authorization"] = f"Bearer {route.config.api_key.get_secret_value()}"
        return headers

    async def close(self) -> None:
        await self._client.aclose()
