"""Counting and timing proxied requests from outside the handlers (``RequestMetrics``), on a
small application served by uvicorn on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route

from gateway.errors import AuthenticationFailed
from gateway.observability import METRICS_STATE, Metrics, RequestMetrics, tag_request

TRACKED = {"/tagged", "/broken", "/refused", "/events"}


async def unauthorized(request: Request, exc: Exception) -> PlainTextResponse:
    return PlainTextResponse("unauthorized", status_code=401)


def tagging_app(metrics: Metrics) -> Starlette:
    async def tagged(request: Request) -> PlainTextResponse:
        tag_request(request.scope, model="gpt-4o-mini", stream=True)
        return PlainTextResponse("ok")

    async def refused(request: Request) -> PlainTextResponse:
        raise AuthenticationFailed("no key")  # before the handler knows the model

    async def events(request: Request) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def broken(request: Request) -> PlainTextResponse:
        tag_request(request.scope, model="gpt-4o-mini", stream=False)
        raise RuntimeError("boom")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
        yield {METRICS_STATE: metrics}

    return Starlette(
        routes=[
            Route("/tagged", tagged, methods=["POST"]),
            Route("/broken", broken, methods=["POST"]),
            Route("/refused", refused, methods=["POST"]),
            Route("/events", events, methods=["POST"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(RequestMetrics, paths=TRACKED)],
        exception_handlers={AuthenticationFailed: unauthorized},
    )


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_handler_names_the_model_and_an_unhandled_error_counts_as_500() -> None:
    metrics = Metrics(model_names=["gpt-4o-mini"])
    with serve(tagging_app(metrics)) as url:
        assert httpx.post(f"{url}/tagged").status_code == 200
        assert httpx.post(f"{url}/broken").status_code == 500
        assert httpx.post(f"{url}/untracked").status_code == 404
    text = metrics.render()[0].decode()
    assert 'gateway_requests_total{model="gpt-4o-mini",status_code="200",stream="true"} 1.0' in text
    assert (
        'gateway_requests_total{model="gpt-4o-mini",status_code="500",stream="false"} 1.0' in text
    )
    assert 'status_code="404"' not in text
    assert "gateway_in_flight_requests 0.0" in text


def test_an_untagged_request_counts_as_model_other_and_streaming_is_read_from_the_answer() -> None:
    metrics = Metrics(model_names=["gpt-4o-mini"])
    with serve(tagging_app(metrics)) as url:
        assert httpx.post(f"{url}/refused").status_code == 401
        events = httpx.post(f"{url}/events")
        assert events.status_code == 200 and events.text == "data: [DONE]\n\n"
    text = metrics.render()[0].decode()
    assert 'gateway_requests_total{model="other",status_code="401",stream="false"} 1.0' in text
    assert 'gateway_requests_total{model="other",status_code="200",stream="true"} 1.0' in text
    assert "gateway_in_flight_requests 0.0" in text
