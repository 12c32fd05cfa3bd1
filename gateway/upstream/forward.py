"""Stage 5: send the request upstream, with retries, backoff and ordered fallbacks.

A model is tried ``1 + retries`` times while its errors are retryable (429, 5xx, timeouts,
connection failures), waiting an exponentially growing, jittered delay (or the provider's
Retry-After) between attempts; then the next name in its ``fallbacks``. A provider's 4xx other
than 429 is the caller's to fix and is passed on at once. When the fallbacks fail too, the client
hears about the model it asked for first, then what became of each fallback.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from gateway.errors import UpstreamError, UpstreamStatus
from gateway.upstream import Reply, ReplyStream, Upstream
from gateway.upstream.routes import Route

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
#: Called with (route, error) for every failed attempt, for metrics.
OnFailure = Callable[[Route, UpstreamError], None]


def _ignore(route: Route, error: UpstreamError) -> None:
    return None


class Forwarder:
    def __init__(
        self,
        upstreams: Mapping[str, Upstream],
        *,
        backoff_s: float = 0.25,
        max_backoff_s: float = 8.0,
        sleep: Sleep = asyncio.sleep,
        on_failure: OnFailure = _ignore,
    ) -> None:
        self._upstreams = upstreams
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._on_failure = on_failure

    async def complete(self, chain: Sequence[Route], body: dict[str, Any]) -> tuple[Route, Reply]:
        return await self._first_success(chain, lambda up, route: up.complete(route, body))

    async def stream(
        self, chain: Sequence[Route], body: dict[str, Any]
    ) -> tuple[Route, ReplyStream]:
        """Open a stream; retries and fallbacks apply until the provider starts answering."""
        return await self._first_success(chain, lambda up, route: up.stream(route, body))

    async def _first_success(
        self, chain: Sequence[Route], call: Callable[[Upstream, Route], Awaitable[T]]
    ) -> tuple[Route, T]:
        return await self.attempt(chain, lambda route: call(self._upstreams[route.protocol], route))

    async def attempt(
        self, chain: Sequence[Route], call: Callable[[Route], Awaitable[T]]
    ) -> tuple[Route, T]:
        """``call`` each route of ``chain`` in turn, with the retries and backoff above, until
        one succeeds: for wire formats whose caller picks the upstream itself."""
        error: UpstreamError | None = None
        failures: list[tuple[Route, UpstreamError]] = []
        for route in chain:
            for attempt in range(route.config.retries + 1):
                if attempt:
                    await self._sleep(self._delay(attempt, error))
                try:
                    return route, await call(route)
                except UpstreamError as exc:
                    self._on_failure(route, exc)
                    error = exc
                    if not exc.retryable:
                        break
            assert error is not None
            failures.append((route, error))
            if not _may_fall_back(error):
                break
        raise _chain_failed(failures)

    def _delay(self, attempt: int, error: UpstreamError | None) -> float:
        if error is not None and error.retry_after is not None:
            return min(error.retry_after, self._max_backoff_s)
        ceiling = min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s)
        return random.uniform(ceiling / 2, ceiling)


def _chain_failed(failures: Sequence[tuple[Route, UpstreamError]]) -> UpstreamError:
    """The last error, with a message that starts from the model the client asked for (a
    message naming only the last fallback would send its reader after the wrong model).

    A provider's own error body (``UpstreamStatus``) is passed on as it came."""
    (asked, first), *fallbacks = failures
    error = failures[-1][1]
    if fallbacks:
        told = " ".join(f"Fallback '{route.name}': {e.message}" for route, e in fallbacks)
        error.message = f"Model '{asked.name}' and its fallbacks failed. {first.message} {told}"
    return error


def _may_fall_back(error: UpstreamError | None) -> bool:
    # A 4xx other than 429 says the request itself is wrong: another model will not fix it.
    return not (isinstance(error, UpstreamStatus) and not error.retryable)
