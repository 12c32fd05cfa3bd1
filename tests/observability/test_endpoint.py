"""``GET /metrics`` on a real gateway: what a scrape shows after real traffic."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import KEY, RunningGateway, base_yaml, start_gateway
from tests.support.mock_upstream import RunningMock

USER_ID = "alice-7f3e@example.com"
MESSAGES = [{"role": "user", "content": "Remember that I keep bees in Lisbon."}]


def metrics_yaml(mock: RunningMock, extra: str = "") -> str:
    """The shared test config plus a model that times out after 0.3 s, then ``extra``."""
    config = yaml.safe_load(base_yaml(mock.base_url))
    slow = {"name": "slow", "model": "openai/mock-model", "api_base": mock.base_url}
    config["models"].append(
        {**slow, "api_key": "sk-provider-secret-123", "timeout_s": 0.3, "retries": 0}
    )
    return yaml.safe_dump(config) + extra


@pytest.fixture
def fresh_gateway(mock: RunningMock) -> Iterator[RunningGateway]:
    """A gateway of its own, so the counts below are this test's alone."""
    with start_gateway(metrics_yaml(mock)) as running:
        yield running


def chat(gateway: RunningGateway, key: str = KEY, **body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "X-User-Id": USER_ID}
    payload = {"model": "mock", "messages": MESSAGES, **body}
    return httpx.post(
        f"{gateway.base_url}/chat/completions", json=payload, headers=headers, timeout=10
    )


def scrape(
    gateway: RunningGateway, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{gateway.url}/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


def test_a_scrape_counts_every_proxied_request_by_status_and_stream(
    fresh_gateway: RunningGateway,
) -> None:
    gateway = fresh_gateway
    assert chat(gateway).status_code == 200
    assert chat(gateway, model="echo", stream=True).status_code == 200
    assert chat(gateway, key="sk-wrong").status_code == 401
    assert chat(gateway, model="no-such-model").status_code == 404
    assert chat(gateway, mock={"mode": "fail", "status": 400}).status_code == 400
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200

    samples = scrape(gateway)
    requests = "gateway_requests_total"
    assert total(samples, requests) == 5  # /healthz and /metrics are not proxied requests
    assert total(samples, requests, status_code="200") == 2
    assert total(samples, requests, status_code="200", stream="true") == 1
    assert total(samples, requests, status_code="401") == 1
    assert total(samples, requests, status_code="404") == 1
    assert total(samples, requests, status_code="400") == 1
    assert total(samples, "gateway_request_duration_seconds_count") == 5
    assert total(samples, "gateway_in_flight_requests") == 0


def test_failed_provider_attempts_are_counted_by_kind(fresh_gateway: RunningGateway) -> None:
    gateway = fresh_gateway
    assert chat(gateway, mock={"mode": "fail", "status": 429, "key": "limit"}).status_code == 429
    assert chat(gateway, mock={"mode": "fail", "status": 400}).status_code == 400
    assert chat(gateway, mock={"mode": "drop"}).status_code == 502
    assert chat(gateway, model="slow", mock={"delay_s": 1}).status_code == 504

    samples = scrape(gateway)
    errors = "gateway_upstream_errors_total"
    assert total(samples, errors, model="mock", kind="rate_limit") == 3  # 1 + 2 retries
    assert total(samples, errors, model="mock", kind="client_error") == 1  # never retried
    assert total(samples, errors, model="mock", kind="connection") == 3
    assert total(samples, errors, model="slow", kind="timeout") == 1


def test_a_scrape_never_shows_a_user_id_key_or_text(fresh_gateway: RunningGateway) -> None:
    gateway = fresh_gateway
    chat(gateway, user="bob-in-the-body")
    chat(gateway, key="sk-not-a-real-key")
    text = httpx.get(f"{gateway.url}/metrics").text
    for secret in (
        USER_ID,
        "bob-in-the-body",
        KEY,
        "sk-not-a-real-key",
        "sk-provider-secret-123",
        "bees",
    ):
        assert secret not in text


def test_metrics_off_means_404(mock: RunningMock) -> None:
    with start_gateway(metrics_yaml(mock, "metrics: {enabled: false}\n")) as running:
        response = httpx.get(f"{running.url}/metrics")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
        assert chat(running).status_code == 200


def test_metrics_can_require_a_gateway_key(mock: RunningMock) -> None:
    with start_gateway(metrics_yaml(mock, "metrics: {require_key: true}\n")) as running:
        assert httpx.get(f"{running.url}/metrics").status_code == 401
        wrong = httpx.get(f"{running.url}/metrics", headers={"Authorization": "Bearer sk-nope"})
        assert wrong.status_code == 401
        samples = scrape(running, Authorization=f"Bearer {KEY}")
        assert "gateway_in_flight_requests" in {name for name, _ in samples}
