"""The official openai SDK, pointed at the gateway, works exactly as against OpenAI."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import orjson
import pytest
import pytest_asyncio

from tests.support.gateway import KEY, RunningGateway
from tests.support.mock_upstream import RunningMock, wait_for

MESSAGES = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


@pytest_asyncio.fixture
async def aclient(gateway: RunningGateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_plain_completion(client: openai.OpenAI, mock: RunningMock) -> None:
    reply = client.chat.completions.create(model="mock", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello from the mock."
    assert reply.usage is not None and reply.usage.total_tokens == 15
    [received] = mock.state.requests
    assert received.body["model"] == "mock-model"
    assert received.body["messages"] == MESSAGES
    # The provider sees the provider key, never the client's gateway key.
    assert received.headers["Authorization"] == "Bearer sk-provider-secret-123"


@pytest.mark.asyncio
async def test_async_plain_completion(aclient: openai.AsyncOpenAI, mock: RunningMock) -> None:
    reply = await aclient.chat.completions.create(model="mock", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Hello from the mock."


def test_stream_with_usage(client: openai.OpenAI, mock: RunningMock) -> None:
    stream = client.chat.completions.create(
        model="mock",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the mock."
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 16
    assert mock.state.requests[0].body["stream_options"] == {"include_usage": True}


@pytest.mark.asyncio
async def test_async_stream(aclient: openai.AsyncOpenAI, mock: RunningMock) -> None:
    stream = await aclient.chat.completions.create(
        model="mock",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        extra_body={"mock": {"chunks": ["a", "b", "c"]}},
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "abc"


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_tool_calls(client: openai.OpenAI, mock: RunningMock) -> None:
    reply = client.chat.completions.create(
        model="mock",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice="auto",
        extra_body={"mock": {"mode": "tools"}},
    )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert orjson.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert mock.state.requests[0].body["tools"] == TOOLS


def test_streamed_tool_calls(client: openai.OpenAI, mock: RunningMock) -> None:
    stream = client.chat.completions.create(
        model="mock",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
        extra_body={"mock": {"mode": "tools"}},
    )
    calls = [
        c.choices[0].delta.tool_calls for c in stream if c.choices and c.choices[0].delta.tool_calls
    ]
    assert calls[0][0].function.name == "get_weather"  # type: ignore[index,union-attr]


def test_with_raw_response(client: openai.OpenAI, mock: RunningMock) -> None:
    raw = client.chat.completions.with_raw_response.create(model="mock", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.status_code == 200
    assert float(raw.headers["x-gateway-overhead-ms"]) >= 0
    assert raw.parse().choices[0].message.content == "Hello from the mock."


def test_every_unowned_field_reaches_the_provider_untouched(
    client: openai.OpenAI, mock: RunningMock
) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]},
    ]
    fields = {
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_object"},
        "n": 2,
        "seed": 7,
        "temperature": 0.25,
        "logprobs": True,
        "top_logprobs": 3,
        "logit_bias": {"50256": -100},
        "parallel_tool_calls": False,
        "max_completion_tokens": 99,
    }
    tomorrow = {"field_added_tomorrow": {"nested": [1, 2.5, "x", None, True]}}
    client.chat.completions.create(
        model="mock",
        messages=messages,  # type: ignore[arg-type]
        extra_body=tomorrow,
        **fields,  # type: ignore[arg-type]
    )
    body = mock.state.requests[0].body
    assert body == {"model": "mock-model", "messages": messages, **fields, **tomorrow}


def test_provider_answer_reaches_the_client_untouched(
    gateway: RunningGateway, mock: RunningMock
) -> None:
    content = "Unicode stays: naïve — 東京 🚀"
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "mock", "messages": MESSAGES, "mock": {"content": content}},
    )
    body = response.json()
    assert body["choices"][0]["message"]["content"] == content
    assert body["system_fingerprint"] == "fp_mock"
    assert body["model"] == "mock-model"


def test_stream_is_not_buffered(client: openai.OpenAI, mock: RunningMock) -> None:
    # The mock holds the rest of the stream until the client has seen the first words through
    # the gateway: a buffering gateway would deadlock here and the mock would give up after 10 s.
    stream = client.chat.completions.create(
        model="mock",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        extra_body={"mock": {"chunks": ["first", " second"], "hold_after": 2}},
    )
    seen = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen.append(chunk.choices[0].delta.content)
            if seen == ["first"]:
                assert not mock.state.release.is_set()
                mock.state.release.set()
    assert seen == ["first", " second"]


def test_client_disconnect_cancels_upstream(gateway: RunningGateway, mock: RunningMock) -> None:
    body = {
        "model": "mock",
        "messages": MESSAGES,
        "stream": True,
        "mock": {"chunks": ["tick"] * 200, "delay_s": 0.05, "key": "leaver"},
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream(
        "POST", f"{gateway.base_url}/chat/completions", json=body, headers=headers
    ) as r:
        for line in r.iter_lines():
            if "tick" in line:
                break
    # Other tests' slow streams may be noticed as abandoned meanwhile: look for this one.
    assert wait_for(lambda: "leaver" in mock.state.abandoned), "the upstream call went on"


def test_concurrent_streams_do_not_mix(client: openai.OpenAI, mock: RunningMock) -> None:
    results: dict[int, str] = {}

    def run(n: int) -> None:
        stream = client.chat.completions.create(
            model="mock",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            extra_body={"mock": {"chunks": [f"<{n}>", f"<{n}>"], "delay_s": 0.01}},
        )
        results[n] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: f"<{n}><{n}>" for n in range(8)}


def test_models_lists_configured_names(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["mock", "echo"]


def test_echo_shows_what_goes_upstream(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="echo", messages=MESSAGES)  # type: ignore[arg-type]
    assert orjson.loads(reply.choices[0].message.content or "") == MESSAGES


def test_echo_streams(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="echo",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert orjson.loads(text) == MESSAGES
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_health_and_readiness(gateway: RunningGateway) -> None:
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
