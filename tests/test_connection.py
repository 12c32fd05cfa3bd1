"""The ``server.*`` limits, probed with raw sockets against a real ``gateway serve`` process: slow
and half-open clients are cut off, oversized heads and surplus connections are refused, and every
refusal comes in the OpenAI error shape."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support import rawhttp
from tests.support.gateway import KEY, GatewayProcess, free_port, spawn_gateway
from tests.support.rawhttp import RawResponse, read_response

pytestmark = pytest.mark.slow

HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 1
KEEP_ALIVE_S = 1
MAX_HEADER_BYTES = 8192
MAX_HEADERS = 50
MAX_CONNECTIONS = 40
CHAT = b'{"model": "echo", "messages": [{"role": "user", "content": "hi"}]}'


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = tmp_path_factory.mktemp("limits") / "gateway.yaml"
    config.write_text(
        f"""
server:
  header_timeout_s: {HEADER_TIMEOUT_S}
  body_timeout_s: {BODY_TIMEOUT_S}
  keep_alive_timeout_s: {KEEP_ALIVE_S}
  max_header_bytes: {MAX_HEADER_BYTES}
  max_headers: {MAX_HEADERS}
  max_connections: {MAX_CONNECTIONS}
auth: {{keys: [{{key: {KEY}, tenant: acme}}]}}
models: [{{name: echo, model: echo}}]
memory: {{enabled: false}}
"""
    )
    process = spawn_gateway(Path(config), port=free_port())
    try:
        yield process
    finally:
        process.process.terminate()
        process.process.wait(timeout=30)


def connect(gateway: GatewayProcess) -> socket.socket:
    return rawhttp.connect(gateway.url)


def request_head(
    path: str = "/v1/chat/completions", *, length: int = len(CHAT), extra: bytes = b""
) -> bytes:
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        ).encode()
        + extra
        + b"\r\n"
    )


def assert_openai_error(response: RawResponse, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, response.body
    error = response.openai_error()
    assert error["code"] == code
    return error


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (after any answer) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_a_normal_request_still_works(gateway: GatewayProcess) -> None:
    with connect(gateway) as sock:
        sock.sendall(request_head() + CHAT)
        response = read_response(sock)
    assert response.status == 200, response.body
    assert orjson.loads(response.body)["choices"][0]["message"]["content"]


def test_half_open_connections_are_closed_after_the_header_timeout(
    gateway: GatewayProcess,
) -> None:
    # The 800 connections that never send a byte.
    with ExitStack() as stack:
        socks = [stack.enter_context(connect(gateway)) for _ in range(800)]
        deadline = time.monotonic() + HEADER_TIMEOUT_S + 5
        still_open = sum(
            not closed_within(sock, max(0.01, deadline - time.monotonic())) for sock in socks
        )
    assert still_open == 0


def test_a_head_sent_too_slowly_gets_408(gateway: GatewayProcess) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
        started = time.monotonic()
        response = read_response(sock)
        elapsed = time.monotonic() - started
    error = assert_openai_error(response, 408, "request_timeout")
    assert "headers" in error["message"]
    assert HEADER_TIMEOUT_S - 0.5 < elapsed < HEADER_TIMEOUT_S + 3


def test_a_body_that_never_comes_gets_408(gateway: GatewayProcess) -> None:
    # The slowloris: Content-Length 100, one byte sent, then nothing.
    with connect(gateway) as sock:
        sock.sendall(request_head(length=100) + b"{")
        started = time.monotonic()
        response = read_response(sock)
        elapsed = time.monotonic() - started
        assert closed_within(sock, 5)
    error = assert_openai_error(response, 408, "request_timeout")
    assert "body" in error["message"]
    assert elapsed < BODY_TIMEOUT_S + 3


def test_a_body_that_keeps_coming_is_not_cut(gateway: GatewayProcess) -> None:
    # The body timeout is idle time between reads, not a deadline for the whole upload.
    with connect(gateway) as sock:
        sock.sendall(request_head())
        for start in range(0, len(CHAT), len(CHAT) // 4):
            time.sleep(BODY_TIMEOUT_S * 0.6)
            sock.sendall(CHAT[start : start + len(CHAT) // 4])
        response = read_response(sock)
    assert response.status == 200, response.body


def test_an_idle_keep_alive_connection_is_closed(gateway: GatewayProcess) -> None:
    with connect(gateway) as sock:
        sock.sendall(request_head() + CHAT)
        assert read_response(sock).status == 200
        started = time.monotonic()
        assert closed_within(sock, KEEP_ALIVE_S + 3)
        assert time.monotonic() - started >= KEEP_ALIVE_S - 0.5


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (b"X-Big: " + b"a" * 200_000 + b"\r\n", "headers_too_large"),
        (b"".join(b"X-H%d: v\r\n" % i for i in range(5000)), "headers_too_large"),
        (
            b"X-Big: "
            + b"a" * (MAX_HEADER_BYTES // 2)
            + b"\r\n"
            + b"X-Big2: "
            + b"b" * (MAX_HEADER_BYTES // 2)
            + b"\r\n",
            "headers_too_large",
        ),
    ],
    ids=["200KB-header", "5000-headers", "two-halves"],
)
def test_oversized_heads_get_431(gateway: GatewayProcess, extra: bytes, code: str) -> None:
    response = rawhttp.exchange(gateway.url, request_head(extra=extra) + CHAT)
    assert_openai_error(response, 431, code)


def test_a_100kb_url_gets_414(gateway: GatewayProcess) -> None:
    response = rawhttp.exchange(gateway.url, request_head("/v1/" + "a" * 100_000) + CHAT)
    assert_openai_error(response, 414, "url_too_long")


def test_a_control_character_in_a_header_gets_the_openai_shape(gateway: GatewayProcess) -> None:
    response = rawhttp.exchange(gateway.url, request_head(extra=b"X-Bad: a\x01b\r\n") + CHAT)
    error = assert_openai_error(response, 400, "invalid_http")
    assert error["type"] == "invalid_request_error"


def test_a_websocket_upgrade_is_served_as_plain_http(gateway: GatewayProcess) -> None:
    # uvicorn would hand it to the WebSocket library, which refuses it with a plain-text 403.
    upgrade = (
        f"GET /v1/models HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {KEY}\r\n"
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    response = rawhttp.exchange(gateway.url, upgrade.encode())
    assert response.status == 200, response.body
    assert orjson.loads(response.body)["object"] == "list"


def test_connections_beyond_the_limit_get_503(gateway: GatewayProcess) -> None:
    with ExitStack() as stack:
        # Each holds a connection open with a head it never finishes.
        for _ in range(MAX_CONNECTIONS):
            stack.enter_context(connect(gateway)).sendall(b"GET /healthz HTTP/1.1\r\n")
        with connect(gateway) as sock:
            sock.sendall(request_head() + CHAT)
            response = read_response(sock)
        error = assert_openai_error(response, 503, "too_many_connections")
        assert error["type"] == "service_unavailable"
        assert response.headers["retry-after"] == "1"
    # Once they are gone (the server sees them close a moment later), requests are served again.
    deadline = time.monotonic() + 5
    while True:
        with connect(gateway) as sock:
            sock.sendall(request_head() + CHAT)
            status = read_response(sock).status
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200


def test_bad_requests_leave_short_log_lines(gateway: GatewayProcess) -> None:
    # The 1 KB request that wrote 134 KB of traceback: deep nesting and a long number.
    deep = b'{"model": "echo", "x": ' + b"[" * 500 + b"1" * 30 + b"]" * 500 + b"}"
    bad = [
        request_head(length=len(deep)) + deep,
        request_head(extra=b"X-Bad: a\x01b\r\n") + CHAT,
        request_head(extra=b"X-Big: " + b"a" * 20_000 + b"\r\n") + CHAT,
    ]
    for wire in bad:
        assert rawhttp.exchange(gateway.url, wire).status in (400, 431)
    log = gateway.log()
    assert "Traceback" not in log
    assert max(len(line) for line in log.splitlines()) < 500
