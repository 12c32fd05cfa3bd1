"""The official anthropic SDK, pointed at the gateway, works exactly as against Anthropic.

A real gateway with memory on (embedded Chroma, real embeddings) in front of the mock provider,
which speaks Anthropic Messages for ``anthropic/`` models and OpenAI chat for the model that
litellm translates for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.support.gateway import KEY, RunningGateway, gateway_in_thread
from tests.support.memory import MemoryClient, memory_config
from tests.support.mock_upstream import RunningMock, wait_for

PROVIDER_KEY = "sk-ant-provider-secret-123"
FACT = "Ada keeps three beehives on her roof in Lisbon."
QUESTION = [{"role": "user", "content": "What could I do with my beehives this weekend?"}]


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, mock_server: RunningMock
) -> Iterator[RunningGateway]:
    models = [
        {
            "name": "claude",
            "model": "anthropic/claude-mock",
            "api_base": mock_server.url,
            "api_key": PROVIDER_KEY,
            "timeout_s": 5,
            "retries": 0,
        },
        {
            "name": "vllm",
            "model": "hosted_vllm/mock-model",
            "api_base": mock_server.base_url,
            "timeout_s": 10,
            "retries": 0,
        },
        {"name": "echo", "model": "echo"},
        # Nothing listens on port 9: every request fails over to "claude".
        {
            "name": "claude-down",
            "model": "anthropic/claude-mock",
            "api_base": "http://127.0.0.1:9",
            "api_key": PROVIDER_KEY,
            "retries": 0,
            "fallbacks": ["claude"],
        },
    ]
    config = memory_config(
        tmp_path_factory.mktemp("anthropic-gateway"),
        models=models,
        memory={"store": {"runs_in": "gateway"}},
        extraction={"mode": "turns"},
    )
    with gateway_in_thread(config) as running:
        memories = MemoryClient(running)
        memories.add("ada", FACT)
        memories.close()
        yield running


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0, timeout=30) as sdk:
        yield sdk


def sent_to_provider(mock: RunningMock) -> dict[str, Any]:
    [received] = [r for r in mock.state.requests if r.path == "/v1/messages"]
    return received.body


def test_plain_message_carries_a_recalled_memory_in_a_new_system_block(
    client: anthropic.Anthropic, mock: RunningMock
) -> None:
    raw = client.messages.with_raw_response.create(
        model="claude",
        max_tokens=100,
        system="You are a helpful gardener.",
        messages=QUESTION,  # type: ignore[arg-type]
        extra_headers={"X-User-Id": "ada", "anthropic-beta": "context-1m-2025-08-07"},
    )
    message = raw.parse()
    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].type == "text" and message.content[0].text == "Hello from the mock."
    assert message.usage.input_tokens == 21
    assert raw.headers["x-memory-status"] == "ok"
    body = sent_to_provider(mock)
    assert body["model"] == "claude-mock"
    assert body["messages"] == QUESTION
    own, block = body["system"]
    assert own == {"type": "text", "text": "You are a helpful gardener."}
    assert block["type"] == "text" and FACT in block["text"]
    [received] = [r for r in mock.state.requests if r.path == "/v1/messages"]
    # Anthropic gets the provider key; the gateway key never leaves the gateway.
    assert received.headers["x-api-key"] == PROVIDER_KEY
    assert KEY not in str(received.headers)
    # The version the SDK speaks reaches Anthropic, which answers in that version's shapes.
    assert received.headers["anthropic-version"] == client.default_headers["anthropic-version"]
    assert received.headers["anthropic-beta"] == "context-1m-2025-08-07"


def test_stream_relays_every_event_with_the_memory_from_metadata_user_id(
    client: anthropic.Anthropic, mock: RunningMock
) -> None:
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    with client.messages.stream(
        model="claude",
        max_tokens=100,
        system=system,  # type: ignore[arg-type]
        messages=QUESTION,  # type: ignore[arg-type]
        metadata={"user_id": "ada"},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("text") == 4
    assert final.content[0].type == "text" and final.content[0].text == "Hello from the mock."
    assert final.usage.output_tokens == 5
    body = sent_to_provider(mock)
    assert body["stream"] is True
    assert body["system"][0] == system[0]  # the client's cache breakpoint is kept
    assert FACT in body["system"][1]["text"]


def test_a_streamed_answer_is_learned_from(
    client: anthropic.Anthropic, mock: RunningMock, gateway: RunningGateway
) -> None:
    said = "I moved to Porto last spring and I now grow lemons."
    stream = client.messages.create(
        model="claude",
        max_tokens=100,
        messages=[{"role": "user", "content": said}],
        stream=True,
        extra_headers={"X-User-Id": "grace"},
    )
    assert "".join(e.delta.text for e in stream if e.type == "content_block_delta") == (  # type: ignore[union-attr]
        "Hello from the mock."
    )
    memories = MemoryClient(gateway)
    try:
        assert wait_for(lambda: any("Porto" in m for m in memories.contents("grace")), 10)
    finally:
        memories.close()


def test_other_providers_are_translated_by_litellm(
    client: anthropic.Anthropic, mock: RunningMock
) -> None:
    message = client.messages.create(
        model="vllm",
        max_tokens=50,
        system="Be brief.",
        messages=QUESTION,  # type: ignore[arg-type]
        extra_headers={"X-User-Id": "ada"},
    )
    assert message.content[0].type == "text" and message.content[0].text == "Hello from the mock."
    [received] = mock.state.requests
    assert received.path == "/v1/chat/completions"
    system = received.body["messages"][0]
    assert system["role"] == "system" and FACT in orjson.dumps(system).decode()


def test_other_providers_stream_in_anthropic_events(
    client: anthropic.Anthropic, mock: RunningMock
) -> None:
    with client.messages.stream(
        model="vllm",
        max_tokens=50,
        messages=QUESTION,  # type: ignore[arg-type]
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "Hello from the mock."


def test_the_echo_model_shows_the_system_blocks_it_got(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="echo",
        max_tokens=50,
        messages=QUESTION,
        metadata={"user_id": "ada"},  # type: ignore[arg-type]
    )
    assert message.content[0].type == "text"
    sent = orjson.loads(message.content[0].text)
    [block] = sent["system"]
    assert FACT in block["text"] and sent["messages"] == QUESTION


def test_x_api_key_authenticates_as_well(gateway: RunningGateway) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "echo", "max_tokens": 10, "messages": QUESTION}
    response = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"


def test_a_provider_error_is_raised_as_the_sdks_own_class(
    client: anthropic.Anthropic, mock: RunningMock
) -> None:
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(
            model="claude",
            max_tokens=10,
            messages=QUESTION,  # type: ignore[arg-type]
            extra_body={"mock": {"mode": "fail", "status": 429, "message": "slow down"}},
        )
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }


def test_gateway_errors_come_in_anthropics_shape(gateway: RunningGateway) -> None:
    wrong_key = anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0)
    with wrong_key, pytest.raises(anthropic.AuthenticationError) as raised:
        wrong_key.messages.create(model="claude", max_tokens=10, messages=QUESTION)  # type: ignore[arg-type]
    assert raised.value.body["type"] == "error"  # type: ignore[index]
    assert raised.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_bad_fields_are_named_in_anthropics_shape(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model="claude",
            max_tokens=10,
            messages=QUESTION,
            system=42,  # type: ignore[arg-type]
        )
    error = raised.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error" and "'system'" in error["message"]
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=10, messages=QUESTION)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "told"),
    [
        # litellm's own account of the failure (exception text and all) is not passed on.
        ("vllm", "The provider for model 'vllm' failed mid-stream."),
        ("claude", "Could not reach the provider for model 'claude'"),
    ],
)
def test_a_failure_mid_stream_ends_with_an_anthropic_error_event(
    client: anthropic.Anthropic, mock: RunningMock, model: str, told: str
) -> None:
    started = time.monotonic()
    with (
        pytest.raises(anthropic.APIStatusError) as raised,
        client.messages.stream(
            model=model,
            max_tokens=10,
            messages=QUESTION,  # type: ignore[arg-type]
            extra_body={"mock": {"mode": "stream_cut", "cut_after": 3}},
        ) as stream,
    ):
        list(stream)
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "api_error" and body["error"]["message"].startswith(told)
    assert time.monotonic() - started < 10


def test_a_translated_providers_error_is_in_anthropics_shape(
    client: anthropic.Anthropic, mock: RunningMock
) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.create(
            model="vllm",
            max_tokens=10,
            messages=QUESTION,  # type: ignore[arg-type]
            extra_body={"mock": {"mode": "fail", "status": 400, "message": "bad tool schema"}},
        )
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "echo", "max_tokens": 5, "messages": []}, "'messages'"),
        ({"model": "echo", "max_tokens": 5, "messages": QUESTION, "metadata": "ada"}, "'metadata'"),
        (
            {"model": "echo", "max_tokens": 5, "messages": QUESTION, "metadata": {"user_id": 7}},
            "'metadata.user_id'",
        ),
        ({"model": "echo", "max_tokens": 5, "messages": QUESTION, "system": [1]}, "'system[0]'"),
        (
            {"max_tokens": 5, "messages": QUESTION},
            "'model': expected a non-empty string, got nothing",
        ),
    ],
)
def test_each_bad_field_is_named(gateway: RunningGateway, body: dict[str, Any], param: str) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/messages", json=body, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert param in error["error"]["message"]


def test_paths_below_messages_answer_in_anthropics_shape(
    client: anthropic.Anthropic, gateway: RunningGateway
) -> None:
    # count_tokens is passed through, and Anthropic's models have no bytes endpoint for it.
    with pytest.raises(anthropic.BadRequestError) as raised:
        client.messages.count_tokens(model="claude", messages=QUESTION)  # type: ignore[arg-type]
    body = raised.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert "'claude'" in body["error"]["message"]
    response = httpx.get(f"{gateway.url}/v1/messages", headers={"x-api-key": KEY})
    assert response.status_code == 400 and response.json()["type"] == "error"


def test_requests_are_counted_under_their_model(
    client: anthropic.Anthropic, gateway: RunningGateway
) -> None:
    def answered() -> float:
        text = httpx.get(f"{gateway.url}/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("gateway_requests_total{") and 'model="echo"' in line
        )

    before = answered()
    client.messages.create(model="echo", max_tokens=5, messages=QUESTION)  # type: ignore[arg-type]
    assert wait_for(lambda: answered() == before + 1)


def test_a_model_that_fails_falls_back_to_the_next(
    client: anthropic.Anthropic, mock: RunningMock
) -> None:
    message = client.messages.create(model="claude-down", max_tokens=10, messages=QUESTION)  # type: ignore[arg-type]
    assert message.content[0].type == "text" and message.content[0].text == "Hello from the mock."
    assert sent_to_provider(mock)["model"] == "claude-mock"


@pytest.mark.asyncio
async def test_the_async_client_streams_too(gateway: RunningGateway, mock: RunningMock) -> None:
    async with anthropic.AsyncAnthropic(base_url=gateway.url, api_key=KEY, max_retries=0) as sdk:
        stream = await sdk.messages.create(
            model="claude",
            max_tokens=20,
            messages=QUESTION,  # type: ignore[arg-type]
            stream=True,
            extra_headers={"X-User-Id": "ada"},
        )
        kinds = [event.type async for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert FACT in sent_to_provider(mock)["system"][-1]["text"]
