"""``POST /v1/chat/completions``: the stages of ``gateway.proxy`` strung together.

The same stages serve every endpoint with memory; what differs between endpoints (the body's
shape, where the memories go, how the answer reads) is the ``Dialect`` the orchestrator is
given (``gateway.proxy.dialect``)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from gateway.observability import Metrics, context_utilization, tag_request
from gateway.proxy.auth import Authenticator
from gateway.proxy.cohort import Cohorts
from gateway.proxy.dialect import CHAT, Dialect, answer_id
from gateway.proxy.identity import resolve_identity
from gateway.proxy.request import MAX_JSON_DEPTH, check_depth, read_body
from gateway.proxy.session import resolve_session
from gateway.proxy.stream import StreamResponse, StreamTap
from gateway.types import (
    ChatRequest,
    ExchangeLog,
    ExchangeRef,
    Handoff,
    Identity,
    NoExchangeLog,
    Prepared,
)
from gateway.upstream import Reply, ReplyStream
from gateway.upstream.forward import Forwarder
from gateway.upstream.routes import ModelRegistry, Route


class ContextStage(Protocol):
    async def prepare(self, identity: Identity, chat: ChatRequest, route: Route) -> Prepared: ...


class NoMemory:
    """The context stage when memory is disabled."""

    _OFF = Prepared(headers={"x-memory-status": "off"})

    async def prepare(self, identity: Identity, chat: ChatRequest, route: Route) -> Prepared:
        return self._OFF


@dataclass(slots=True)
class Exchange:
    """One request on its way through the stages."""

    chat: ChatRequest
    identity: Identity
    chain: list[Route]
    prepared: Prepared
    started: float
    #: When the request was ready to go upstream.
    ready: float
    #: The body to send upstream, memories included.
    body: dict[str, Any]
    #: The client's request headers.
    headers: Mapping[str, str]
    #: The ``x-request-id`` the client is told (the provider's, else one of ours).
    request_id: str = ""


class ChatCompletions:
    def __init__(
        self,
        *,
        authenticator: Authenticator,
        registry: ModelRegistry,
        forwarder: Forwarder,
        context: ContextStage,
        handoff: Handoff,
        metrics: Metrics,
        max_body_bytes: int,
        cohorts: Cohorts | None = None,
        exchanges: ExchangeLog | None = None,
        dialect: Dialect = CHAT,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self._cohorts = cohorts
        self._exchanges = exchanges or NoExchangeLog()
        self._auth = authenticator
        self._registry = registry
        self._forwarder = forwarder
        self._context = context
        self._handoff = handoff
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._dialect = dialect
        self._max_json_depth = max_json_depth

    async def __call__(self, request: Request) -> Response | StreamResponse:
        started = time.perf_counter()
        principal = self._auth.for_models(request.headers)
        authenticated = time.perf_counter()
        raw = await read_body(request, self._max_body_bytes)
        check_depth(raw, self._max_json_depth)
        chat = self._dialect.parse(raw)
        tag_request(request.scope, model=chat.model, stream=chat.stream)
        chain = self._registry.chain(chat.model)
        session = resolve_session(request.headers, chat.body, chat.messages)
        identity = resolve_identity(request.headers, chat.user, principal.tenant, session)
        if self._cohorts is not None:
            identity = self._cohorts.assign(identity, request.headers, principal)
        parsed = time.perf_counter()
        prepared = await self._context.prepare(identity, chat, chain[0])
        body = self._dialect.body(chat, prepared)
        ready = time.perf_counter()
        exchange = Exchange(chat, identity, chain, prepared, started, ready, body, request.headers)
        self._metrics.overhead("auth", authenticated - started)
        self._metrics.overhead("parse", parsed - authenticated)
        if chat.stream:
            return await self._stream(exchange)
        return await self._complete(exchange)

    async def _send(self, exchange: Exchange) -> tuple[Route, Reply]:
        """Forward the request: the step an endpoint that picks its own upstreams replaces."""
        return await self._forwarder.complete(exchange.chain, exchange.body)

    async def _open(self, exchange: Exchange) -> tuple[Route, ReplyStream]:
        return await self._forwarder.stream(exchange.chain, exchange.body)

    async def _complete(self, exchange: Exchange) -> Response:
        sent = time.perf_counter()
        route, reply = await self._send(exchange)
        received = time.perf_counter()
        self._metrics.upstream(route.name, route.provider, received - sent)
        text, usage = self._dialect.reply(reply.body)
        completion_id = answer_id(reply.body) if exchange.identity.user else None
        exchange.request_id = _request_id(reply.headers)
        # Journaled before the client has the answer, so a crash cannot lose what it was told.
        self._learn(exchange, text, completion_id)
        overhead = self._overhead(exchange, sent, time.perf_counter() - received)
        headers = {**reply.headers, **exchange.prepared.headers, **overhead}
        headers.update(self._cohort_headers(exchange, reply.headers))
        # Accounting waits until the client has the answer.
        after = BackgroundTask(self._account, exchange, route, text, usage)
        return Response(
            reply.body, reply.status, headers, media_type="application/json", background=after
        )

    async def _stream(self, exchange: Exchange) -> StreamResponse:
        sent = time.perf_counter()
        route, stream = await self._open(exchange)
        self._metrics.upstream(route.name, route.provider, time.perf_counter() - sent)
        overhead = self._overhead(exchange, sent, 0.0)
        exchange.request_id = _request_id(stream.headers)

        def complete(tap: StreamTap) -> None:
            if tap.first_token_at is not None:
                first = tap.first_token_at - exchange.started
                self._metrics.time_to_first_token(route.name, first)
            self._learn(exchange, tap.text, tap.completion_id)
            self._account_now(exchange, route, tap.text, tap.usage)

        def abort(reason: str, tap: StreamTap) -> None:
            return None

        headers = {**stream.headers, **exchange.prepared.headers, **overhead}
        headers.update(self._cohort_headers(exchange, stream.headers))
        return StreamResponse(stream, headers, complete, abort, self._dialect.tap())

    def _overhead(self, exchange: Exchange, sent: float, after: float) -> dict[str, str]:
        """Our own time: everything before the request went upstream, plus ``after``."""
        self._metrics.overhead("forwarding_setup", sent - exchange.ready)
        seconds = (sent - exchange.started) + after
        self._metrics.overhead("total", seconds)
        return {"x-gateway-overhead-ms": f"{seconds * 1000:.3f}"}

    def _cohort_headers(self, exchange: Exchange, passed: Mapping[str, str]) -> dict[str, str]:
        """Which cohort answered, and the id to rate the answer by (``POST /v1/feedback``),
        unless the provider's own ``x-request-id`` is passed on already."""
        headers = {} if _find(passed, "x-request-id") else {"x-request-id": exchange.request_id}
        if self._cohorts is not None and exchange.identity.user is not None:
            headers["x-memory-cohort"] = exchange.identity.cohort
        return headers

    def _learn(self, exchange: Exchange, text: str, completion_id: str | None) -> None:
        """Once the whole answer has passed: record the exchange and hand it to learning."""
        identity = exchange.identity
        self._exchanges.record(identity, exchange.chat, exchange.request_id, completion_id)
        if identity.learns:
            ref = ExchangeRef(exchange.request_id, identity.cohort, exchange.prepared.injected_ids)
            self._handoff.submit(identity, exchange.chat, text, ref)

    async def _account(
        self, exchange: Exchange, route: Route, text: str, usage: Mapping[str, Any] | None
    ) -> None:
        # A coroutine, so that starlette runs it on the event loop, not on a worker thread.
        self._account_now(exchange, route, text, usage)

    def _account_now(
        self, exchange: Exchange, route: Route, text: str, usage: Mapping[str, Any] | None
    ) -> None:
        """Token counts and how much of the injected context the answer used."""
        if usage:
            for kind, keys in _USAGE_KEYS:
                count = next((usage[k] for k in keys if k in usage), None)
                if isinstance(count, int):
                    self._metrics.tokens(route.name, kind, count)
        if exchange.prepared.injected:
            ratio = context_utilization(exchange.prepared.injected, text)
            self._metrics.context_utilization(ratio)


def _find(headers: Mapping[str, str], wanted: str) -> str | None:
    """A header's value whatever the case of its name (providers' headers keep theirs)."""
    for name, value in headers.items():
        if name.lower() == wanted and value:
            return value
    return None


def _request_id(headers: Mapping[str, str]) -> str:
    """The provider's request id when it sent one (so both sides name the request alike),
    else a new one."""
    # 128 random bits as uuid4 has, at a twentieth of uuid4's ~12 us (1.3% of a memory-on
    # request's samples under load).
    return _find(headers, "x-request-id") or f"req-{secrets.token_hex(16)}"


#: Where each token count sits in an answer's usage: chat completions name them one way, the
#: Responses and Messages APIs the other.
_USAGE_KEYS = (
    ("prompt", ("prompt_tokens", "input_tokens")),
    ("completion", ("completion_tokens", "output_tokens")),
)
