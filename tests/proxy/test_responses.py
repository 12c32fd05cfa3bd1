"""``POST /v1/responses`` through the official openai SDK, memory off: the gateway relays the
provider's Responses API untouched, plain and streamed, and its errors as the SDK expects."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import orjson
import pytest

from tests.learning.helpers import counter, scrape
from tests.support.gateway import KEY, RunningGateway, start_gateway
from tests.support.mock_responses import USAGE
from tests.support.mock_upstream import RunningMock


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_plain_response(client: openai.OpenAI, mock: RunningMock) -> None:
    response = client.responses.create(model="mock", input="Say hello.", instructions="Be brief.")
    assert response.output_text == "Hello from the mock."
    assert response.usage is not None and response.usage.total_tokens == 26
    [received] = mock.state.requests
    assert received.path == "/v1/responses"
    assert received.body == {
        "model": "mock-model",
        "input": "Say hello.",
        "instructions": "Be brief.",
    }
    assert received.headers["Authorization"] == "Bearer sk-provider-secret-123"


def test_stream_relays_every_event(client: openai.OpenAI, mock: RunningMock) -> None:
    stream = client.responses.create(
        model="mock", input="Say hello.", stream=True, extra_body={"mock": {"chunks": ["a", "b"]}}
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(10))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "ab"


def test_stream_helper_accumulates_the_response(client: openai.OpenAI, mock: RunningMock) -> None:
    with client.responses.stream(model="mock", input="Say hello.") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Hello from the mock."


def test_every_other_field_passes_through(client: openai.OpenAI, mock: RunningMock) -> None:
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        }
    ]
    items = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    client.responses.create(
        model="mock",
        input=items,  # type: ignore[arg-type]
        previous_response_id="resp_earlier",
        store=False,
        tools=tools,  # type: ignore[arg-type]
        max_output_tokens=50,
        reasoning={"effort": "low"},
        metadata={"run": "7"},
        extra_body={"future_field": {"x": 1}},
    )
    body = mock.state.requests[0].body
    assert body["input"] == items
    assert body["previous_response_id"] == "resp_earlier"
    assert body["store"] is False
    assert body["tools"] == tools
    assert body["max_output_tokens"] == 50
    assert body["reasoning"] == {"effort": "low"}
    assert body["metadata"] == {"run": "7"}
    assert body["future_field"] == {"x": 1}
    assert "instructions" not in body


def test_provider_answer_reaches_the_client_untouched(
    gateway: RunningGateway, mock: RunningMock
) -> None:
    response = httpx.post(
        f"{gateway.base_url}/responses",
        json={"model": "mock", "input": "hi"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 200
    body = orjson.loads(response.content)
    assert body["id"] == "resp_mock" and body["object"] == "response"
    assert response.headers["x-memory-status"] == "off"
    assert float(response.headers["x-gateway-overhead-ms"]) >= 0


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi"}, "model"),
        ({"model": "mock", "input": 3}, "input"),
        ({"model": "mock", "input": ["hi"]}, "input[0]"),
        ({"model": "mock", "input": [{"role": "user", "content": 5}]}, "input[0].content"),
        ({"model": "mock", "input": "hi", "instructions": ["x"]}, "instructions"),
        ({"model": "mock", "input": "hi", "stream": "yes"}, "stream"),
        ({"model": "mock", "input": "hi", "user": 7}, "user"),
        ({"model": "mock", "input": "hi", "safety_identifier": "x" * 300}, "safety_identifier"),
    ],
)
def test_bad_fields_are_named(gateway: RunningGateway, body: dict[str, object], param: str) -> None:
    response = httpx.post(
        f"{gateway.base_url}/responses", json=body, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"


def test_sdk_raises_its_own_exceptions(gateway: RunningGateway, mock: RunningMock) -> None:
    bad = openai.OpenAI(base_url=gateway.base_url, api_key="sk-wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError):
        bad.responses.create(model="mock", input="hi")
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
        with pytest.raises(openai.NotFoundError):
            sdk.responses.create(model="nope", input="hi")
        fail = {"mode": "fail", "status": 429, "message": "slow down"}
        with pytest.raises(openai.RateLimitError, match="slow down"):
            sdk.responses.create(model="mock", input="hi", extra_body={"mock": fail})


def test_transient_failure_is_retried(client: openai.OpenAI, mock: RunningMock) -> None:
    fail = {"mode": "fail", "status": 503, "times": 1, "key": "responses-retry"}
    response = client.responses.create(model="mock", input="hi", extra_body={"mock": fail})
    assert response.output_text == "Hello from the mock."
    assert len(mock.state.requests) == 2


def test_echo_shows_what_goes_upstream(client: openai.OpenAI) -> None:
    response = client.responses.create(model="echo", input="hi", instructions="Be brief.")
    assert orjson.loads(response.output_text) == {"instructions": "Be brief.", "input": "hi"}
    with client.responses.stream(model="echo", input="hi") as stream:
        final = stream.get_final_response()
    assert orjson.loads(final.output_text) == {"instructions": None, "input": "hi"}


@pytest.fixture(scope="module")
def bridged(mock_server: RunningMock) -> Iterator[RunningGateway]:
    """Models served through litellm: one whose provider has only a chat API (litellm's
    Responses bridge), and one whose provider litellm cannot serve on this endpoint at all."""
    base, key = mock_server.base_url, "sk-provider-secret-123"
    yaml = f"""
auth: {{keys: [{{key: {KEY}, tenant: acme}}]}}
models:
  - {{name: bridge, model: mistral/mock-model, api_base: "{base}", api_key: {key}, retries: 0}}
  - {{name: speech, model: elevenlabs/voice, api_key: {key}, retries: 0}}
memory: {{enabled: false}}
"""
    with start_gateway(yaml) as running:
        yield running


@pytest.mark.slow
def test_a_chat_only_provider_goes_through_litellms_bridge(
    bridged: RunningGateway, mock: RunningMock
) -> None:
    with openai.OpenAI(base_url=bridged.base_url, api_key=KEY, max_retries=0) as sdk:
        response = sdk.responses.create(model="bridge", input="Say hello.", instructions="Brief.")
        assert response.output_text == "Hello from the mock."
        events = list(sdk.responses.create(model="bridge", input="Say hello.", stream=True))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello from the mock."
    assert events[-1].type == "response.completed"
    # The provider was asked through its chat API, with the instructions as a system message.
    assert [r.path for r in mock.state.requests] == ["/v1/chat/completions"] * 2
    messages = mock.state.requests[0].body["messages"]
    assert messages[0] == {"role": "system", "content": "Brief."}


@pytest.mark.slow
def test_a_provider_litellm_cannot_serve_is_a_clear_400(bridged: RunningGateway) -> None:
    response = httpx.post(
        f"{bridged.base_url}/responses",
        json={"model": "speech", "input": "hi"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "model"
    assert "'speech'" in error["message"] and "/v1/responses" in error["message"]


def test_counted_in_the_same_metrics_as_chat(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    before = scrape(gateway)
    client.responses.create(model="mock", input="hi")
    list(client.responses.create(model="mock", input="hi", stream=True))
    after = scrape(gateway)

    def grew(name: str, **labels: str) -> float:
        return counter(after, name, **labels) - counter(before, name, **labels)

    requests = "gateway_requests_total"
    assert grew(requests, model="mock", status_code="200", stream="false") == 1
    assert grew(requests, model="mock", status_code="200", stream="true") == 1
    # Usage in the Responses API's names (input/output tokens), from the body and the stream.
    assert grew("gateway_tokens_total", model="mock", kind="prompt") == 2 * USAGE["input_tokens"]
    assert (
        grew("gateway_tokens_total", model="mock", kind="completion") == 2 * USAGE["output_tokens"]
    )
    assert grew("gateway_time_to_first_token_seconds_count", model="mock") == 1
