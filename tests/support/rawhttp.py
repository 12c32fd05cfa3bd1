"""Bare HTTP/1.1 over a socket, for requests no well-behaved client library would send (control
characters in headers, slow or broken heads), and the checks on what comes back."""

from __future__ import annotations

import json
import socket
from contextlib import suppress
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def openai_error(self) -> dict[str, Any]:
        """The ``error`` object of an OpenAI-shaped error body, checked to be one."""
        assert self.headers.get("content-type") == "application/json", self
        body = json.loads(self.body)
        assert set(body) == {"error"}, body
        error: dict[str, Any] = body["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"], error
        return error

    def anthropic_error(self) -> dict[str, Any]:
        """The ``error`` object of an Anthropic-shaped error body (``/v1/messages``), checked."""
        assert self.headers.get("content-type") == "application/json", self
        body = json.loads(self.body)
        assert body.keys() == {"type", "error"} and body["type"] == "error", body
        error: dict[str, Any] = body["error"]
        assert set(error) == {"type", "message"}, error
        assert isinstance(error["message"], str) and error["message"], error
        return error


def connect(url: str, timeout: float = 10) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_response(sock: socket.socket) -> RawResponse:
    """One response's head and, when it has a Content-Length, its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawResponse(int(lines[0].split()[1]), headers, body)


def exchange(url: str, wire: bytes) -> RawResponse:
    """Send ``wire`` on a new connection and read the answer. A server may refuse a request
    before it has all been sent: the answer is read all the same."""
    with connect(url) as sock:
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(wire)
        return read_response(sock)
