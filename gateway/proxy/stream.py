"""Stage 6: pass the provider's answer to the client untouched, tapping what goes by.

Streamed bytes are written to the client the moment they arrive (never re-framed, never
buffered). A tap parses a copy of the server-sent events to learn the reply's text, usage and
time to first token. A client that disconnects cancels the upstream call at once.
``RelayResponse`` does the same, untapped, for answers of any media type (pass-through).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import orjson
from starlette.types import Receive, Scope, Send

from gateway.errors import INTERNAL_ERROR_BODY, GatewayError
from gateway.upstream import ReplyStream
from gateway.upstream.relay import RelayedStream

log = logging.getLogger(__name__)

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # Tell reverse proxies in front of us (nginx) not to buffer the stream either.
    (b"x-accel-buffering", b"no"),
]


class StreamTap:
    """Reads server-sent events from a copy of the byte stream."""

    __slots__ = ("_buffer", "_parts", "completion_id", "first_token_at", "usage")

    def __init__(self) -> None:
        self._buffer = b""
        self._parts: list[str] = []
        self.first_token_at: float | None = None
        self.usage: dict[str, Any] | None = None
        #: The completion's ``id``, from the first chunk that carries one.
        self.completion_id: str | None = None

    @property
    def text(self) -> str:
        """The text of choice 0 seen so far."""
        return "".join(self._parts)

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        if b"\n\n" not in self._buffer and b"\r\n\r\n" not in self._buffer:
            return
        events = self._buffer.replace(b"\r\n", b"\n").split(b"\n\n")
        self._buffer = events.pop()
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def error_event(self, error: GatewayError | None) -> bytes:
        """``error`` (None: an internal one) told in-band, once the headers are gone, the way
        OpenAI's own streams do."""
        return b"data: " + (INTERNAL_ERROR_BODY if error is None else error.body()) + b"\n\n"

    def _data(self, data: bytes) -> None:
        if not data or data == b"[DONE]":
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(event, dict):
            self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        """One chat-completion chunk; taps for other wire formats read their own events."""
        if isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
        if self.completion_id is None and isinstance(event.get("id"), str):
            self.completion_id = event["id"]
        for choice in event.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._delta(choice.get("delta"))

    def _delta(self, delta: Any) -> None:
        if not isinstance(delta, dict):
            return
        content = delta.get("content")
        self.add_text(content)
        if delta.get("tool_calls"):
            self.mark_first_token()

    def add_text(self, text: Any) -> None:
        """Keep a piece of the reply's text; the first one marks the time to first token."""
        if isinstance(text, str) and text:
            self._parts.append(text)
            self.mark_first_token()

    def mark_first_token(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()


#: Called once the whole answer has passed, before the client sees its end.
OnComplete = Callable[[StreamTap], Awaitable[None] | None]
#: Called when the stream ends early: ("disconnect" | "upstream_error" | "internal_error", tap).
OnAbort = Callable[[str, StreamTap], None]


class StreamResponse:
    """An ASGI response that relays a ``ReplyStream`` and watches for the client leaving."""

    def __init__(
        self,
        stream: ReplyStream,
        headers: Mapping[str, str],
        on_complete: OnComplete,
        on_abort: OnAbort,
        tap: StreamTap | None = None,
    ) -> None:
        self._stream = stream
        self._headers = [*_SSE_HEADERS, *((k.encode(), v.encode()) for k, v in headers.items())]
        self._on_complete = on_complete
        self._on_abort = on_abort
        self.tap = StreamTap() if tap is None else tap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self._headers})
        async with anyio.create_task_group() as group:
            group.start_soon(self._relay, send, group.cancel_scope)
            await _wait_for_disconnect(receive)
            if not group.cancel_scope.cancel_called:
                self._on_abort("disconnect", self.tap)
            group.cancel_scope.cancel()

    async def _relay(self, send: Send, scope: anyio.CancelScope) -> None:
        try:
            async for chunk in self._stream:
                self.tap.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            pending = self._on_complete(self.tap)
            if pending is not None:
                await pending
        except GatewayError as exc:
            # Headers are gone already: report in-band.
            self._on_abort("upstream_error", self.tap)
            await _send_event(send, self.tap.error_event(exc))
        except Exception:
            log.exception("stream relay failed")
            self._on_abort("internal_error", self.tap)
            await _send_event(send, self.tap.error_event(None))
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        scope.cancel()


async def _send_event(send: Send, event: bytes) -> None:
    await send({"type": "http.response.body", "body": event, "more_body": True})


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


#: Answers declared this small are read whole and sent in one piece: no stream to watch.
WHOLE_ANSWER_BYTES = 256 * 1024


class RelayResponse:
    """An ASGI response that relays any answer (JSON, audio, a file) as its bytes arrive.

    Nothing is parsed and nothing is held: each chunk goes to the client before the next is read,
    so an answer of any size costs the same memory. An upstream failure after the head was sent
    cuts the connection, so the client sees a truncated body rather than a short one that looks
    complete. A small answer of declared size (an embedding, a file's metadata) is read whole
    first and sent at once, which costs a fraction of watching a stream.
    """

    def __init__(self, stream: RelayedStream) -> None:
        self._stream = stream
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stream.headers.items()]
        if stream.media_type is not None:
            headers.append((b"content-type", stream.media_type.encode("latin-1")))
        self._headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": self._stream.status}
        length = self._stream.length
        if length is not None and length <= WHOLE_ANSWER_BYTES:
            body = await self._read_whole()
            size = (b"content-length", str(len(body)).encode())
            await send({**start, "headers": [*self._headers, size]})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send({**start, "headers": self._headers})
        async with anyio.create_task_group() as group:
            group.start_soon(self._relay, send, group.cancel_scope)
            await _wait_for_disconnect(receive)
            group.cancel_scope.cancel()

    async def _read_whole(self) -> bytes:
        try:
            return b"".join([chunk async for chunk in self._stream])
        finally:
            await self._stream.aclose()

    async def _relay(self, send: Send, scope: anyio.CancelScope) -> None:
        try:
            async for chunk in self._stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        scope.cancel()
