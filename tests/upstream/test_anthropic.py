"""Which provider answers a Messages request, and where Anthropic's endpoint is."""

from __future__ import annotations

import pytest

from gateway.config import ModelConfig
from gateway.upstream.anthropic import messages_protocol, messages_url
from gateway.upstream.routes import build_route


@pytest.mark.parametrize(
    ("model", "protocol", "expected"),
    [
        ("anthropic/claude-sonnet-4-5", "auto", "anthropic"),
        ("echo", "auto", "echo"),
        ("openai/gpt-4o-mini", "auto", "litellm"),
        ("hosted_vllm/llama", "auto", "litellm"),
        ("bedrock/anthropic.claude-3", "auto", "litellm"),
        # An OpenAI-compatible server in front of Claude speaks OpenAI's wire, not Anthropic's.
        ("anthropic/claude-sonnet-4-5", "openai", "litellm"),
    ],
)
def test_each_model_is_answered_by_its_kind(model: str, protocol: str, expected: str) -> None:
    route = build_route(ModelConfig(name="m", model=model, protocol=protocol))  # type: ignore[arg-type]
    assert messages_protocol(route) == expected


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        (None, "https://api.anthropic.com/v1/messages"),
        ("http://127.0.0.1:9000", "http://127.0.0.1:9000/v1/messages"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/v1/messages"),
        ("https://proxy.example/anthropic/v1", "https://proxy.example/anthropic/v1/messages"),
        ("https://proxy.example/v1/messages", "https://proxy.example/v1/messages"),
    ],
)
def test_the_messages_url_follows_api_base(api_base: str | None, url: str) -> None:
    config = ModelConfig(name="claude", model="anthropic/claude-x", api_base=api_base)
    assert messages_url(build_route(config)) == url
