"""From the model name a client sends to where the request goes, resolved at startup."""

from __future__ import annotations

import pytest

from gateway.config import ModelConfig
from gateway.errors import ModelNotFound
from gateway.upstream.routes import ModelRegistry, build_route


def model(name: str, target: str, **fields: object) -> ModelConfig:
    return ModelConfig.model_validate({"name": name, "model": target} | fields)


@pytest.mark.parametrize(
    ("target", "protocol", "upstream", "url"),
    [
        (
            "openai/gpt-4o-mini",
            "openai",
            "gpt-4o-mini",
            "https://api.openai.com/v1/chat/completions",
        ),
        ("anthropic/claude-3-5-haiku", "litellm", "claude-3-5-haiku", None),
        ("echo", "echo", "echo", None),
    ],
)
def test_the_protocol_follows_the_provider_prefix(
    target: str, protocol: str, upstream: str, url: str | None
) -> None:
    route = build_route(model("m", target))
    assert (route.protocol, route.upstream_model, route.url) == (protocol, upstream, url)


def test_a_configured_base_and_protocol_win_over_the_prefix() -> None:
    assert build_route(model("m", "hosted_vllm/llama")).protocol == "openai"
    route = build_route(model("m", "openai/gpt-4o", api_base="http://127.0.0.1:9/v1/"))
    assert route.url == "http://127.0.0.1:9/v1/chat/completions"
    assert route.api_base == "http://127.0.0.1:9/v1"
    assert build_route(model("m", "openai/gpt-4o", protocol="litellm")).protocol == "litellm"


@pytest.mark.parametrize(
    ("target", "window"),
    [
        ("openai/gpt-4o-mini", 128_000),
        ("openai/gpt-4.1-nano", 1_047_576),
        ("openai/gpt-4", 8_192),
        ("anthropic/claude-sonnet-4", 200_000),
        ("azure/deployments/GPT-3.5-turbo", 16_385),
        ("hosted_vllm/some-local-model", 128_000),
    ],
)
def test_the_context_window_is_looked_up_by_model_family(target: str, window: int) -> None:
    assert build_route(model("m", target)).context_window == window
    assert build_route(model("m", target, context_window=4096)).context_window == 4096


def test_the_provider_label_is_the_prefix_or_else_the_protocol() -> None:
    assert build_route(model("m", "anthropic/claude")).provider == "anthropic"
    assert build_route(model("m", "echo")).provider == "echo"


def test_the_registry_chains_fallbacks_and_names_unknown_models() -> None:
    registry = ModelRegistry(
        (
            model("main", "openai/gpt-4o", fallbacks=["spare", "last"]),
            model("spare", "anthropic/claude"),
            model("last", "echo"),
        )
    )
    assert registry.names() == ["main", "spare", "last"]
    assert [r.name for r in registry.chain("main")] == ["main", "spare", "last"]
    assert [r.name for r in registry.chain("spare")] == ["spare"]
    with pytest.raises(ModelNotFound) as caught:
        registry.get("gpt-5")
    assert caught.value.param == "model" and "'gpt-5'" in caught.value.message
