"""The ASGI application: routes, the services they share, and error rendering in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

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
from gateway.api.profile import ProfileAPI
from gateway.api.service import MemoryService
from gateway.audit import AuditTrail
from gateway.config import GatewayConfig
from gateway.context.service import MemoryServices, memory_context, start_memory
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
from gateway.learning.outcomes import OutcomeLog, Outcomes
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
from gateway.reload import ConfigSource, Reloader, on_hangup
from gateway.types import Handoff, NoLearning
from gateway.ui import Inspector
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

if TYPE_CHECKING:
    from gateway.mcp import McpEndpoint, Toolbox

log = logging.getLogger("gateway")

#: A readiness probe: returns None when healthy, else a short reason (no user data).
Check = Callable[[], Awaitable[str | None]]


@dataclass
class Services:
    """Everything a request handler needs: built at startup, and again on each reload from
    the same long-lived parts (``Core``)."""

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
    #: What the memory, profile, users and audit routes (and the UI and MCP) call.
    memory_service: MemoryService | None = None
    feedback_api: FeedbackAPI | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    profile_api: ProfileAPI | None = None
    #: The memory inspector at ``/ui`` (``ui.enabled`` and memory on), else None.
    inspector: Inspector | None = None
    #: The tools of ``/mcp``; None when ``mcp.enabled`` is off (or memory is).
    mcp: Toolbox | None = None


@dataclass
class Core:
    """What is built once per process and outlives reloads: metrics, the providers' clients
    (one set per API: chat completions, responses, Anthropic's messages, pass-through), the
    memory store and its models, learning and the outcome records."""

    metrics: Metrics
    upstreams: dict[str, Upstream]
    responses_upstreams: dict[str, Upstream]
    forwarder: Forwarder
    responses_forwarder: Forwarder
    relay: Relay
    stack: AsyncExitStack
    memory: MemoryServices | None = None
    audit: AuditTrail | None = None
    handoff: Handoff = field(default_factory=NoLearning)
    checks: dict[str, Check] = field(default_factory=dict)
    outcomes: Outcomes | None = None
    exchanges: OutcomeLog | None = None
    #: Who answers ``/v1/messages``, by ``messages_protocol``.
    messages_upstreams: dict[MessagesProtocol, MessagesUpstream] = field(default_factory=dict)


@dataclass
class Live:
    """The services requests use now. A reload swaps in new ones; a request under way keeps
    the ones it started with."""

    current: Services


def _uses_litellm(registry: ModelRegistry) -> bool:
    return any(route.protocol == "litellm" for route in registry.routes())


def _closed_at_exit(upstreams: dict[str, Upstream], stack: AsyncExitStack) -> dict[str, Upstream]:
    for upstream in upstreams.values():
        stack.push_async_callback(upstream.close)
    return upstreams


def _with_litellm(registry: ModelRegistry, core: Core) -> None:
    """Add the litellm clients at startup, or when a reload brings the first model that
    needs them."""
    if not _uses_litellm(registry) or "litellm" in core.upstreams:
        return
    # Imported only when configured: the module pulls in the openai SDK.
    from gateway.upstream.litellm import LiteLLM

    core.upstreams.update(_closed_at_exit({"litellm": LiteLLM()}, core.stack))
    extra = responses_upstreams(with_litellm=True)
    core.responses_upstreams.update(_closed_at_exit({"litellm": extra["litellm"]}, core.stack))


def _with_messages_upstreams(registry: ModelRegistry, core: Core) -> None:
    """Add who answers ``/v1/messages`` at startup, and litellm's Messages bridge when a reload
    brings the first model that needs it."""
    added: dict[MessagesProtocol, MessagesUpstream] = {}
    if not core.messages_upstreams:
        added["anthropic"], added["echo"] = AnthropicWire(), MessagesEcho()
    needs_litellm = any(messages_protocol(route) == "litellm" for route in registry.routes())
    if needs_litellm and "litellm" not in core.messages_upstreams:
        # Imported only when configured: the module pulls in the openai SDK.
        from gateway.upstream.litellm_messages import LiteLLMMessages

        added["litellm"] = LiteLLMMessages()
    for upstream in added.values():
        core.stack.push_async_callback(upstream.close)
    core.messages_upstreams.update(added)


async def start_core(config: GatewayConfig, stack: AsyncExitStack) -> Core:
    """Build what lives as long as the process; ``stack`` closes it all at shutdown."""
    registry = ModelRegistry(config.models)
    metrics = Metrics(
        model_names=registry.names(), multiprocess_dir=config.metrics.multiprocess_dir
    )
    stack.callback(metrics.close)
    pauses = CollectorPauses(metrics.gc_pause)
    pauses.start()
    stack.callback(pauses.stop)

    def count_failure(route: Route, error: UpstreamError) -> None:
        metrics.upstream_error(route.name, upstream_error_kind(error))

    upstreams = _closed_at_exit({"openai": OpenAIWire(), "echo": Echo()}, stack)
    answers = _closed_at_exit(responses_upstreams(with_litellm=False), stack)
    relay = Relay()
    stack.push_async_callback(relay.close)
    core = Core(
        metrics,
        upstreams,
        answers,
        Forwarder(upstreams, on_failure=count_failure),
        Forwarder(answers, on_failure=count_failure),
        relay,
        stack,
    )
    _with_litellm(registry, core)
    _with_messages_upstreams(registry, core)
    core.audit = AuditTrail.for_config(config, metrics)
    if config.memory.enabled:
        memory = await start_memory(config, metrics, stack)
        core.memory = memory
        core.checks["memory_store"] = _store_check(memory)
        core.outcomes, core.exchanges = start_outcomes(config, memory, metrics, stack)
        core.handoff = await start_learning(
            config, memory, registry, core.forwarder, metrics, stack, core.exchanges.restated
        )
    return core


def build_services(config: GatewayConfig, core: Core) -> Services:
    """The per-config parts (keys, models, the memory stage's settings, cohorts) over
    ``core``."""
    registry = ModelRegistry(config.models)
    _with_litellm(registry, core)
    _with_messages_upstreams(registry, core)
    authenticator = Authenticator(config.auth.keys, config.auth.admin_keys)
    memory = core.memory
    memory_api = None
    service = None
    profile_api = None
    feedback_api = None
    cohorts = None
    if memory is not None:
        memory = replace(memory, context=memory_context(config, memory, core.metrics))
        assert core.audit is not None
        service = MemoryService(config, memory, core.audit, registry)
        memory_api = MemoryAPI(
            authenticator,
            service,
            config.server.max_body_bytes,
            max_json_depth=config.server.max_json_depth,
        )
        profile_api = ProfileAPI(
            authenticator,
            service,
            core.metrics,
            config.server.max_body_bytes,
            max_json_depth=config.server.max_json_depth,
        )
    if core.outcomes is not None:
        cohorts = Cohorts(config.personalization, config.tenants)
        feedback_api = FeedbackAPI(
            authenticator,
            core.outcomes,
            config.personalization,
            core.metrics,
            config.server.max_body_bytes,
            max_json_depth=config.server.max_json_depth,
        )
    context = memory.context if memory else NoMemory()

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
            context=context,
            handoff=core.handoff,
            metrics=core.metrics,
            max_body_bytes=config.server.max_body_bytes,
            dialect=dialect,
            cohorts=cohorts,
            exchanges=core.exchanges,
            max_json_depth=config.server.max_json_depth,
            **extra,
        )

    # Messages picks its upstreams itself; the forwarder lends it retries and fallbacks.
    upstreams = core.messages_upstreams
    messages = endpoint(ANTHROPIC, core.forwarder, Messages, upstreams=upstreams)
    translator = core.upstreams.get("litellm")
    passthrough = PassThrough(
        authenticator=authenticator,
        registry=registry,
        relay=core.relay,
        embeddings=translator if isinstance(translator, Embeddings) else None,
        metrics=core.metrics,
        max_body_bytes=config.server.max_body_bytes,
        default_model=config.routing.default_model,
    )
    return Services(
        config,
        authenticator,
        registry,
        endpoint(CHAT, core.forwarder),
        endpoint(RESPONSES, core.responses_forwarder),
        messages,
        passthrough,
        core.metrics,
        memory,
        memory_api,
        service,
        feedback_api,
        core.checks,
        profile_api,
        _inspector(config, authenticator, service, core.metrics),
        _toolbox(config, authenticator, service, core.metrics),
    )


def _inspector(
    config: GatewayConfig,
    authenticator: Authenticator,
    service: MemoryService | None,
    metrics: Metrics,
) -> Inspector | None:
    if not config.ui.enabled or service is None:
        return None
    return Inspector(config, authenticator, service, metrics)


def _reloaded(core: Core, outcome: str) -> None:
    core.metrics.config_reload(outcome)
    if outcome == "applied" and core.audit is not None:
        try:
            core.audit.record(
                key_name="-", tenant=None, user_id=None, action="config.reload", via="signal"
            )
        except GatewayError as exc:  # the reload stands; only its record is missing
            log.error("config reload not audited: %s", exc.message)


def _store_check(memory: MemoryServices) -> Check:
    async def check() -> str | None:
        try:
            await asyncio.wait_for(memory.store.ping(), timeout=2.0)
        except (GatewayError, TimeoutError) as exc:
            return f"unreachable ({type(exc).__name__})"
        return None

    return check


def _services(request: Request) -> Services:
    live: Live = request.state.services
    return live.current


async def chat_completions(request: Request) -> Response | StreamResponse:
    return await _services(request).chat(request)


async def responses(request: Request) -> Response | StreamResponse:
    return await _services(request).responses(request)


async def messages(request: Request) -> Response | StreamResponse:
    return await _services(request).messages(request)


class _PassThroughApp:
    """An ASGI app rather than a request handler: the answer is relayed, not returned."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live: Live = scope["state"]["services"]
        await live.current.passthrough(scope, receive, send)


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


def _memory_endpoint(
    name: str, api_name: str = "memory_api"
) -> Callable[[Request], Awaitable[Response]]:
    """The handler ``name`` of the memory API (or of another API built with memory on)."""

    async def endpoint(request: Request) -> Response:
        api = getattr(_services(request), api_name)
        if api is None:
            raise NotFound("Memory is disabled on this gateway (memory.enabled: false).")
        handler: Callable[[Request], Awaitable[Response]] = getattr(api, name)
        return await handler(request)

    return endpoint


PROFILE_PATH = "/v1/users/{user_id:path}/profile"
PROFILE_METHODS = ("GET", "PUT", "PATCH", "DELETE")

MEMORY_ROUTES = [
    ("/v1/users", "users", "GET"),
    ("/v1/tenants", "tenants", "GET"),
    ("/v1/audit", "audit", "GET"),
    ("/v1/users/{user_id:path}/memories/preview", "preview", "POST"),
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


async def inspector(request: Request) -> Response:
    services = _services(request)
    if services.inspector is None:
        reason = "ui.enabled is false" if not services.config.ui.enabled else "memory is off"
        raise NotFound(f"No endpoint at {request.url.path}: the inspector is off ({reason}).")
    return await services.inspector(request)


def _mcp_tools(request: Request) -> Toolbox | None:
    return _services(request).mcp


def _toolbox(
    config: GatewayConfig,
    authenticator: Authenticator,
    service: MemoryService | None,
    metrics: Metrics,
) -> Toolbox | None:
    if not config.mcp.enabled or service is None:
        return None
    from gateway.mcp import Toolbox

    return Toolbox(authenticator, service, metrics, config.memory.categories)


def _mcp_endpoint(config: GatewayConfig) -> McpEndpoint | None:
    """``/mcp``, when on at startup (``mcp.enabled`` waits for a restart: the SDK's session
    manager runs as long as the process). Imported only when on: the SDK takes half a second
    to import."""
    if not config.mcp.enabled:
        return None
    from gateway.mcp import McpEndpoint

    return McpEndpoint(_mcp_tools, config.server.max_body_bytes)


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


def create_app(config: GatewayConfig, source: ConfigSource | None = None) -> Starlette:
    """The application for ``config``; with ``source``, ``SIGHUP`` reloads the file there."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        async with AsyncExitStack() as stack:
            core = await start_core(config, stack)
            live = Live(build_services(config, core))
            if source is not None:
                reloader = Reloader(
                    source,
                    config,
                    lambda new: setattr(live, "current", build_services(new, core)),
                    partial(_reloaded, core),
                )
                stack.enter_context(on_hangup(reloader))
            if mcp is not None:
                await stack.enter_async_context(mcp.running())
            log.info("gateway ready: %d models", len(live.current.registry.names()))
            yield {"services": live, METRICS_STATE: core.metrics}

    owned: list[HTTPRoute] = [
        HTTPRoute("/v1/models", list_models, methods=["GET"]),
        HTTPRoute("/v1/feedback", feedback, methods=["POST"]),
        *(
            HTTPRoute(path, _memory_endpoint(name), methods=[method], name=f"memory-{name}")
            for path, name, method in MEMORY_ROUTES
        ),
        *(
            HTTPRoute(
                PROFILE_PATH,
                _memory_endpoint(method.lower(), "profile_api"),
                methods=[method],
                name=f"profile-{method.lower()}",
            )
            for method in PROFILE_METHODS
        ),
    ]
    routes: list[BaseRoute] = [
        HTTPRoute("/v1/chat/completions", chat_completions, methods=["POST"]),
        HTTPRoute("/v1/responses", responses, methods=["POST"]),
        HTTPRoute("/v1/messages", messages, methods=["POST"]),
        HTTPRoute("/healthz", healthz, methods=["GET"]),
        HTTPRoute("/readyz", readyz, methods=["GET"]),
        # Outside /v1: never passed through, whether the inspector is on or off.
        HTTPRoute("/ui", inspector, methods=["GET", "POST"]),
        HTTPRoute("/ui/{rest:path}", inspector, methods=["GET", "POST"]),
        *owned,
    ]
    if config.metrics.enabled:
        routes.append(HTTPRoute("/metrics", metrics_text, methods=["GET"]))
    mcp = _mcp_endpoint(config)
    if mcp is not None:
        # POST only: stateless, there is no session to DELETE, and a GET would hold an event
        # stream open that nothing ever writes to.
        routes.append(HTTPRoute("/mcp", mcp, methods=["POST"]))
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
