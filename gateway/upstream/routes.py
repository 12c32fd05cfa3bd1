"""From the model name a client sends to where and how the request goes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.config import ModelConfig
from gateway.errors import ModelNotFound

Protocol = Literal["openai", "litellm", "echo"]

#: litellm provider prefixes whose upstream already speaks the OpenAI chat-completions wire format.
OPENAI_WIRE_PROVIDERS = frozenset(
    {"openai", "hosted_vllm", "custom_openai", "openai_like", "lm_studio", "llamafile"}
)
DEFAULT_API_BASES: Mapping[str, str] = {"openai": "https://api.openai.com/v1"}
ECHO_MODEL = "echo"

#: Context windows by model family, for sizing the memory budget when the config gives none.
_CONTEXT_WINDOWS = (
    ("gpt-4.1", 1_047_576),
    ("gpt-5", 400_000),
    ("gpt-4o", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4", 8_192),
    ("gpt-3.5", 16_385),
    ("claude", 200_000),
    ("gemini", 1_048_576),
)
DEFAULT_CONTEXT_WINDOW = 128_000


@dataclass(frozen=True, slots=True)
class Route:
    """One configured model, resolved once at startup."""

    name: str
    config: ModelConfig
    protocol: Protocol
    #: The model name the provider expects (``openai/gpt-4o-mini`` -> ``gpt-4o-mini``).
    upstream_model: str
    #: The chat-completions URL for the ``openai`` protocol.
    url: str | None
    context_window: int

    @property
    def api_base(self) -> str | None:
        """The provider's base URL (``.../v1``) for the ``openai`` protocol."""
        return self.url.removesuffix("/chat/completions") if self.url else None

    @property
    def provider(self) -> str:
        """A bounded label for metrics: the litellm provider prefix, or the protocol."""
        head, sep, _ = self.config.model.partition("/")
        return head if sep else self.protocol


def resolve_protocol(config: ModelConfig) -> Protocol:
    if config.model == ECHO_MODEL:
        return "echo"
    if config.protocol != "auto":
        return config.protocol
    provider = config.model.partition("/")[0]
    return "openai" if provider in OPENAI_WIRE_PROVIDERS else "litellm"


def context_window(config: ModelConfig) -> int:
    if config.context_window is not None:
        return config.context_window
    base = config.model.rsplit("/", 1)[-1].lower()
    return next(
        (size for prefix, size in _CONTEXT_WINDOWS if base.startswith(prefix)),
        DEFAULT_CONTEXT_WINDOW,
    )


def build_route(config: ModelConfig) -> Route:
    protocol = resolve_protocol(config)
    head, sep, rest = config.model.partition("/")
    upstream_model = rest if sep else config.model
    url = None
    if protocol == "openai":
        base = config.api_base or DEFAULT_API_BASES.get(head, DEFAULT_API_BASES["openai"])
        url = base.rstrip("/") + "/chat/completions"
    return Route(config.name, config, protocol, upstream_model, url, context_window(config))


class ModelRegistry:
    """The configured models, looked up by the name clients send."""

    def __init__(self, models: tuple[ModelConfig, ...]) -> None:
        self._routes = {m.name: build_route(m) for m in models}

    def names(self) -> list[str]:
        return list(self._routes)

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def get(self, name: str) -> Route:
        route = self._routes.get(name)
        if route is None:
            raise ModelNotFound(
                f"The model '{name}' is not configured on this gateway; "
                "GET /v1/models lists the available names.",
                param="model",
            )
        return route

    def chain(self, name: str) -> list[Route]:
        """The route for ``name`` followed by its fallbacks, in order."""
        first = self.get(name)
        return [first, *(self._routes[f] for f in first.config.fallbacks)]
