"""Stage 2 of a pass-through request: the model it names, found without holding an upload.

A JSON body is small and read whole (within ``server.max_body_bytes``): its ``model`` field is
read, and renamed to the provider's name for it on the way out. A multipart form is read only up
to its ``model`` field or its first file, whichever comes first (the OpenAI SDKs send the form
fields before the file); the rest of the upload is handed on as it arrives. Any other body is
handed on untouched, and names no model.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from gateway.errors import InvalidRequest
from gateway.proxy.request import parse_json_object, read_body

#: The most of a multipart form held while looking for its ``model`` field.
FORM_HEAD_BYTES = 256 * 1024

_BOUNDARY = re.compile(rb'boundary="?([^";]+)"?', re.IGNORECASE)
_DISPOSITION = re.compile(rb"^content-disposition:(.*)$", re.IGNORECASE | re.MULTILINE)
_NAME = re.compile(rb';\s*name="([^"]*)"', re.IGNORECASE)
_FILENAME = re.compile(rb";\s*filename\*?=", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A pass-through request's body, and the model it names (if any)."""

    model: str | None
    #: The parsed body, when it is a JSON object.
    json: dict[str, Any] | None
    #: The body as received: whole, or its first part then the rest as it arrives.
    body: bytes | AsyncIterable[bytes]
    #: The body's size when known.
    length: int | None
    #: Where the model's name sits in a multipart form's first part, to rename it.
    model_span: tuple[int, int] | None = None

    def renamed(self, model: str) -> tuple[bytes | AsyncIterable[bytes], int | None]:
        """The body and its size, with the model named as ``model``."""
        if self.model is None or self.model == model:
            return self.body, self.length
        if self.json is not None:
            data = orjson.dumps({**self.json, "model": model})
            return data, len(data)
        assert self.model_span is not None
        assert not isinstance(self.body, bytes)
        start, end = self.model_span
        name = model.encode()
        delta = len(name) - (end - start)
        length = None if self.length is None else self.length + delta
        return _renamed(self.body, start, end, name), length


async def read_outgoing(request: Request, limit: int) -> Outgoing:
    """Read as much of the body as it takes to know the model, and no more."""
    content_type = request.headers.get("content-type", "").lower()
    if _is_json(content_type):
        raw = await read_body(request, limit)
        body = parse_json_object(raw) if raw else {}
        return Outgoing(_model(body.get("model")), body, raw, len(raw))
    length = _declared_length(request)
    if length == 0 or (length is None and "chunked" not in _transfer_encoding(request)):
        return Outgoing(None, None, b"", 0)
    chunks = _client_body(request)
    boundary = _BOUNDARY.search(request.headers.get("content-type", "").encode("latin-1"))
    if content_type.startswith("multipart/form-data") and boundary is not None:
        return await _read_form(chunks, boundary.group(1), length)
    return Outgoing(None, None, chunks, length)


async def _read_form(chunks: AsyncIterator[bytes], boundary: bytes, length: int | None) -> Outgoing:
    head = b""
    found: tuple[int, int] | None = None
    async for chunk in chunks:
        head += chunk
        found, done = _find_model(head, boundary)
        if done or len(head) > FORM_HEAD_BYTES:
            break
    model = None
    if found is not None:
        model = _model(head[found[0] : found[1]].decode("utf-8", "replace"))
    return Outgoing(model, None, _prepend(head, chunks), length, found)


def _find_model(head: bytes, boundary: bytes) -> tuple[tuple[int, int] | None, bool]:
    """Where the ``model`` field's value lies, and whether looking further is pointless (a
    file has begun, or the form has ended)."""
    delimiter = b"--" + boundary
    at = head.find(delimiter)
    while at >= 0:
        after = at + len(delimiter)
        if head[after : after + 2] == b"--":
            return None, True
        headers_end = head.find(b"\r\n\r\n", after)
        if headers_end < 0:
            return None, False
        disposition = _DISPOSITION.search(head, after, headers_end)
        line = disposition.group(1) if disposition else b""
        if _FILENAME.search(line):
            return None, True
        value_start = headers_end + 4
        value_end = head.find(b"\r\n" + delimiter, value_start)
        if value_end < 0:
            return None, False
        name = _NAME.search(line)
        if name is not None and name.group(1) == b"model":
            return (value_start, value_end), True
        at = value_end + 2
    return None, False


async def _prepend(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if head:
        yield head
    async for chunk in rest:
        yield chunk


async def _renamed(
    body: AsyncIterable[bytes], start: int, end: int, name: bytes
) -> AsyncIterator[bytes]:
    """``body`` with bytes ``start:end`` of its first piece replaced by ``name``."""
    first = True
    async for chunk in body:
        yield chunk[:start] + name + chunk[end:] if first else chunk
        first = False


async def _client_body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise InvalidRequest("The client went away before sending the whole body.") from None


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip()
    return media == "application/json" or media.endswith("+json")


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


def _transfer_encoding(request: Request) -> str:
    return request.headers.get("transfer-encoding", "").lower()


def _model(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            "Invalid value for 'model': expected a non-empty string.", param="model"
        )
    return value
