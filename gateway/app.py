"""The ASGI application: routes, the services they share, and error rendering in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.routing import Route as HTTPRoute
from starlette.types import Receive, Scope, Send

from gateway.api.feedback import FeedbackAPI
from gateway.api.memory import MemoryAPI
from gateway.config import GatewayConfig
from gateway.context.service import MemoryServices, start_memory
from gateway.errors import (
    ANTHROPIC_INTERNAL_ERROR_BODY,
    INTERNAL_ERROR_BODY,
    GatewayError,
    NotFound,
    UpstreamError,
    anthropic_body,
    anthropic_error_body,
    error_body,
)
from gateway.learning.service import start_learning, start_outcomes
from gateway.observability import (
    METRICS_STATE,
    CollectorPauses,
    Metrics,
    RequestMetrics,
    upstream_error_kind,
)
from gateway.proxy.anthropic import ANTHROPIC
from gateway.proxy.auth import Authenticator
from gateway.proxy.chat import ChatCompletions, NoMemory
from gateway.proxy.cohort import Cohorts
from gateway.proxy.dialect import CHAT, Dialect
from gateway.proxy.messages import Messages
from gateway.proxy.passthrough import Embeddings, PassThrough
from gateway.proxy.responses import RESPONSES
from gateway.proxy.stream import StreamResponse
from gateway.types import ExchangeLog, Handoff, NoLearning
from gateway.upstream import Upstream
from gateway.upstream.anthropic import (
    AnthropicWire,
    MessagesProtocol,
    MessagesUpstream,
    messages_protocol,
)
from gateway.upstream.echo import Echo, MessagesEcho
from gateway.upstream.forward import Forwarder
from gateway.upstream.openai_wire import OpenAIWire
from gateway.upstream.relay import Relay
from gateway.upstream.responses import responses_upstreams
from gateway.upstream.routes import ModelRegistry, Route

log = logging.getLogger("gateway")

#: A readiness probe: returns None when healthy, else a short reason (no user data).
Check = Callable[[], Awaitable[str | None]]


@dataclass
class Services:
    """Everything a request handler needs, built once per process at startup."""

    config: GatewayConfig
    authenticator: Authenticator
    registry: ModelRegistry
    chat: ChatCompletions
    responses: ChatCompletions
    messages: ChatCompletions
    passthrough: PassThrough
    metrics: Metrics
    memory: MemoryServices | None = None
    memory_api: MemoryAPI | None = None
    feedback_api: FeedbackAPI | None = None
    checks: dict[str, Check] = field(default_factory=dict)


async def _build_upstreams(registry: ModelRegistry, stack: AsyncExitStack) -> dict[str, Upstream]:
    upstreams: dict[str, Upstream] = {"openai": OpenAIWire(), "echo": Echo()}
    if _uses_litellm(registry):
        # Imported only when configured: the module pulls in the openai SDK.
        from gateway.upstream.litellm import LiteLLM

        upstreams["litellm"] = LiteLLM()
    for upstream in upstreams.values():
        stack.push_async_callback(upstream.close)
    return upstreams


def _uses_litellm(registry: ModelRegistry) -> bool:
    return any(route.protocol == "litellm" for route in registry.routes())


def _responses_upstreams(registry: ModelRegistry, stack: AsyncExitStack) -> dict[str, Upstream]:
    upstreams = responses_upstreams(with_litellm=_uses_litellm(registry))
    for upstream in upstreams.values():
        stack.push_async_callback(upstream.close)
    return upstreams


def _messages_upstreams(
    registry: ModelRegistry, stack: AsyncExitStack
) -> dict[MessagesProtocol, MessagesUpstream]:
    upstreams: dict[MessagesProtocol, MessagesUpstream] = {
        "anthropic": AnthropicWire(),
        "echo": MessagesEcho(),
    }
    if any(messages_protocol(route) == "litellm" for route in registry.routes()):
        # Imported only when configured: the module pulls in the openai SDK.
        from gateway.upstream.litellm_messages import LiteLLMMessages

        upstreams["litellm"] = LiteLLMMessages()
    for upstream in upstreams.values():
        stack.push_async_callback(upstream.close)
    return upstreams


async def start_services(config: GatewayConfig, stack: AsyncExitStack) -> Services:
    registry = ModelRegistry(config.models)
    authenticator = Authenticator(config.auth.keys)
    metrics = Metrics(
        model_names=registry.names(), multiprocess_dir=config.metrics.multiprocess_dir
    )
    stack.callback(metrics.close)
    pauses = CollectorPauses(metrics.gc_pause)
    pauses.start()
    stack.callback(pauses.stop)

    def count_failure(route: Route, error: UpstreamError) -> None:
        metrics.upstream_error(route.name, upstream_error_kind(error))

    upstreams = await _build_upstreams(registry, stack)
    forwarder = Forwarder(upstreams, on_failure=count_failure)
    memory = None
    memory_api = None
    handoff: Handoff = NoLearning()
    checks: dict[str, Check] = {}
    cohorts: Cohorts | None = None
    exchanges: ExchangeLog | None = None
    feedback_api: FeedbackAPI | None = None
    if config.memory.enabled:
        memory = await start_memory(config, metrics, stack)
        memory_api = MemoryAPI(
            authenticator,
            memory.store,
            memory.retriever,
            config.memory.categories,
            config.server.max_body_bytes,
            timeout_s=config.memory.api.timeout_s,
            max_json_depth=config.server.max_json_depth,
        )
        checks["memory_store"] = _store_check(memory)
        outcomes, outcome_log = start_outcomes(config, memory, metrics, stack)
        cohorts, exchanges = Cohorts(config.personalization, config.tenants), outcome_log
        feedback_api = FeedbackAPI(
            authenticator,
            outcomes,
            config.personalization,
            metrics,
            config.server.max_body_bytes,
            max_json_depth=config.server.max_json_depth,
        )
        handoff = await start_learning(
            config, memory, registry, forwarder, metrics, stack, outcome_log.restated
        )

    def endpoint(
        dialect: Dialect,
        forwarder: Forwarder,
        kind: type[ChatCompletions] = ChatCompletions,
        **extra: Any,
    ) -> ChatCompletions:
        return kind(
            authenticator=authenticator,
            registry=registry,
            forwarder=forwarder,
            context=memory.context if memory else NoMemory(),
            handoff=handoff,
            metrics=metrics,
            max_body_bytes=config.server.max_body_bytes,
            dialect=dialect,
            cohorts=cohorts,
            exchanges=exchanges,
            max_json_depth=config.server.max_json_depth,
            **extra,
        )

    chat = endpoint(CHAT, forwarder)
    responses_forwarder = Forwarder(_responses_upstreams(registry, stack), on_failure=count_failure)
    responses = endpoint(RESPONSES, responses_forwarder)
    # Messages picks its upstreams itself; the forwarder lends it retries and fallbacks.
    answering = _messages_upstreams(registry, stack)
    messages = endpoint(ANTHROPIC, forwarder, Messages, upstreams=answering)
    relay = Relay()
    stack.push_async_callback(relay.close)
    translator = upstreams.get("litellm")
    passthrough = PassThrough(
        authenticator=authenticator,
        registry=registry,
        relay=relay,
        embeddings=translator if isinstance(translator, Embeddings) else None,
        metrics=metrics,
        max_body_bytes=config.server.max_body_bytes,
        default_model=config.routing.default_model,
    )
    return Services(
        config,
        authenticator,
        registry,
        chat,
        responses,
        messages,
        passthrough,
        metrics,
        memory,
        memory_api,
        feedback_api,
        checks,
    )


def _store_check(memory: MemoryServices) -> Check:
    async def check() -> str | None:
        try:
            await asyncio.wait_for(memory.store.ping(), timeout=2.0)
        except (GatewayError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"
        return None

    return check


def _services(request: Request) -> Services:
    services: Services = request.state.services
    return services


async def chat_completions(request: Request) -> Response | StreamResponse:
    return await _services(request).chat(request)


async def responses(request: Request) -> Response | StreamResponse:
    return await _services(request).responses(request)


async def messages(request: Request) -> Response | StreamResponse:
    return await _services(request).messages(request)


class _PassThroughApp:
    """An ASGI app rather than a request handler: the answer is relayed, not returned."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["state"]["services"]
        await services.passthrough(scope, receive, send)


class PassThroughRoute(HTTPRoute):
    """``/v1/{anything}``, tried last, for every method; it leaves alone the paths the gateway
    owns outright (the memory API under ``/v1/users/``, the model list), where a wrong method
    stays a 405 and a user id never reaches a provider."""

    def __init__(self, owned: list[HTTPRoute]) -> None:
        super().__init__("/v1/{rest:path}", _PassThroughApp(), methods=PASSTHROUGH_METHODS)
        # Each owned route's fixed part: a whole path, or a prefix ending in "/".
        self._owned = tuple({route.path.partition("{")[0] for route in owned})

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope["path"]
        for owned in self._owned:
            if path == owned or (owned.endswith("/") and path.startswith(owned)):
                return Match.NONE, {}
        return super().matches(scope)


PASSTHROUGH_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def list_models(request: Request) -> Response:
    services = _services(request)
    services.authenticator.authenticate(request.headers)
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "gateway"}
        for name in services.registry.names()
    ]
    return _json({"object": "list", "data": data})


def _memory_endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        api = _services(request).memory_api
        if api is None:
            raise NotFound("Memory is disabled on this gateway (memory.enabled: false).")
        handler: Callable[[Request], Awaitable[Response]] = getattr(api, name)
        return await handler(request)

    return endpoint


MEMORY_ROUTES = [
    # The fixed sub-paths come before {memory_id}, which would otherwise swallow them. User ids
    # may hold "/" (sent as %2F, which the server decodes before routing): hence ":path".
    ("/v1/users/{user_id:path}/memories/export", "export", "GET"),
    ("/v1/users/{user_id:path}/memories/search", "search", "POST"),
    ("/v1/users/{user_id:path}/memories", "list", "GET"),
    ("/v1/users/{user_id:path}/memories", "create", "POST"),
    ("/v1/users/{user_id:path}/memories", "erase", "DELETE"),
    ("/v1/users/{user_id:path}/memories/{memory_id}", "get", "GET"),
    ("/v1/users/{user_id:path}/memories/{memory_id}", "patch", "PATCH"),
    ("/v1/users/{user_id:path}/memories/{memory_id}", "delete", "DELETE"),
]


async def feedback(request: Request) -> Response:
    api = _services(request).feedback_api
    if api is None:
        raise NotFound("Feedback needs memory, which is disabled here (memory.enabled: false).")
    return await api(request)


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


async def readyz(request: Request) -> Response:
    results = {name: await check() for name, check in _services(request).checks.items()}
    ready = all(reason is None for reason in results.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {name: reason or "ok" for name, reason in results.items()},
    }
    return _json(body, 200 if ready else 503)


async def metrics_text(request: Request) -> Response:
    services = _services(request)
    if services.config.metrics.require_key:
        services.authenticator.authenticate(request.headers)
    # Merging the workers' files reads from disk: keep it off the event loop.
    body, content_type = await run_in_threadpool(services.metrics.render)
    return Response(body, media_type=content_type)


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


#: Paths whose clients (Anthropic's SDK) parse Anthropic's error shape, not OpenAI's.
ANTHROPIC_PATHS = frozenset({"/v1/messages"})


def _anthropic(request: Request) -> bool:
    # Anthropic's SDK also calls paths below it (count_tokens, batches), passed through.
    path = request.url.path
    return path in ANTHROPIC_PATHS or path.startswith(tuple(f"{p}/" for p in ANTHROPIC_PATHS))


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    body = anthropic_body(exc) if _anthropic(request) else exc.body()
    return Response(body, exc.status_code, exc.headers(), media_type="application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        message, kind = f"Method {request.method} is not allowed on {request.url.path}.", None
    else:
        message, kind = f"No endpoint at {request.url.path}.", "not_found_error"
    if _anthropic(request):
        body = anthropic_error_body(exc.status_code, message)
    else:
        body = error_body(message, kind or "invalid_request_error", None, None)
    return Response(body, exc.status_code, exc.headers, media_type="application/json")


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the traceback reaches the log, never the client.
    body = ANTHROPIC_INTERNAL_ERROR_BODY if _anthropic(request) else INTERNAL_ERROR_BODY
    return Response(body, 500, media_type="application/json")


def create_app(config: GatewayConfig) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        async with AsyncExitStack() as stack:
            services = await start_services(config, stack)
            log.info("gateway ready: %d models", len(services.registry.names()))
            yield {"services": services, METRICS_STATE: services.metrics}

    owned: list[HTTPRoute] = [
        HTTPRoute("/v1/models", list_models, methods=["GET"]),
        HTTPRoute("/v1/feedback", feedback, methods=["POST"]),
        *(
            HTTPRoute(path, _memory_endpoint(name), methods=[method], name=f"memory-{name}")
            for path, name, method in MEMORY_ROUTES
        ),
    ]
    routes: list[BaseRoute] = [
        HTTPRoute("/v1/chat/completions", chat_completions, methods=["POST"]),
        HTTPRoute("/v1/responses", responses, methods=["POST"]),
        HTTPRoute("/v1/messages", messages, methods=["POST"]),
        HTTPRoute("/healthz", healthz, methods=["GET"]),
        HTTPRoute("/readyz", readyz, methods=["GET"]),
        *owned,
    ]
    if config.metrics.enabled:
        routes.append(HTTPRoute("/metrics", metrics_text, methods=["GET"]))
    # Last: whatever the routes above do not serve goes to the provider.
    routes.append(PassThroughRoute(owned))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestMetrics)],
        exception_handlers={
            GatewayError: _gateway_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
