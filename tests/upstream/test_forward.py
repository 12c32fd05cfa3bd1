"""Retries, backoff and fallbacks over a chain of models, against a scripted provider."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from gateway.config import ModelConfig
from gateway.errors import UpstreamError, UpstreamStatus, UpstreamTimeout, UpstreamUnavailable
from gateway.upstream import Reply, ReplyStream
from gateway.upstream.forward import Forwarder
from gateway.upstream.routes import ModelRegistry, Route

OK = Reply(200, {}, b'{"ok": true}')


class Scripted:
    """A provider that answers each call with the next outcome: a Reply, or an error to raise."""

    def __init__(self, outcomes: Sequence[Reply | UpstreamError]) -> None:
        self._outcomes = list(outcomes)
        self.calls: list[str] = []

    async def complete(self, route: Route, body: dict[str, Any]) -> Reply:
        self.calls.append(route.name)
        outcome = self._outcomes.pop(0)
        if isinstance(outcome, UpstreamError):
            raise outcome
        return outcome

    async def stream(self, route: Route, body: dict[str, Any]) -> ReplyStream:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def chain(retries: int = 2) -> list[Route]:
    models = (
        ModelConfig(name="main", model="echo", retries=retries, fallbacks=("spare",)),
        ModelConfig(name="spare", model="echo", retries=0),
    )
    return ModelRegistry(models).chain("main")


def forward(
    provider: Scripted, slept: list[float], failures: list[tuple[str, str]]
) -> tuple[Route, Reply]:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    forwarder = Forwarder(
        {"echo": provider},
        backoff_s=0.25,
        max_backoff_s=8.0,
        sleep=sleep,
        on_failure=lambda route, error: failures.append((route.name, type(error).__name__)),
    )
    return asyncio.run(forwarder.complete(chain(), {"model": "main"}))


def test_a_retryable_error_is_tried_again_after_a_jittered_backoff() -> None:
    provider = Scripted([UpstreamUnavailable("reset"), UpstreamTimeout("slow"), OK])
    slept: list[float] = []
    failures: list[tuple[str, str]] = []
    route, reply = forward(provider, slept, failures)
    assert (route.name, reply) == ("main", OK)
    assert provider.calls == ["main", "main", "main"]
    assert failures == [("main", "UpstreamUnavailable"), ("main", "UpstreamTimeout")]
    # Attempt n waits between half and all of 0.25 * 2**(n-1) seconds.
    assert 0.125 <= slept[0] <= 0.25
    assert 0.25 <= slept[1] <= 0.5


def test_the_providers_retry_after_is_waited_up_to_the_cap() -> None:
    limited = UpstreamStatus(429, b"{}", message="slow down", retry_after=30.0)
    slept: list[float] = []
    forward(Scripted([limited, OK]), slept, [])
    assert slept == [8.0]


def test_the_fallback_answers_once_the_model_has_used_its_attempts() -> None:
    down = [UpstreamUnavailable("down") for _ in range(3)]
    provider = Scripted([*down, OK])
    failures: list[tuple[str, str]] = []
    route, _ = forward(provider, [], failures)
    assert route.name == "spare"
    assert provider.calls == ["main", "main", "main", "spare"]
    assert len(failures) == 3


def test_a_request_the_provider_refused_is_neither_retried_nor_sent_elsewhere() -> None:
    refused = UpstreamStatus(400, b'{"error": {}}', message="bad tool schema")
    provider = Scripted([refused, OK])
    slept: list[float] = []
    with pytest.raises(UpstreamStatus) as caught:
        forward(provider, slept, [])
    assert caught.value is refused
    assert provider.calls == ["main"]
    assert slept == []


def test_the_last_error_is_raised_when_every_model_failed() -> None:
    provider = Scripted([*(UpstreamUnavailable("down") for _ in range(3)), UpstreamTimeout("slow")])
    failures: list[tuple[str, str]] = []
    with pytest.raises(UpstreamTimeout):
        forward(provider, [], failures)
    assert [name for name, _ in failures] == ["main", "main", "main", "spare"]
