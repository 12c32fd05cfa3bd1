"""Every way a request can go wrong answers in the OpenAI error shape, with the right status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.support.gateway import KEY, RunningGateway, free_port, start_gateway
from tests.support.mock_upstream import RunningMock

AUTH = {"Authorization": f"Bearer {KEY}"}
MESSAGES = [{"role": "user", "content": "hi"}]


def post(
    gateway: RunningGateway, body: Any = None, *, content: bytes | None = None, **kw: Any
) -> httpx.Response:
    headers = {**AUTH, **kw.pop("headers", {})}
    return httpx.post(
        f"{gateway.base_url}/chat/completions",
        json=body if content is None else None,
        content=content,
        headers=headers,
        timeout=30,
        **kw,
    )


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert "Traceback" not in error["message"]
    return dict(error)


# The whole table of fields is in tests/proxy/test_request.py; here, what a client receives.
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": "mock", "messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"model": "mock", "messages": MESSAGES, "stream_options": []}, "stream_options"),
    ],
)
def test_schema_errors_name_the_field(
    gateway: RunningGateway, body: dict[str, Any], param: str
) -> None:
    error = assert_error(post(gateway, body), 400, param)
    assert error["type"] == "invalid_request_error"
    assert f"'{param}'" in error["message"]


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"[" * 5000 + b"]" * 5000])
def test_bodies_that_are_not_a_json_object(gateway: RunningGateway, content: bytes) -> None:
    assert_error(post(gateway, content=content), 400)


def test_huge_integer_is_explained(gateway: RunningGateway) -> None:
    body = b'{"model": "mock", "messages": [], "seed": 123456789012345678901234567890}'
    error = assert_error(post(gateway, content=body), 400)
    assert "64 bits" in error["message"]


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("depth", [65, 400, 990, 5000])
def test_deep_nesting_is_a_400_that_names_the_limit(gateway: RunningGateway, depth: int) -> None:
    # With a run of 19+ digits inside, this once reached a recursive check and answered 500.
    inner = nested(depth, b"1234567890123456789012")
    body = b'{"model": "mock", "messages": [{"role": "user", "content": "hi"}], "x": ' + inner
    error = assert_error(post(gateway, content=body + b"}"), 400)
    assert error["code"] == "json_too_deep"
    assert "64 levels" in error["message"]


def test_nesting_up_to_the_limit_passes_and_brackets_in_text_do_not_count(
    gateway: RunningGateway, mock: RunningMock
) -> None:
    # 63 levels inside the body object (itself one level): exactly server.max_json_depth.
    content = "[{" * 5000
    body = b'{"model": "mock", "messages": [{"role": "user", "content": "%s"}], "x": %s}' % (
        content.encode(),
        nested(63),
    )
    response = post(gateway, content=body)
    assert response.status_code == 200, response.text
    assert mock.state.requests[-1].body["x"] == orjson.loads(nested(63))


def test_missing_and_unknown_keys(gateway: RunningGateway) -> None:
    body = {"model": "mock", "messages": MESSAGES}
    missing = httpx.post(f"{gateway.base_url}/chat/completions", json=body)
    assert assert_error(missing, 401)["code"] == "missing_api_key"
    wrong = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer sk-guess-123"},
    )
    assert "sk-guess-123" not in wrong.text
    assert_error(wrong, 401)
    models = httpx.get(f"{gateway.base_url}/models", headers={"Authorization": "Basic abc"})
    assert_error(models, 401)


def test_x_api_key_is_a_gateway_key_too_but_authorization_decides(
    gateway: RunningGateway,
) -> None:
    models = f"{gateway.base_url}/models"
    assert httpx.get(models, headers={"x-api-key": KEY}).status_code == 200
    wrong = httpx.get(models, headers={"x-api-key": "sk-guess-123"})
    assert "sk-guess-123" not in wrong.text
    assert_error(wrong, 401)
    both = {"Authorization": "Bearer sk-guess-123", "x-api-key": KEY}
    assert_error(httpx.get(models, headers=both), 401)


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


def test_sdk_raises_its_own_exceptions(gateway: RunningGateway, client: openai.OpenAI) -> None:
    bad_key = openai.OpenAI(base_url=gateway.base_url, api_key="nope", max_retries=0)
    with bad_key, pytest.raises(openai.AuthenticationError):
        bad_key.chat.completions.create(model="mock", messages=MESSAGES)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-99", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="mock", messages=[])


def test_unknown_model(gateway: RunningGateway) -> None:
    error = assert_error(post(gateway, {"model": "gpt-99", "messages": MESSAGES}), 404, "model")
    assert error["code"] == "model_not_found"


def test_unknown_path_and_method(gateway: RunningGateway) -> None:
    assert_error(httpx.get(f"{gateway.url}/embeddings", headers=AUTH), 404)
    assert_error(httpx.put(f"{gateway.base_url}/models", headers=AUTH), 405)
    # Any other /v1/* path is passed through (issue 17); this gateway has no
    # routing.default_model for a request that names no model.
    assert_error(httpx.get(f"{gateway.base_url}/embeddingz", headers=AUTH), 400, "model")


def test_provider_429_is_passed_on_after_retries(
    gateway: RunningGateway, mock: RunningMock
) -> None:
    body = {"model": "mock", "messages": MESSAGES, "mock": {"mode": "fail", "status": 429}}
    response = post(gateway, body)
    error = assert_error(response, 429)
    assert error["message"] == "mock failure 429"
    assert len(mock.state.requests) == 3  # 1 + retries: 2


def test_provider_429_reaches_sdk_as_rate_limit(
    gateway: RunningGateway, mock: RunningMock, client: openai.OpenAI
) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="mock",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_body={"mock": {"mode": "fail", "status": 429, "retry_after": 0}},
        )


def test_transient_5xx_is_retried_then_succeeds(gateway: RunningGateway, mock: RunningMock) -> None:
    spec = {"mode": "fail", "status": 503, "times": 2, "key": "flaky"}
    response = post(gateway, {"model": "mock", "messages": MESSAGES, "mock": spec})
    assert response.status_code == 200
    assert len(mock.state.requests) == 3


def test_persistent_5xx_is_a_502(gateway: RunningGateway, mock: RunningMock) -> None:
    spec = {"mode": "fail", "status": 500, "message": "internal stack at provider.py:12"}
    error = assert_error(post(gateway, {"model": "mock", "messages": MESSAGES, "mock": spec}), 502)
    assert "provider.py" not in error["message"]


def test_provider_4xx_is_passed_on_without_retry(
    gateway: RunningGateway, mock: RunningMock
) -> None:
    spec = {"mode": "fail", "status": 400, "message": "Invalid schema for function 'f'"}
    error = assert_error(post(gateway, {"model": "mock", "messages": MESSAGES, "mock": spec}), 400)
    assert error["message"] == "Invalid schema for function 'f'"
    assert len(mock.state.requests) == 1


def test_provider_key_never_reaches_the_client(gateway: RunningGateway, mock: RunningMock) -> None:
    spec = {"mode": "fail", "status": 400, "message": "Bad key sk-provider-secret-123 used"}
    response = post(gateway, {"model": "mock", "messages": MESSAGES, "mock": spec})
    assert "sk-provider-secret-123" not in response.text
    assert "[redacted]" in response.json()["error"]["message"]


@pytest.mark.parametrize("status", [401, 403])
def test_provider_rejecting_our_key_is_a_502(
    gateway: RunningGateway, mock: RunningMock, status: int
) -> None:
    spec = {"mode": "fail", "status": status}
    error = assert_error(post(gateway, {"model": "mock", "messages": MESSAGES, "mock": spec}), 502)
    assert error["code"] == "provider_key_rejected"
    assert "model 'mock'" in error["message"]
    assert "rejected the API key" in error["message"]
    assert "missing" not in error["message"] and "No API key" not in error["message"]
    assert len(mock.state.requests) == 1


def test_dropped_connection_is_a_502(gateway: RunningGateway, mock: RunningMock) -> None:
    error = assert_error(
        post(gateway, {"model": "mock", "messages": MESSAGES, "mock": {"mode": "drop"}}), 502
    )
    assert error["code"] == "upstream_unavailable"


def test_stream_cut_midway_ends_with_an_error_event(
    gateway: RunningGateway, mock: RunningMock, client: openai.OpenAI
) -> None:
    stream = client.chat.completions.create(
        model="mock",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        extra_body={"mock": {"mode": "stream_cut", "cut_after": 2}},
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_stream_error_before_first_byte_is_a_normal_error(
    gateway: RunningGateway, mock: RunningMock
) -> None:
    body = {
        "model": "mock",
        "messages": MESSAGES,
        "stream": True,
        "mock": {"mode": "fail", "status": 429},
    }
    assert_error(post(gateway, body), 429)


@pytest.fixture(scope="module")
def special(mock_server: RunningMock) -> Iterator[RunningGateway]:
    """A gateway with a tiny body limit, a slow model and a fallback chain."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    yaml = f"""
server: {{max_body_bytes: 2048}}
auth: {{keys: [{{key: {KEY}, tenant: acme}}]}}
models:
  - {{name: slow, model: openai/m, api_base: "{mock_server.base_url}", api_key: k, timeout_s: 0.3, retries: 0}}
  - {{name: primary, model: openai/m, api_base: "{dead}", api_key: k, retries: 1, fallbacks: [backup]}}
  - {{name: backup, model: openai/backup-model, api_base: "{mock_server.base_url}", api_key: k}}
  - {{name: only-dead, model: openai/m, api_base: "{dead}", api_key: k, retries: 0}}
  - {{name: nokey, model: openai/gpt-4o-mini}}
  - {{name: nokey-then-mock, model: openai/gpt-4o-mini, fallbacks: [backup]}}
  - {{name: nokey-then-claude, model: openai/gpt-4o-mini, fallbacks: [claude-nokey]}}
  - {{name: claude-nokey, model: anthropic/claude-3-5-haiku-latest}}
memory: {{enabled: false}}
"""
    with start_gateway(yaml) as running:
        yield running


def test_body_over_the_limit_is_413(special: RunningGateway) -> None:
    big = {"model": "slow", "messages": [{"role": "user", "content": "x" * 4096}]}
    assert_error(post(special, big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"model": "slow", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}]}'

    assert_error(post(special, content=chunks()), 413)  # type: ignore[arg-type]


def test_timeout_is_504(special: RunningGateway, mock: RunningMock) -> None:
    body = {"model": "slow", "messages": MESSAGES, "mock": {"delay_s": 2}}
    assert assert_error(post(special, body), 504)["code"] == "upstream_timeout"


def test_stream_timeout_is_504(special: RunningGateway, mock: RunningMock) -> None:
    body = {"model": "slow", "messages": MESSAGES, "stream": True, "mock": {"delay_s": 2}}
    # The mock sends headers at once, then stalls before the first event: that stall is the
    # read timeout, reported in-band because the status line has already gone out.
    with httpx.stream("POST", f"{special.base_url}/chat/completions", json=body, headers=AUTH) as r:
        text = "".join(r.iter_text())
    assert "upstream_timeout" in text


def test_connection_refused_falls_back_in_order(special: RunningGateway, mock: RunningMock) -> None:
    response = post(special, {"model": "primary", "messages": MESSAGES})
    assert response.status_code == 200
    assert [r.body["model"] for r in mock.state.requests] == ["backup-model"]


def test_connection_refused_without_fallback_is_502(special: RunningGateway) -> None:
    assert_error(post(special, {"model": "only-dead", "messages": MESSAGES}), 502)


def test_missing_provider_key_is_a_503_naming_the_model(
    special: RunningGateway, mock: RunningMock
) -> None:
    with (
        openai.OpenAI(base_url=special.base_url, api_key=KEY, max_retries=0) as client,
        pytest.raises(openai.InternalServerError) as info,
    ):
        client.chat.completions.create(model="nokey", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.status_code == 503
    assert info.value.code == "provider_key_missing"
    assert "No API key is configured for model 'nokey' (provider openai)" in info.value.message
    assert "rejected" not in info.value.message
    assert mock.state.requests == []


def test_fallback_failing_too_still_names_the_requested_model(
    special: RunningGateway, mock: RunningMock
) -> None:
    body = {
        "model": "nokey-then-mock",
        "messages": MESSAGES,
        "mock": {"mode": "fail", "status": 401},
    }
    error = assert_error(post(special, body), 502)  # the status of the last fallback's failure
    assert error["code"] == "provider_key_rejected"
    assert error["message"].startswith(
        "Model 'nokey-then-mock' and its fallbacks failed. "
        "No API key is configured for model 'nokey-then-mock'"
    )
    assert "Fallback 'backup': The provider of model 'backup' (openai) rejected" in error["message"]
    assert len(mock.state.requests) == 1


@pytest.mark.slow
def test_a_keyless_model_and_keyless_litellm_fallback_are_both_missing_keys(
    special: RunningGateway,
) -> None:
    # The README's example config with no provider keys: gpt-4o-mini falls back to claude-haiku.
    error = assert_error(post(special, {"model": "nokey-then-claude", "messages": MESSAGES}), 503)
    assert error["code"] == "provider_key_missing"
    message = error["message"]
    assert message.startswith("Model 'nokey-then-claude' and its fallbacks failed. No API key")
    fallback = "Fallback 'claude-nokey': No API key is configured for model 'claude-nokey'"
    assert f"{fallback} (provider anthropic)" in message
    assert "rejected" not in message


def test_gateway_keeps_serving_after_bad_input(gateway: RunningGateway, mock: RunningMock) -> None:
    for content in (b"\x00" * 100, b'{"model": {"$gt": ""}}', b"{" * 100_000):
        assert post(gateway, content=content).status_code == 400
    ok = post(gateway, {"model": "mock", "messages": MESSAGES})
    assert ok.status_code == 200
