"""Forwarding to a provider that speaks the OpenAI wire format, against the mock provider on
loopback: what goes out, what comes back, and how each failure reaches the caller."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio

from gateway.config import ModelConfig
from gateway.errors import UpstreamStatus, UpstreamTimeout, UpstreamUnavailable
from gateway.upstream.openai_wire import OpenAIWire
from gateway.upstream.routes import Route, build_route
from tests.support.mock_upstream import RunningMock

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest_asyncio.fixture
async def wire() -> AsyncIterator[OpenAIWire]:
    upstream = OpenAIWire()
    yield upstream
    await upstream.close()


def route(api_base: str, **fields: Any) -> Route:
    # The wire keeps one connection target per model name, as the registry's names are unique.
    config = {"name": "chat", "model": "openai/mock-model", "api_base": api_base, "api_key": "sk-1"}
    return build_route(ModelConfig.model_validate(config | fields))


@pytest.mark.asyncio
async def test_the_body_goes_out_as_sent_but_for_the_model_and_comes_back_untouched(
    mock: RunningMock, wire: OpenAIWire
) -> None:
    body = {"model": "chat", "messages": MESSAGES, "seed": 7, "mock": {"content": "Hello!"}}
    target = route(mock.base_url, headers={"OpenAI-Organization": "org-1"})
    reply = await wire.complete(target, body)
    sent = mock.state.requests[-1]
    assert sent.body == {**body, "model": "mock-model"}
    assert sent.headers["Authorization"] == "Bearer sk-1"
    assert sent.headers["OpenAI-Organization"] == "org-1"
    assert reply.status == 200
    assert orjson.loads(reply.body)["choices"][0]["message"]["content"] == "Hello!"


@pytest.mark.asyncio
async def test_a_stream_yields_the_providers_events_as_they_come(
    mock: RunningMock, wire: OpenAIWire
) -> None:
    body = {"model": "chat", "messages": MESSAGES, "stream": True, "mock": {"chunks": ["a", "b"]}}
    stream = await wire.stream(route(mock.base_url), body)
    assert stream.status == 200
    raw = b"".join([chunk async for chunk in stream])
    await stream.aclose()
    events = [e.removeprefix(b"data: ") for e in raw.split(b"\n\n") if e]
    assert events[-1] == b"[DONE]"
    pieces = [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert pieces == ["", "a", "b", None]


@pytest.mark.asyncio
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_provider_error_is_raised_by_its_class(
    mock: RunningMock, wire: OpenAIWire, streamed: bool
) -> None:
    target = route(mock.base_url)
    refused = {"messages": MESSAGES, "stream": streamed, "mock": {"mode": "fail", "status": 400}}
    call = wire.stream if streamed else wire.complete
    with pytest.raises(UpstreamStatus) as caught:
        await call(target, refused)
    assert caught.value.status_code == 400
    assert b"mock failure 400" in caught.value.body()
    failed = {"messages": MESSAGES, "stream": streamed, "mock": {"mode": "fail", "status": 503}}
    with pytest.raises(UpstreamUnavailable):
        await call(target, failed)


@pytest.mark.asyncio
async def test_a_slow_provider_times_out_and_a_missing_one_is_unreachable(
    mock: RunningMock, wire: OpenAIWire
) -> None:
    slow = {"messages": MESSAGES, "mock": {"delay_s": 1.0}}
    with pytest.raises(UpstreamTimeout) as caught:
        await wire.complete(route(mock.base_url, timeout_s=0.2), slow)
    assert "0.2 s" in caught.value.message
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = route(f"http://127.0.0.1:{port}/v1", name="gone")
    with pytest.raises(UpstreamUnavailable):
        await wire.complete(nowhere, {"messages": MESSAGES})
