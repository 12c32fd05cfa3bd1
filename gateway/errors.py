"""Every error the gateway answers with, and how each becomes an HTTP response.

The tree (the HTTP status comes from the class, never from an error's text)::

    GatewayError                      500 server_error
    ├── ConfigError                   (startup only: never reaches a client)
    ├── StartupError                  (startup only: the port or the embedded store is taken)
    ├── InvalidRequest                400 invalid_request_error   (names the field in ``param``)
    ├── AuthenticationFailed          401 authentication_error
    ├── PermissionDenied              403 permission_error        (the key's role forbids it)
    ├── NotFound                      404 not_found_error
    │   ├── ModelNotFound
    │   └── MemoryNotFound
    ├── PayloadTooLarge               413 invalid_request_error
    ├── RequestTimeout                408 invalid_request_error   (headers or body too slow)
    ├── HeadersTooLarge               431 invalid_request_error   (too many or too large)
    │   └── URLTooLong                414
    ├── UpstreamError                 502 upstream_error          (the provider failed us)
    │   ├── UpstreamUnavailable       502 (connection refused, reset, the provider's 5xx)
    │   ├── ProviderKeyRejected       502 provider_key_rejected   (the provider refused our key)
    │   ├── ProviderKeyMissing        503 provider_key_missing    (no key configured)
    │   ├── UpstreamTimeout           504 timeout_error
    │   └── UpstreamStatus            the provider's own 4xx / 429, passed on with its body
    ├── StoreUnavailable              503 service_unavailable     (memory store down)
    ├── ServerBusy                    503 service_unavailable     (at server.max_connections)
    ├── EmbeddingError                503 service_unavailable     (no vectors to be had)
    │   ├── EmbeddingModelUnavailable     the local model's files cannot be found or fetched
    │   └── EmbeddingProviderError        the provider call failed or returned unusable vectors
    ├── IsolationViolation            500 server_error            (the store crossed users)
    └── ImportInterrupted             (``gateway memory import`` only: never reaches a client)

A missing provider key is a 503, not a 502: no provider was asked (or answered), the gateway is
simply not set up to serve that model until its operator adds the key. It is not the client's
fault either, so never a 4xx. When a model's fallbacks all fail too, the client sees the last
error's status with a message that starts from the model it asked for.

Errors are rendered in the OpenAI shape, except on ``POST /v1/messages``, whose clients (Anthropic's
SDK) parse Anthropic's: ``{"type": "error", "error": {"type", "message"}}``, with the type chosen
by the status (``anthropic_body``); a provider's own Anthropic-shaped body passes as it came.

Foreign exceptions (the HTTP client's, litellm's, chromadb's) are translated into this tree at the
boundary where they are raised; nothing outside those boundaries catches them.

A few plain ``Exception`` classes are signals inside one part, raised and caught there, never
answered: ``BadLine`` (``gateway.api.importer``: a line to skip), ``ConnectionFailed``
(``gateway.upstream.http1``: becomes ``UpstreamUnavailable``), ``InvalidExtraction``
(``gateway.learning.extractor``), ``Retry`` and ``GiveUp`` (``gateway.learning.pipeline``: what a
worker does with a failed job), ``_HugeInteger`` (``gateway.proxy.request``: a number beyond 64
bits), ``_Refused`` (``gateway.connection``: stops the HTTP parser once a request is refused).

The errors raised below the application (a malformed request line, a slow or oversized head, a
connection beyond the limit) are answered by ``gateway.connection`` with the same bodies.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson


class GatewayError(Exception):
    """Base class: a problem the client can be told about in the OpenAI error shape."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> bytes:
        return error_body(self.message, self.error_type, self.param, self.code)

    def headers(self) -> Mapping[str, str]:
        return {}


class ConfigError(GatewayError):
    """The configuration file is unusable; raised only while starting up."""


class StartupError(GatewayError):
    """Something outside the config stops the gateway from starting: its port is taken, or
    another gateway holds its embedded store. Raised only while starting up."""


class InvalidRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    """The key is known, but its role (or its tenant) does not allow this action. The message
    names the role and the action, never a user or a memory."""

    status_code = 403
    error_type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    status_code = 404
    error_type = "not_found_error"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MemoryNotFound(NotFound):
    code = "memory_not_found"


class PayloadTooLarge(GatewayError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class RequestTimeout(GatewayError):
    status_code = 408
    error_type = "invalid_request_error"
    code = "request_timeout"


class HeadersTooLarge(GatewayError):
    status_code = 431
    error_type = "invalid_request_error"
    code = "headers_too_large"


class URLTooLong(HeadersTooLarge):
    status_code = 414
    code = "url_too_long"


class UpstreamError(GatewayError):
    """The provider could not give us an answer."""

    status_code = 502
    error_type = "upstream_error"
    #: Whether trying again (or the next fallback) may succeed.
    retryable = True
    #: Seconds the provider asked us to wait, from its Retry-After header.
    retry_after: float | None = None


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"


class ProviderKeyRejected(UpstreamError):
    """The provider answered 401 or 403 to the key the gateway sent: retrying will not help."""

    code = "provider_key_rejected"
    retryable = False


class ProviderKeyMissing(UpstreamError):
    """The model has no provider key configured and its provider needs one."""

    status_code = 503
    error_type = "service_unavailable"
    code = "provider_key_missing"
    retryable = False


class UpstreamTimeout(UpstreamError):
    status_code = 504
    error_type = "timeout_error"
    code = "upstream_timeout"


class UpstreamStatus(UpstreamError):
    """The provider answered with an error status that the client should see as-is.

    429 and 5xx are retryable; other 4xx (a bad tool schema, say) are the caller's to fix and are
    passed on at once with the provider's own error body.
    """

    def __init__(
        self,
        status: int,
        body: bytes,
        *,
        message: str,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status_code = status
        self.raw_body = body
        self.retry_after = retry_after
        self.retryable = status == 429 or status >= 500
        self._headers = dict(headers or {})

    def body(self) -> bytes:
        return self.raw_body

    def headers(self) -> Mapping[str, str]:
        return self._headers


class StoreUnavailable(GatewayError):
    status_code = 503
    error_type = "service_unavailable"
    code = "store_unavailable"


class ServerBusy(GatewayError):
    """The server holds as many connections as it may; the client should come back shortly."""

    status_code = 503
    error_type = "service_unavailable"
    code = "too_many_connections"

    def headers(self) -> Mapping[str, str]:
        return {"retry-after": "1"}


class EmbeddingError(GatewayError):
    """Texts could not be turned into vectors. A request that needs an embedding and cannot get
    one (a provider outage, say) is answered like one whose store is down."""

    status_code = 503
    error_type = "service_unavailable"
    code = "embedding_unavailable"


class EmbeddingModelUnavailable(EmbeddingError):
    """The local embedding model's files cannot be found or fetched; the message says the fix."""


class EmbeddingProviderError(EmbeddingError):
    """A provider embedding call failed or returned vectors that do not fit the configuration."""


class IsolationViolation(GatewayError):
    """The store returned a record of another scope: refuse everything."""

    code = "isolation_violation"


class ImportInterrupted(GatewayError):
    """The store or the embedder failed mid-import; memories before ``line`` are stored."""

    def __init__(self, imported: int, line: int, cause: GatewayError) -> None:
        super().__init__(
            f"stopped at line {line}: {cause.message} "
            f"({imported} memories were stored before that; "
            "running the same file again will not duplicate them)"
        )
        self.imported = imported
        self.line = line


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> bytes:
    """Render the OpenAI error shape."""
    return orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    )


#: Anthropic's ``error.type`` for each status its SDK knows; any other status is ``api_error``.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_body(status: int, message: str) -> bytes:
    """Render Anthropic's error shape, which its SDK parses on ``/v1/messages``."""
    kind = _ANTHROPIC_TYPES.get(status, "api_error")
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def anthropic_body(error: GatewayError) -> bytes:
    """``error`` in Anthropic's shape; a provider's own Anthropic-shaped body passes as it came."""
    if isinstance(error, UpstreamStatus):
        try:
            sent = orjson.loads(error.raw_body)
        except orjson.JSONDecodeError:
            sent = None
        if isinstance(sent, dict) and sent.get("type") == "error":
            return error.raw_body
        told = sent.get("error") if isinstance(sent, dict) else None
        if isinstance(told, dict) and isinstance(told.get("message"), str):
            return anthropic_error_body(error.status_code, told["message"])
    return anthropic_error_body(error.status_code, error.message)


_INTERNAL_MESSAGE = "The gateway hit an internal error; it has been logged."
INTERNAL_ERROR_BODY = error_body(_INTERNAL_MESSAGE, "server_error", None, "internal_error")
ANTHROPIC_INTERNAL_ERROR_BODY = anthropic_error_body(500, _INTERNAL_MESSAGE)
