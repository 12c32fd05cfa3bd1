"""A mock OpenAI-compatible provider: a real HTTP server on loopback, driven by the request.

Tests choose the behaviour with a ``mock`` object in the request body, which the gateway passes
through untouched like any field it does not own::

    {"mock": {"mode": "stream", "chunks": ["Hel", "lo"], "delay_s": 0.05}}

The endpoints the gateway passes through untouched (embeddings, audio, files) are served by
``tests.support.mock_passthrough``. Modes: ``plain`` (default), ``stream``, ``tools``, ``json`` (answer with ``content`` as given),
``fail`` (answer ``status`` with an OpenAI error body, the first ``times`` requests sharing a
``key`` only), ``drop`` (close the connection without answering), ``stream_cut`` (stream some
chunks, then drop). ``delay_s`` delays the answer (or each chunk). Every request is recorded.

Requests the gateway builds itself (memory extraction) carry no ``mock`` field; they take their
behaviour from ``MockState.script``, a queue of the same objects, one per request, then from
``MockState.script_default`` (the plain answer when that is None too).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class MockState:
    requests: list[Received] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    #: Streams whose client went away before the end, by request id.
    abandoned: list[str] = field(default_factory=list)
    abandoned_event: threading.Event = field(default_factory=threading.Event)
    #: Streams with ``hold_after: n`` wait for this after their n-th event.
    release: threading.Event = field(default_factory=threading.Event)
    #: Behaviours for requests without a ``mock`` field, one each, in order.
    script: deque[dict[str, Any]] = field(default_factory=deque)
    script_default: dict[str, Any] | None = None

    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    def scripted(self) -> dict[str, Any]:
        """The behaviour for the next request that did not bring its own."""
        try:
            return self.script.popleft()
        except IndexError:
            return self.script_default or {}


def completion(model: str, content: str | None, **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        "system_fingerprint": "fp_mock",
    }


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    event = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


TOOL_CALL = {
    "id": "call_mock_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


class MockProvider:
    def __init__(self, state: MockState) -> None:
        self.state = state

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.state.requests.append(Received(request.path, dict(request.headers), body))
        spec = body["mock"] if "mock" in body else self.state.scripted()
        spec = spec or {}
        mode = spec.get("mode", "plain")
        delay = float(spec.get("delay_s", 0))
        model = body.get("model", "mock")
        if mode == "fail" and self._should_fail(spec):
            await asyncio.sleep(delay)
            return self._error(spec)
        if mode == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if mode in ("stream", "stream_cut") or body.get("stream"):
            return await self._stream(request, body, spec, model)
        await asyncio.sleep(delay)
        return web.json_response(self._answer(mode, spec, model), dumps=_dumps)

    def _should_fail(self, spec: dict[str, Any]) -> bool:
        key = str(spec.get("key", "default"))
        times = spec.get("times")
        self.state.failures[key] += 1
        return times is None or self.state.failures[key] <= int(times)

    def _error(self, spec: dict[str, Any]) -> web.Response:
        status = int(spec.get("status", 500))
        headers = {"retry-after": str(spec["retry_after"])} if "retry_after" in spec else {}
        message = spec.get("message", f"mock failure {status}")
        body = spec.get(
            "raw_body",
            _dumps(
                {"error": {"message": message, "type": "mock_error", "param": None, "code": None}}
            ),
        )
        return web.Response(
            status=status, text=body, headers=headers, content_type="application/json"
        )

    def _answer(self, mode: str, spec: dict[str, Any], model: str) -> dict[str, Any]:
        if mode == "tools":
            return completion(model, None, tool_calls=[TOOL_CALL])
        return completion(model, spec.get("content", "Hello from the mock."))

    async def _stream(
        self, request: web.Request, body: dict[str, Any], spec: dict[str, Any], model: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        delay = float(spec.get("delay_s", 0))
        events = self._events(body, spec, model)
        cut_after = int(spec.get("cut_after", 2)) if spec.get("mode") == "stream_cut" else None
        hold_after = spec.get("hold_after")
        try:
            for index, event in enumerate(events):
                if cut_after is not None and index == cut_after:
                    assert request.transport is not None
                    request.transport.close()
                    return response
                if index == hold_after:
                    await self._wait_for_release()
                await asyncio.sleep(delay)
                await response.write(event)
        except (ConnectionResetError, asyncio.CancelledError):
            self.state.abandoned.append(str(spec.get("key", "")))
            self.state.abandoned_event.set()
            raise
        await response.write_eof()
        return response

    async def _wait_for_release(self) -> None:
        deadline = time.monotonic() + 10
        while not self.state.release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    def _events(self, body: dict[str, Any], spec: dict[str, Any], model: str) -> list[bytes]:
        events = [chunk(model, {"role": "assistant", "content": ""})]
        if spec.get("mode") == "tools":
            events.append(chunk(model, {"tool_calls": [{"index": 0, **TOOL_CALL}]}))
            events.append(chunk(model, {}, "tool_calls"))
        else:
            for piece in spec.get("chunks", ["Hello", " from", " the", " mock."]):
                events.append(chunk(model, {"content": piece}))
            events.append(chunk(model, {}, "stop"))
        options = body.get("stream_options") or {}
        if options.get("include_usage"):
            usage = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
            final = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "model": model}
            final.update(created=1_700_000_000, choices=[], usage=usage)
            events.append(b"data: " + orjson.dumps(final) + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        return events

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "mock", "object": "model"}]})


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class RunningMock:
    url: str
    state: MockState

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


@contextmanager
def mock_provider() -> Iterator[RunningMock]:
    """Run the mock on a free loopback port in a background thread."""
    # Imported here: that module builds on this one's MockState.
    from tests.support.mock_passthrough import PassThroughEndpoints

    state = MockState()
    provider = MockProvider(state)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", provider.chat)
    app.router.add_get("/v1/models", provider.models)
    PassThroughEndpoints(state).add_routes(app)
    # Imported here: the Responses and Anthropic mocks build on this module's state.
    from tests.support.mock_anthropic import MockAnthropic
    from tests.support.mock_responses import MockResponses

    app.router.add_post("/v1/responses", MockResponses(state).responses)
    app.router.add_post("/v1/messages", MockAnthropic(state).messages)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield RunningMock(f"http://127.0.0.1:{port}", state)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
