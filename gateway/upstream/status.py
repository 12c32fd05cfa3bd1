"""Turning a provider's failure (an error answer, a timeout, no connection, no key) into an
``UpstreamError``, and choosing the headers to pass on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from time import time

import orjson

from gateway.errors import (
    ProviderKeyMissing,
    ProviderKeyRejected,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_body,
)
from gateway.upstream.routes import Route

#: Headers that describe one hop or that we set ourselves; everything else is passed on.
_NOT_PASSED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "content-type",
        "date",
        "server",
        "set-cookie",
        "alt-svc",
        "upgrade",
        "proxy-authenticate",
        "trailer",
        "te",
        "via",
    }
)
_RETRY_AFTER_CAP_S = 30.0


def passed_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The provider's headers a client may rely on (request ids, rate-limit counters)."""
    return {k: v for k, v in headers if k.lower() not in _NOT_PASSED}


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), _RETRY_AFTER_CAP_S)


def redact(body: bytes, route: Route) -> bytes:
    """Remove the provider key from a provider's answer, should it echo it back."""
    key = route.config.api_key
    secret = key.get_secret_value().encode() if key is not None else b""
    return body.replace(secret, b"[redacted]") if len(secret) >= 8 else body


def status_error(
    route: Route, status: int, body: bytes, headers: Mapping[str, str]
) -> UpstreamError:
    """The error to raise for a provider's answer with ``status`` >= 400."""
    if status in (401, 403):
        return key_rejected(route, status)
    if status >= 500:
        return provider_failed(route, status, retry_after(headers))
    body = redact(body, route)
    if not _is_openai_error(body):
        kind = "rate_limit_error" if status == 429 else "invalid_request_error"
        body = error_body(
            f"The provider for model '{route.name}' answered HTTP {status}.", kind, None, None
        )
    return UpstreamStatus(
        status,
        body,
        message=f"provider answered HTTP {status}",
        retry_after=retry_after(headers),
        headers=passed_headers(headers.items()),
    )


def key_missing(route: Route) -> ProviderKeyMissing:
    """No key is configured for ``route`` and its provider wants one."""
    return ProviderKeyMissing(
        f"No API key is configured for model '{route.name}' (provider {route.provider}); "
        "the gateway's operator must set its api_key in the gateway's configuration."
    )


def key_rejected(route: Route, status: int) -> ProviderKeyRejected:
    """The provider refused the key configured for ``route`` (HTTP 401 or 403)."""
    return ProviderKeyRejected(
        f"The provider of model '{route.name}' ({route.provider}) rejected the API key the "
        f"gateway sent (HTTP {status}); the gateway's operator must replace it."
    )


def provider_failed(route: Route, status: int, wait: float | None = None) -> UpstreamError:
    """A provider's 5xx: retryable, and shown to the client as 502 with our own body, since a
    provider's internal error text is not the client's business."""
    error = UpstreamUnavailable(f"The provider for model '{route.name}' failed (HTTP {status}).")
    error.retry_after = wait
    return error


def _is_openai_error(body: bytes) -> bool:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("error"), dict)


def require_key(route: Route) -> None:
    # A provider's own endpoint (no api_base configured) always needs a key; failing here saves
    # the client a round of doomed retries. Self-hosted endpoints often need none.
    if route.config.api_key is None and route.config.api_base is None:
        raise key_missing(route)


def timed_out(route: Route) -> UpstreamError:
    return UpstreamTimeout(
        f"The provider for model '{route.name}' did not answer within {route.config.timeout_s:g} s."
    )


def unreachable(route: Route, exc: BaseException) -> UpstreamError:
    return UpstreamUnavailable(f"Could not reach the provider for model '{route.name}' ({exc}).")
