"""Models that go through litellm's translation layer work through the same SDK calls."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.gateway import KEY, RunningGateway, free_port, start_gateway
from tests.support.mock_upstream import RunningMock

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def translated(mock_server: RunningMock) -> Iterator[RunningGateway]:
    yaml = f"""
auth: {{keys: [{{key: {KEY}, tenant: acme}}]}}
models:
  - {{name: via-litellm, model: openai/mock-model, protocol: litellm, api_base: "{mock_server.base_url}", api_key: sk-provider-secret-123, retries: 1}}
  - {{name: claude-keyless, model: anthropic/claude-3-5-haiku-latest, api_base: "{mock_server.base_url}"}}
memory: {{enabled: false}}
"""
    with start_gateway(yaml) as running:
        yield running


@pytest.fixture
def client(translated: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=translated.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


@pytest.mark.slow
def test_plain_through_litellm(client: openai.OpenAI, mock: RunningMock) -> None:
    reply = client.chat.completions.create(
        model="via-litellm",
        messages=MESSAGES,
        temperature=0.5,
        seed=3,  # type: ignore[arg-type]
    )
    assert reply.choices[0].message.content == "Hello from the mock."
    body = mock.state.requests[0].body
    assert body["model"] == "mock-model"
    assert body["temperature"] == 0.5 and body["seed"] == 3
    assert mock.state.requests[0].headers["Authorization"] == "Bearer sk-provider-secret-123"


@pytest.mark.slow
def test_stream_through_litellm(client: openai.OpenAI, mock: RunningMock) -> None:
    stream = client.chat.completions.create(
        model="via-litellm",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the mock."
    assert any(c.usage is not None and c.usage.total_tokens == 16 for c in chunks)


@pytest.mark.slow
def test_tools_through_litellm(client: openai.OpenAI, mock: RunningMock) -> None:
    reply = client.chat.completions.create(
        model="via-litellm",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        ],
        extra_body={"mock": {"mode": "tools"}},
    )
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"  # type: ignore[index,union-attr]


@pytest.mark.slow
def test_errors_are_translated_by_class(client: openai.OpenAI, mock: RunningMock) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="via-litellm",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_body={"mock": {"mode": "fail", "status": 429, "retry_after": 0}},
        )
    assert len(mock.state.requests) == 2  # 1 + retries: 1, and litellm's own retries are off
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="via-litellm",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_body={
                "mock": {
                    "mode": "fail",
                    "status": 400,
                    "message": "bad tool sk-provider-secret-123",
                }
            },
        )
    assert "sk-provider-secret-123" not in str(info.value)
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(
            model="via-litellm",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_body={"mock": {"mode": "fail", "status": 503}},
        )
    assert failed.value.status_code == 502


@pytest.mark.slow
@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_rejected_not_missing(
    client: openai.OpenAI, mock: RunningMock, status: int
) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="via-litellm",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_body={"mock": {"mode": "fail", "status": status}},
        )
    assert info.value.status_code == 502
    assert info.value.code == "provider_key_rejected"
    assert "model 'via-litellm'" in info.value.message
    assert "rejected the API key" in info.value.message
    assert len(mock.state.requests) == 1  # not retried


@pytest.mark.slow
def test_a_model_without_a_key_says_the_key_is_missing(
    client: openai.OpenAI, mock: RunningMock
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="claude-keyless", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 503
    assert info.value.code == "provider_key_missing"
    message = info.value.message
    assert "No API key is configured for model 'claude-keyless' (provider anthropic)" in message
    assert "rejected" not in message
    assert mock.state.requests == []


@pytest.mark.slow
@pytest.mark.parametrize("model", ["openai/mock-model", "anthropic/claude-3-5-haiku"])
@pytest.mark.parametrize("stream", [False, True])
def test_a_closed_port_says_cannot_connect(model: str, stream: bool) -> None:
    # litellm reports a refused connection as the provider's HTTP 500.
    yaml = f"""
auth: {{keys: [{{key: {KEY}, tenant: acme}}]}}
models:
  - {{name: nowhere, model: {model}, protocol: litellm, api_base: "http://127.0.0.1:{free_port()}", api_key: sk-provider-secret-123, retries: 0}}
memory: {{enabled: false}}
"""
    with start_gateway(yaml) as running:
        response = httpx.post(
            f"{running.base_url}/chat/completions",
            json={"model": "nowhere", "messages": MESSAGES, "stream": stream},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert "cannot connect" in error["message"]
    assert "HTTP 500" not in error["message"]
