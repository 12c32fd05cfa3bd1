"""Helpers for the learning tests: configs, chat calls, the memory API, metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability import Metrics
from tests.support.gateway import KEY, RunningGateway
from tests.support.memory import MODEL_DIR

USER = "alice"
#: What a chat request asks the mock for (the extraction requests follow the mock's script).
CHAT_REPLY = {"mode": "json", "content": "Happy to help."}


def learning_yaml(tmp_path: Path, mock_base_url: str, **extraction: Any) -> str:
    """Memory on (embedded Chroma under ``tmp_path``), a chat model and an extraction model
    on the mock, quick polling and retries; ``extraction`` overrides that section."""
    models = [
        {"name": "chat", "model": "openai/mock-chat", "retries": 0},
        {"name": "extractor", "model": "openai/mock-extractor", "retries": 0},
    ]
    config = {
        "auth": {"keys": [{"key": KEY, "tenant": "acme"}]},
        "models": [
            {**m, "api_base": mock_base_url, "api_key": "sk-provider", "timeout_s": 10}
            for m in models
        ],
        "memory": {
            "store": {"path": str(tmp_path / "chroma"), "state_dir": str(tmp_path / "state")},
            "embedding": {"model_dir": str(MODEL_DIR)},
        },
        "extraction": {
            "model": "extractor",
            "poll_interval_s": 0.1,
            "retry_backoff_s": 0.05,
            "lease_s": 5,
            **extraction,
        },
    }
    return yaml.safe_dump(config)


def facts_answer(*facts: tuple[str, str], delay_s: float = 0.0) -> dict[str, Any]:
    """A mock behaviour: the model answers with these (content, category) facts."""
    body = {"facts": [{"content": c, "category": k} for c, k in facts]}
    return {"mode": "json", "content": orjson.dumps(body).decode(), "delay_s": delay_s}


def chat(
    gateway: RunningGateway | str,
    content: str | Sequence[Mapping[str, Any]],
    *,
    user: str | None = USER,
    memory: str | None = None,
    stream: bool = False,
) -> httpx.Response:
    url = gateway if isinstance(gateway, str) else gateway.url
    headers = {"Authorization": f"Bearer {KEY}"}
    if user is not None:
        headers["X-User-Id"] = user
    if memory is not None:
        headers["X-Memory"] = memory
    messages = [{"role": "user", "content": content}] if isinstance(content, str) else content
    body: dict[str, Any] = {"model": "chat", "messages": list(messages)}
    if stream:
        body["stream"] = True
        body["mock"] = {"mode": "stream", "chunks": ["Happy", " to", " help."]}
    else:
        body["mock"] = CHAT_REPLY
    response = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)
    response.read()
    return response


def memories(
    gateway: RunningGateway | str, user: str = USER, status: str = "all"
) -> list[dict[str, Any]]:
    url = gateway if isinstance(gateway, str) else gateway.url
    response = httpx.get(
        f"{url}/v1/users/{user}/memories",
        params={"status": status, "limit": 1000},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def scrape(gateway: RunningGateway | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = gateway if isinstance(gateway, str) else gateway.url
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return parse_metrics(response.text)


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def counter(
    samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def metric_value(metrics: Metrics, name: str, **labels: str) -> float:
    return counter(parse_metrics(metrics.render()[0].decode()), name, **labels)
