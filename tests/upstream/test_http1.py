"""The forwarding client against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import pytest_asyncio
from aiohttp import web

from gateway.upstream.http1 import Client, ConnectionFailed

JSON = {"Content-Type": "application/json"}


class Server:
    def __init__(self) -> None:
        self.peers: set[int] = set()
        self.app = web.Application()
        self.app.router.add_post("/plain", self.plain)
        self.app.router.add_post("/chunked-gzip", self.chunked_gzip)
        self.app.router.add_post("/big", self.big)
        self.app.router.add_post("/close", self.close_after)

    def _peer(self, request: web.Request) -> None:
        assert request.transport is not None
        self.peers.add(request.transport.get_extra_info("peername")[1])

    async def plain(self, request: web.Request) -> web.Response:
        self._peer(request)
        return web.Response(body=await request.read(), content_type="application/json")

    async def chunked_gzip(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Encoding": "gzip"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        packed = gzip.compress(b"data: hello\n\n" * 100)
        for start in range(0, len(packed), 7):
            await response.write(packed[start : start + 7])
        await response.write_eof()
        return response

    async def big(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for index in range(200):
            await response.write(bytes([index % 256]) * 10_000)
        await response.write_eof()
        return response

    async def close_after(self, request: web.Request) -> web.Response:
        self._peer(request)
        return web.Response(text="bye", headers={"Connection": "close"})


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    served = Server()
    runner = web.AppRunner(served.app, handle_signals=False, keepalive_timeout=0.3)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield served, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.asyncio
async def test_keep_alive_reuses_one_connection(server: tuple[Server, str]) -> None:
    served, url = server
    client = Client()
    pool = client.pool(url)
    for index in range(20):
        response = await pool.request("POST", "/plain", JSON, b'{"n": %d}' % index)
        assert response.status == 200
        assert await response.read() == b'{"n": %d}' % index
    assert len(served.peers) == 1
    await client.aclose()


@pytest.mark.asyncio
async def test_chunked_gzip_body_is_decoded(server: tuple[Server, str]) -> None:
    _, url = server
    client = Client()
    response = await client.pool(url).request("POST", "/chunked-gzip", JSON, b"{}")
    assert await response.read() == b"data: hello\n\n" * 100
    await client.aclose()


@pytest.mark.asyncio
async def test_large_body_streams_in_order(server: tuple[Server, str]) -> None:
    _, url = server
    client = Client()
    response = await client.pool(url).request("POST", "/big", JSON, b"{}")
    received = bytearray()
    async for chunk in response.chunks():
        received += chunk
        await asyncio.sleep(0)  # a slow reader: the client must pause, not lose data
    assert len(received) == 2_000_000
    assert all(received[i * 10_000] == i % 256 for i in range(200))
    await client.aclose()


@pytest.mark.asyncio
async def test_server_closing_idle_connection_is_survived(server: tuple[Server, str]) -> None:
    served, url = server
    client = Client()
    pool = client.pool(url)
    await (await pool.request("POST", "/plain", JSON, b"1")).read()
    await asyncio.sleep(0.6)  # past the server's keep-alive timeout: it closes our idle socket
    response = await pool.request("POST", "/plain", JSON, b"2")
    assert await response.read() == b"2"
    assert len(served.peers) == 2
    await client.aclose()


@pytest.mark.asyncio
async def test_connection_close_is_honoured(server: tuple[Server, str]) -> None:
    served, url = server
    client = Client()
    pool = client.pool(url)
    for _ in range(3):
        assert await (await pool.request("POST", "/close", JSON, b"")).read() == b"bye"
    assert len(served.peers) == 3
    await client.aclose()


@pytest.mark.asyncio
async def test_refused_connection_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client()
    with pytest.raises(ConnectionFailed):
        await client.pool(f"http://127.0.0.1:{port}").request("POST", "/", JSON, b"")


@pytest.mark.asyncio
async def test_malformed_response_is_reported() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Client()

    async def exchange() -> bytes:
        response = await client.pool(f"http://127.0.0.1:{port}").request("POST", "/", JSON, b"")
        return await response.read()

    with pytest.raises(ConnectionFailed):
        await exchange()
    server.close()
    await server.wait_closed()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.asyncio
async def test_tls_with_a_trusted_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="secure")

    app.router.add_post("/", hello)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    trusting = Client(ssl_context=ssl.create_default_context(cafile=str(cert)))
    response = await trusting.pool(f"https://localhost:{port}").request("POST", "/", JSON, b"")
    assert await response.read() == b"secure"
    with pytest.raises(ConnectionFailed):  # an unknown certificate is refused
        await Client().pool(f"https://localhost:{port}").request("POST", "/", JSON, b"")
    await trusting.aclose()
    await runner.cleanup()


class Uploads:
    """Reads request bodies as they arrive; ``/refuse`` answers before reading any."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_post("/count", self.count)
        self.app.router.add_post("/refuse", self.refuse)

    async def count(self, request: web.Request) -> web.Response:
        size = 0
        while chunk := await request.content.read(65536):
            size += len(chunk)
        framing = "chunked" if request.headers.get("Transfer-Encoding") else "length"
        return web.json_response({"bytes": size, "framing": framing})

    async def refuse(self, request: web.Request) -> web.Response:
        return web.json_response({"error": "too big"}, status=413)


@pytest_asyncio.fixture
async def uploads() -> AsyncIterator[str]:
    # aiohttp would wait up to 10 s at the end for the refused upload's connection to wind down.
    runner = web.AppRunner(Uploads().app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def pieces(count: int, size: int = 65536) -> AsyncIterator[bytes]:
    for index in range(count):
        yield bytes([index % 256]) * size


@pytest.mark.asyncio
@pytest.mark.parametrize("length", [True, False])
async def test_a_streamed_body_goes_with_its_length_or_chunked(uploads: str, length: bool) -> None:
    client = Client()
    pool = client.pool(uploads)
    size = 40 * 65536
    response = await pool.stream(
        "POST", "/count", JSON, pieces(40), size if length else None, wait_s=5
    )
    assert response.status == 200
    assert orjson.loads(await response.read()) == {
        "bytes": size,
        "framing": "length" if length else "chunked",
    }
    await client.aclose()


@pytest.mark.asyncio
async def test_an_early_answer_stops_the_upload(uploads: str) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 65536
            yield b"x" * 65536

    client = Client()
    pool = client.pool(uploads)
    response = await asyncio.wait_for(
        pool.stream("POST", "/refuse", JSON, endless(), None, wait_s=5), timeout=10
    )
    assert response.status == 413
    assert orjson.loads(await response.read()) == {"error": "too big"}
    # Only what the socket buffers took before the answer came back, not the endless body.
    assert sent < 64 * 1024 * 1024
    await client.aclose()
