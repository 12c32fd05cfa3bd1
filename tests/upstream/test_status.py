"""A provider's failure as the client meets it: the error class, its body, the headers passed on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from gateway.config import ModelConfig
from gateway.errors import (
    ProviderKeyMissing,
    ProviderKeyRejected,
    UpstreamStatus,
    UpstreamUnavailable,
)
from gateway.upstream.routes import Route, build_route
from gateway.upstream.status import passed_headers, redact, require_key, retry_after, status_error

SECRET = "sk-provider-secret-1234"


def route(**fields: object) -> Route:
    return build_route(
        ModelConfig.model_validate({"name": "gpt", "model": "openai/gpt-4o"} | fields)
    )


def test_hop_headers_stay_behind_and_the_providers_own_are_passed_on() -> None:
    headers = [
        ("Content-Length", "12"),
        ("Transfer-Encoding", "chunked"),
        ("Set-Cookie", "session=1"),
        ("x-request-id", "req_1"),
        ("X-RateLimit-Remaining-Requests", "9"),
    ]
    assert passed_headers(headers) == {
        "x-request-id": "req_1",
        "X-RateLimit-Remaining-Requests": "9",
    }


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("3600", 30.0), ("soon", None), ("", None)],
)
def test_retry_after_in_seconds_is_held_between_zero_and_the_cap(
    value: str, seconds: float | None
) -> None:
    assert retry_after({"retry-after": value}) == seconds


def test_retry_after_as_a_date_counts_from_now() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    waited = retry_after({"Retry-After": later})
    assert waited is not None and 15.0 <= waited <= 20.0
    assert retry_after({}) is None


def test_the_provider_key_is_redacted_from_what_the_provider_echoes() -> None:
    keyed = route(api_key=SECRET)
    assert redact(b'{"error": "bad key ' + SECRET.encode() + b'"}', keyed) == (
        b'{"error": "bad key [redacted]"}'
    )
    # A key too short to be a real one is not searched for: it would mangle ordinary text.
    assert redact(b"abc abc", route(api_key="abc")) == b"abc abc"


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_the_gateways_problem_not_the_clients(status: int) -> None:
    error = status_error(route(), status, b"{}", {})
    assert isinstance(error, ProviderKeyRejected)
    assert error.status_code == 502 and not error.retryable
    assert "'gpt'" in error.message and f"HTTP {status}" in error.message


def test_a_provider_5xx_is_a_retryable_502_with_our_own_words() -> None:
    error = status_error(route(), 500, b"internal stack trace", {"retry-after": "4"})
    assert isinstance(error, UpstreamUnavailable)
    assert error.retryable and error.retry_after == 4.0
    assert b"stack trace" not in error.body()


def test_a_4xx_in_the_openai_shape_is_passed_on_as_is_minus_the_key() -> None:
    body = orjson.dumps({"error": {"message": f"bad tool schema ({SECRET})", "type": "x"}})
    error = status_error(route(api_key=SECRET), 400, body, {"x-request-id": "req_9"})
    assert isinstance(error, UpstreamStatus)
    assert error.status_code == 400 and not error.retryable
    assert orjson.loads(error.body())["error"]["message"] == "bad tool schema ([redacted])"
    assert error.headers() == {"x-request-id": "req_9"}


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "rate_limit_error"), (404, "invalid_request_error")]
)
def test_a_4xx_in_another_shape_gets_an_openai_error_body(status: int, kind: str) -> None:
    error = status_error(route(), status, b"<html>nope</html>", {})
    assert isinstance(error, UpstreamStatus)
    shown = orjson.loads(error.body())["error"]
    assert shown["type"] == kind
    assert shown["message"] == f"The provider for model 'gpt' answered HTTP {status}."


def test_a_providers_own_endpoint_without_a_key_fails_before_any_request() -> None:
    with pytest.raises(ProviderKeyMissing) as caught:
        require_key(route())
    assert "'gpt'" in caught.value.message and "api_key" in caught.value.message
    require_key(route(api_key=SECRET))
    require_key(route(api_base="http://127.0.0.1:8000/v1"))  # self-hosted: may need none
