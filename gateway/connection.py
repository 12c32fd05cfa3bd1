"""What one HTTP connection may cost the gateway: the ``server.*`` limits, enforced under uvicorn.

uvicorn's httptools protocol leaves a connection that sends nothing open for ever, waits for a
promised body for ever, and accepts a head of any size; beyond ``limit_concurrency`` and on a
malformed request it answers in plain text. ``LimitedProtocol`` adds a deadline for the head, an
idle deadline for the body, caps on the head's size and header count and on open connections,
and answers every refusal in the OpenAI error shape.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.config import ServerConfig
from gateway.errors import (
    GatewayError,
    HeadersTooLarge,
    InvalidRequest,
    RequestTimeout,
    ServerBusy,
    URLTooLong,
)

log = logging.getLogger("gateway.connection")


@dataclass(frozen=True)
class LimitedHTTP:
    """The ``http`` protocol to give uvicorn. A picklable factory rather than a class, so that
    uvicorn can hand it, limits and all, to its worker processes."""

    limits: ServerConfig

    def __call__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> LimitedProtocol:
        return LimitedProtocol(self.limits, config, server_state, app_state, _loop)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request that has been answered."""


class LimitedProtocol(HttpToolsProtocol):
    """One connection, held to ``limits``."""

    def __init__(
        self,
        limits: ServerConfig,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.timeout_keep_alive = limits.keep_alive_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        #: Whether the bytes arriving belong to a request's head (line and headers).
        self._in_head = True
        #: Whether a head has begun and is not yet whole.
        self._head_begun = False
        self._head_bytes = 0
        self._last_read = 0.0
        self._refused = False
        self.url = b""

    # The connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        self._last_read = self.loop.time()
        if self._in_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self._refused:
                self._refuse(
                    InvalidRequest(
                        "The request is not valid HTTP/1.1 (a malformed request line or header).",
                        code="invalid_http",
                    )
                )
            return
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            # A head still incomplete: httptools buffers a header until its end, so raw bytes.
            self._refuse(self._head_too_large())
            return
        # Deadlines are set only for what this read left unfinished: a request that arrives
        # whole in one read (most do) costs no timer.
        if self._head_begun:
            self._start_head_timer()
        elif not self._in_head and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_idle)

    def _should_upgrade_to_ws(self) -> bool:
        # No endpoint speaks WebSocket: an upgrade request is served as the plain HTTP request it
        # also is, rather than refused by the WebSocket library in plain text.
        return False

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_header_bytes:
            self._stop(
                URLTooLong(
                    "The request URL is longer than this gateway's limit of "
                    f"{self.limits.max_header_bytes} bytes."
                )
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if len(self.headers) > self.limits.max_headers:
            self._stop(
                HeadersTooLarge(
                    f"The request has more than {self.limits.max_headers} headers, "
                    "this gateway's limit."
                )
            )

    def on_headers_complete(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = None
        self._in_head = self._head_begun = False
        size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
        self._head_bytes = 0
        if size > self.limits.max_header_bytes:
            self._stop(self._head_too_large())
        # This connection is already counted among them.
        if len(self.connections) > self.limits.max_connections:
            log.warning("refused a request: %d connections open", len(self.connections))
            self._stop(
                ServerBusy("The gateway is serving as many connections as it may; retry shortly.")
            )
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel(self._body_timer)
        self._body_timer = None
        self._in_head = True

    # Deadlines

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._head_timed_out
            )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_bytes == 0 and not self.url:
            # Not a byte of a request: nobody to answer, just let the connection go.
            self.transport.close()
            return
        self._refuse(
            RequestTimeout(
                f"The request's headers did not arrive within {self.limits.header_timeout_s:g} s."
            )
        )

    def _body_idle(self) -> None:
        timeout = self.limits.body_timeout_s
        now = self.loop.time()
        if self.flow.read_paused:
            # Reading is paused because the application is not consuming: not the client's fault.
            self._last_read = now
        idle = now - self._last_read
        if idle < timeout:
            self._body_timer = self.loop.call_later(timeout - idle, self._body_idle)
            return
        self._body_timer = None
        if self.cycle.response_started:
            # Answered already (a 401, say), and the rest of the body never came: just close.
            self._refused = True
            self.transport.close()
            return
        self._refuse(RequestTimeout(f"The request body stalled for {timeout:g} s."))

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    # Refusals

    def _head_too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            "The request line and headers are larger than this gateway's limit of "
            f"{self.limits.max_header_bytes} bytes."
        )

    def _stop(self, error: GatewayError) -> None:
        """Answer ``error`` from inside a parser callback, and stop the parser."""
        self._refuse(error)
        raise _Refused

    def _refuse(self, error: GatewayError) -> None:
        """Answer ``error`` in the OpenAI shape, unless an answer is already under way, and close
        the connection."""
        self._refused = True
        self._cancel_timers()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                self.transport.close()
                return
            # The application may still answer the request it was given: that answer goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        body = error.body()
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *((name.encode(), value.encode()) for name, value in error.headers().items()),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(STATUS_LINE[error.status_code] + head + b"\r\n" + body)
        self.transport.close()
