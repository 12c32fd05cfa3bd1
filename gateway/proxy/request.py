"""Stage 2: read the body within the size limit and check the fields the gateway relies on.

Only the fields the gateway itself reads are checked; everything else (tools, response_format,
fields added tomorrow) is the provider's business and passes through untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
from starlette.requests import ClientDisconnect, Request

from gateway.errors import InvalidRequest, PayloadTooLarge
from gateway.types import ChatRequest

_MISSING = object()
#: orjson silently turns integers beyond 64 bits into floats; a body with a run of 19+ digits is
#: parsed again with the exact (slower) parser so such numbers are refused instead of altered.
_LONG_DIGITS = re.compile(rb"\d{19,}")
_INT64 = range(-(2**63), 2**64)
#: ``server.max_json_depth``'s default.
MAX_JSON_DEPTH = 64
#: The most ``server.max_json_depth`` may be: what every JSON body is held to, even by a caller
#: that checks no configured limit, so that no parser or check recurses deeper.
JSON_DEPTH_CEILING = 200
#: A JSON string, escapes included: what the depth scan skips, since brackets in text don't nest.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Byte -> its step in depth, as int8: +1 for [ and {, -1 (0xff) for ] and }, 0 otherwise.
_DEPTH_STEP = bytes(1 if byte in b"[{" else 0xFF if byte in b"]}" else 0 for byte in range(256))


class _HugeInteger(Exception):
    """Signal from the exact parser: an integer beyond 64 bits."""


def check_declared_size(headers: Mapping[str, str], limit: int) -> None:
    """Refuse a body whose ``Content-Length`` is over ``limit`` before reading any of it."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    check_declared_size(request.headers, limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidRequest("The client went away before sending the whole body.") from None
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this gateway's limit of {limit} bytes."
    )


def parse_json_object(raw: bytes, max_depth: int = JSON_DEPTH_CEILING) -> dict[str, Any]:
    """Parse a request body that must be a JSON object, with a 400 that says what is wrong.

    The nesting is measured on the raw bytes before any parser sees them (see ``check_depth``).
    """
    check_depth(raw, max_depth)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON ({exc.msg} at position {exc.pos})."
        ) from None
    if _LONG_DIGITS.search(raw) and _has_huge_integer(raw):
        raise InvalidRequest(
            "The request body holds an integer too large to pass on (beyond 64 bits)."
        )
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


def check_depth(raw: bytes, max_depth: int) -> None:
    """Refuse a body that nests arrays and objects deeper than ``max_depth``, naming the limit."""
    if too_deep(raw, max_depth):
        raise InvalidRequest(
            f"The request body nests arrays and objects more than {max_depth} levels deep, "
            "this gateway's limit.",
            code="json_too_deep",
        )


def too_deep(raw: bytes, max_depth: int) -> bool:
    """Whether ``raw`` nests arrays and objects deeper than ``max_depth``, found without
    recursion and without parsing."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    structure = _STRING.sub(b"", raw).translate(_DEPTH_STEP)
    # The running sum of the steps is the depth at each byte; numpy keeps a 10 MB body cheap.
    depths = np.cumsum(np.frombuffer(structure, dtype=np.int8), dtype=np.int64)
    return bool(depths.size) and int(depths.max()) > max_depth


def _has_huge_integer(raw: bytes) -> bool:
    try:
        json.loads(raw, parse_int=_int64)
    except _HugeInteger:
        return True
    except (ValueError, RecursionError):
        # orjson accepted it; should the exact parser not, the body is refused all the same.
        raise InvalidRequest("The request body is not valid JSON.") from None
    return False


def _int64(digits: str) -> int:
    # Checked by length first: int() of thousands of digits is slow, and refused past 4,300.
    value = int(digits) if len(digits.lstrip("-")) <= 20 else None
    if value is None or value not in _INT64:
        raise _HugeInteger
    return value


def parse_chat(raw: bytes) -> ChatRequest:
    body = parse_json_object(raw)
    model, messages, stream = check_conversation(body)
    return ChatRequest(
        body=body,
        model=model,
        messages=messages,
        stream=stream,
        include_usage=_include_usage(body.get("stream_options")),
        user=_user(body.get("user")),
    )


def check_conversation(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]], bool]:
    """``model``, ``messages`` and ``stream``, checked: what chat and Anthropic's Messages share."""
    model = body.get("model", _MISSING)
    if not isinstance(model, str) or not model:
        raise _field("model", "a non-empty string", model)
    messages = body.get("messages", _MISSING)
    if not isinstance(messages, list) or not messages:
        raise _field("messages", "a non-empty array of message objects", messages)
    for index, message in enumerate(messages):
        _check_message(index, message)
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _field("stream", "a boolean", stream)
    return model, messages, bool(stream)


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _field(where, "an object with 'role' and 'content'", message)
    role = message.get("role", _MISSING)
    if not isinstance(role, str) or not role:
        raise _field(f"{where}.role", "a non-empty string such as 'user'", role)
    content = message.get("content")
    if isinstance(content, list):
        for part_index, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise _field(
                    f"{where}.content[{part_index}]", "an object with a string 'type'", part
                )
    elif content is not None and not isinstance(content, str):
        raise _field(f"{where}.content", "a string, an array of content parts, or null", content)


def _include_usage(options: Any) -> bool:
    if options is None:
        return False
    if not isinstance(options, dict):
        raise _field("stream_options", "an object", options)
    include = options.get("include_usage", False)
    if include is not None and not isinstance(include, bool):
        raise _field("stream_options.include_usage", "a boolean", include)
    return bool(include)


def _user(user: Any) -> str | None:
    if user is None:
        return None
    if not isinstance(user, str):
        raise _field("user", "a string", user)
    return user or None


def field_error(param: str, expected: str, got: Any, *, missing: bool = False) -> InvalidRequest:
    """The 400 for a field of another endpoint's body; ``got`` is named by its JSON type only."""
    return _field(param, expected, _MISSING if missing else got)


def _field(param: str, expected: str, got: Any) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid value for '{param}': expected {expected}, got {_kind(got)}.", param=param
    )


def _kind(value: Any) -> str:
    # Name the JSON type only: the value itself may be a user's text.
    if value is _MISSING:
        return "nothing (the field is missing)"
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string" if value else "an empty string",
        list: "an array" if value else "an empty array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
