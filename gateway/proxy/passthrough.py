"""Every ``/v1/*`` request the gateway does not handle itself: passed to a provider untouched.

``auth`` (the gateway key, which never travels upstream) -> ``upload`` (the model the request
names, without holding an upload) -> the route of that model, or of ``routing.default_model``
-> ``gateway.upstream.relay`` (the provider's bytes, both ways, as they arrive) ->
``stream.RelayResponse``. Models that litellm translates are asked for embeddings through
litellm; any other endpoint cannot be translated for them and answers 400.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.errors import GatewayError, InvalidRequest
from gateway.observability import Metrics, endpoint_label
from gateway.proxy.auth import Authenticator
from gateway.proxy.stream import RelayResponse
from gateway.proxy.upload import Outgoing, read_outgoing
from gateway.upstream import Reply
from gateway.upstream.relay import Call, Relay
from gateway.upstream.routes import ModelRegistry, Route

EMBEDDINGS_PATH = "/v1/embeddings"


@runtime_checkable
class Embeddings(Protocol):
    """An upstream that can translate ``POST /v1/embeddings`` (litellm)."""

    async def embedding(self, route: Route, body: dict[str, Any]) -> Reply: ...


@dataclass(slots=True)
class _Outcome:
    """What the metrics learn about one request as it goes."""

    status: int = 500
    model: str = ""


class PassThrough:
    """An ASGI app serving every pass-through request; counts each under its endpoint."""

    def __init__(
        self,
        *,
        authenticator: Authenticator,
        registry: ModelRegistry,
        relay: Relay,
        embeddings: Embeddings | None,
        metrics: Metrics,
        max_body_bytes: int,
        default_model: str | None,
    ) -> None:
        self._auth = authenticator
        self._registry = registry
        self._relay = relay
        self._embeddings = embeddings
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._default_model = default_model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        outcome = _Outcome()
        try:
            await self._serve(Request(scope, receive), send, outcome)
        except GatewayError as exc:
            outcome.status = exc.status_code
            raise
        finally:
            seconds = time.perf_counter() - started
            endpoint = endpoint_label(scope["path"])
            self._metrics.passthrough(endpoint, outcome.model, outcome.status, seconds)

    async def _serve(self, request: Request, send: Send, outcome: _Outcome) -> None:
        self._auth.for_models(request.headers)
        outgoing = await read_outgoing(request, self._max_body_bytes)
        route = self._route(outgoing, request)
        outcome.model = route.name
        sent = time.perf_counter()
        if route.protocol != "openai":
            reply = await self._translate(route, outgoing, request)
            self._metrics.upstream(route.name, route.provider, time.perf_counter() - sent)
            outcome.status = reply.status
            answer = Response(reply.body, reply.status, reply.headers, "application/json")
            await answer(request.scope, request.receive, send)
            return
        body, length = outgoing.renamed(route.upstream_model)
        call = Call(request.method, _upstream_path(request.scope), request.headers, body, length)
        stream = await self._relay.open(route, call)
        self._metrics.upstream(route.name, route.provider, time.perf_counter() - sent)
        outcome.status = stream.status
        await RelayResponse(stream)(request.scope, request.receive, send)

    def _route(self, outgoing: Outgoing, request: Request) -> Route:
        name = outgoing.model or self._default_model
        if name is None:
            raise InvalidRequest(
                f"{request.method} {request.url.path} names no model, and this gateway has no "
                "routing.default_model to send it to: send 'model' (in a multipart form, before "
                "the file), or ask the operator to set routing.default_model.",
                param="model",
            )
        return self._registry.get(name)

    async def _translate(self, route: Route, outgoing: Outgoing, request: Request) -> Reply:
        path = request.url.path
        translatable = request.method == "POST" and path == EMBEDDINGS_PATH
        if translatable and self._embeddings is not None and route.protocol == "litellm":
            if outgoing.json is None:
                raise InvalidRequest("The request body must be a JSON object.")
            return await self._embeddings.embedding(route, outgoing.json)
        raise InvalidRequest(
            f"The model '{route.name}' cannot serve {request.method} {path}: only models whose "
            "provider speaks the OpenAI API are passed through, and for the others only "
            f"POST {EMBEDDINGS_PATH} is translated (by litellm).",
            param="model",
        )


def _upstream_path(scope: Scope) -> str:
    """The path below the provider's ``/v1``, query included, exactly as the client sent it."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1").removeprefix("/v1")
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path
