"""A small HTTP/1.1 client for forwarding: pooled keep-alive connections, streamed bodies.

Chosen by measurement. Forwarding one request to a canned upstream on one core cost ~160-240 us
of CPU with aiohttp's ClientSession and ~18 us with asyncio protocols and httptools' C parser
(the one uvicorn already uses), so this client does only what forwarding needs: POST a body,
read the status and headers, then the body whole or chunk by chunk as it arrives. Chunked and
Content-Length bodies both ways (a request body may itself arrive piece by piece, and is written
no faster than the server reads it), TLS, gzip/deflate, idle-connection expiry; no redirects, no
cookies, no proxies.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

#: Close pooled connections idle for longer than this; servers drop theirs after 60-75 s.
IDLE_S = 30.0
#: Bytes buffered from a stream the client has not taken yet before we stop reading.
_HIGH_WATER = 256 * 1024


class ConnectionFailed(Exception):
    """The request could not be completed on the wire (refused, reset, closed early)."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        secure = parts.scheme == "https"
        return cls(
            parts.scheme, parts.hostname or "localhost", parts.port or (443 if secure else 80)
        )


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[str, str]] = []
        self._head: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._complete = False
        self._error: BaseException | None = None
        self._paused = False
        self._keep_alive = False
        #: Set while the transport's write buffer is full; resolved when it drains.
        self._drained: asyncio.Future[None] | None = None
        #: The server answered before it had the whole request: the connection is not reusable.
        self._cut_short = False
        #: Whether any byte of the current response has arrived.
        self.answered = False
        self.idle_since = time.monotonic()

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but implement it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionFailed(f"malformed response ({type(exc).__name__})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._complete:
            self._fail(ConnectionFailed("connection closed before the response ended"))
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- httptools callbacks --------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        # Asked now: the parser forgets once the message is complete.
        self._keep_alive = self._parser.should_keep_alive()
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and self._transport is not None and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self._complete = True
        self._wake()

    # -- used by the pool and the response ------------------------------------------------

    @property
    def usable(self) -> bool:
        transport = self._transport
        return (
            transport is not None
            and not transport.is_closing()
            and time.monotonic() - self.idle_since < IDLE_S
        )

    def send(self, request: bytes) -> asyncio.Future[None]:
        assert self._transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._headers = []
        self._chunks.clear()
        self._buffered = 0
        self._complete = False
        self._error = None
        self._cut_short = False
        self.answered = False
        self._head = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._head

    @property
    def status(self) -> int:
        return int(self._parser.get_status_code())

    @property
    def headers(self) -> list[tuple[str, str]]:
        return self._headers

    async def send_body(
        self, head: asyncio.Future[None], body: AsyncIterable[bytes], wait_s: float
    ) -> None:
        """Write ``body`` after the request head, waiting (at most ``wait_s`` each time)
        whenever the write buffer is full.

        Stops early, leaving the connection unusable for another request, if the server
        answers or the connection fails before the body is complete."""
        async for chunk in body:
            if head.done() or self._transport is None:
                self._cut_short = True
                return
            self._transport.write(chunk)
            if self._drained is not None:
                async with asyncio.timeout(wait_s):
                    await self._drained

    @property
    def reusable(self) -> bool:
        return self._complete and self._error is None and self._keep_alive and not self._cut_short

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body, or None at its end."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._complete:
                return None
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= _HIGH_WATER // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return chunk

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _wake(self) -> None:
        waiter, self._wakeup = self._wakeup, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self._error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        self._wake()
        self.close()


class Response:
    """A response whose status and headers have arrived; the body is read from it."""

    def __init__(self, pool: Pool, connection: _Connection) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.status = connection.status
        self.headers = connection.headers
        self._decoder = _decoder(self.header("content-encoding"))

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, decoded, piece by piece as it arrives."""
        connection = self._connection
        if connection is None:
            return
        while (chunk := await connection.next_chunk()) is not None:
            data = self._decoder.decompress(chunk) if self._decoder else chunk
            if data:
                yield data
        if self._decoder:
            tail = self._decoder.flush()
            if tail:
                yield tail
        self.release()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def release(self) -> None:
        """Give the connection back (when the body was read whole) or drop it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.put_back(connection)

    def close(self) -> None:
        """Drop the connection: the body was not read to its end."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class Pool:
    """Keep-alive connections to one origin."""

    def __init__(self, origin: Origin, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.origin = origin
        self._idle: deque[_Connection] = deque()
        self._ssl = ssl_context if origin.scheme == "https" else None
        self._host_header = (
            origin.host if origin.port in (80, 443) else f"{origin.host}:{origin.port}"
        )

    async def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        """Send a request and wait for the response's status and headers."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        wire = (head + lines + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        reused = self._reuse()
        if reused is not None:
            try:
                return await self._exchange(reused, wire)
            except ConnectionFailed:
                # The server closed the idle connection as we reused it; nothing was answered,
                # so the request goes once more on a fresh connection.
                if reused.answered:
                    raise
        return await self._exchange(await self._connect(), wire)

    async def stream(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: AsyncIterable[bytes],
        length: int | None,
        wait_s: float,
    ) -> Response:
        """Send a request whose body arrives piece by piece, and wait for the response's head.

        ``length`` is the body's size when known (sent as Content-Length), else the body goes
        chunked. ``wait_s`` bounds each wait for the server (to take more of the body, then to
        answer), not the whole upload. Always on a new connection: a body read once cannot be
        sent again should a pooled connection turn out to be closed."""
        framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        wire = (head + lines + framing + "\r\n\r\n").encode("latin-1")
        connection = await self._connect()
        try:
            answered = connection.send(wire)
            framed = body if length is not None else _chunked(body)
            await connection.send_body(answered, framed, wait_s)
            async with asyncio.timeout(wait_s):
                await answered
        except BaseException:
            connection.close()
            raise
        return Response(self, connection)

    async def _exchange(self, connection: _Connection, wire: bytes) -> Response:
        try:
            await connection.send(wire)
        except BaseException:
            connection.close()  # a timeout or cancellation leaves it mid-request
            raise
        return Response(self, connection)

    def put_back(self, connection: _Connection) -> None:
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()

    def _reuse(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.usable:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection,
                self.origin.host,
                self.origin.port,
                ssl=self._ssl,
                server_hostname=self.origin.host if self._ssl else None,
            )
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect ({type(exc).__name__})") from exc
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


async def _chunked(body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """``body`` in HTTP/1.1 chunked framing."""
    async for chunk in body:
        if chunk:
            yield b"%x\r\n%b\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def _decoder(encoding: str | None) -> zlib._Decompress | None:
    if encoding is None or encoding.lower() in ("identity", ""):
        return None
    if encoding.lower() == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding.lower() == "deflate":
        return zlib.decompressobj()
    raise ConnectionFailed(f"unsupported content-encoding {encoding!r}")


class Client:
    """One pool per origin, shared by every route that forwards there."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pools: dict[Origin, Pool] = {}
        # The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR are honoured).
        self._ssl = ssl_context or ssl.create_default_context()

    def pool(self, url: str) -> Pool:
        origin = Origin.of(url)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = Pool(origin, ssl_context=self._ssl)
        return pool

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        await asyncio.sleep(0)  # let the transports finish closing before the loop may stop
