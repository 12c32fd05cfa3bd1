"""Counting and timing proxied requests from outside the handlers.

``RequestMetrics`` is a pure ASGI middleware: it sees every way a request can end (an answer, an
error raised before the handler returned, a stream cut short, an unhandled exception) without any
handler having to remember to report it, and it times the whole exchange, stream included.

The handler knows what the middleware cannot see without parsing the body again: which model was
asked for and whether a stream was. It says so with ``tag_request`` as soon as it knows; a
request that fails before that (a bad key, a body that is not JSON) is counted as model
``other``, and ``stream`` is then read from the answer's content type.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observability.metrics import Metrics

#: Where the lifespan puts the process's ``Metrics`` in the application state.
METRICS_STATE = "metrics"
_MODEL = "metrics.model"
_STREAM = "metrics.stream"
PROXIED_PATHS = frozenset({"/v1/chat/completions", "/v1/responses", "/v1/messages"})


def tag_request(scope: Scope, *, model: str, stream: bool) -> None:
    """Record the request's model and streaming for its metrics (call from the handler)."""
    state = scope.setdefault("state", {})
    state[_MODEL] = model
    state[_STREAM] = stream


class RequestMetrics:
    """Reports ``request_started`` / ``request_finished`` for the proxied paths."""

    def __init__(self, app: ASGIApp, *, paths: Collection[str] = PROXIED_PATHS) -> None:
        self.app = app
        self._paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self._paths:
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        metrics: Metrics | None = state.get(METRICS_STATE)
        if metrics is None:
            await self.app(scope, receive, send)
            return
        await self._measure(metrics, state, scope, receive, send)

    async def _measure(
        self, metrics: Metrics, state: dict[str, Any], scope: Scope, receive: Receive, send: Send
    ) -> None:
        # No answer started means the exception below becomes the generic 500.
        status, streamed = 500, False

        async def watch(message: Message) -> None:
            nonlocal status, streamed
            if message["type"] == "http.response.start":
                status = message["status"]
                streamed = _is_event_stream(message.get("headers", ()))
            await send(message)

        started = time.perf_counter()
        metrics.request_started()
        try:
            await self.app(scope, receive, watch)
        finally:
            metrics.request_finished(
                state.get(_MODEL, ""),
                status,
                bool(state.get(_STREAM, streamed)),
                time.perf_counter() - started,
            )


def _is_event_stream(headers: Collection[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in headers
    )
