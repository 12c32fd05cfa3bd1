"""Stage 6's tap: what it learns from a copy of the server-sent events, however the bytes are cut."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.proxy.stream import StreamTap


def event(payload: Any, newline: bytes = b"\n") -> bytes:
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return b"data: " + data + newline + newline


def chunk(delta: dict[str, Any], index: int = 0, **fields: Any) -> bytes:
    return event({"id": "chatcmpl-1", "choices": [{"index": index, "delta": delta}], **fields})


STREAM = b"".join(
    [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "other choice"}, index=1),
        b": a comment line\n\n",
        chunk({"content": "lo"}),
        event(b"not json"),
        event(b'"a string"'),
        event({"id": "chatcmpl-1", "choices": [], "usage": {"total_tokens": 9}}),
        event(b"[DONE]"),
    ]
)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_the_tap_reads_the_same_reply_whatever_the_cut(size: int) -> None:
    tap = StreamTap()
    for start in range(0, len(STREAM), size):
        tap.feed(STREAM[start : start + size])
    assert tap.text == "Hello"
    assert tap.usage == {"total_tokens": 9}
    assert tap.completion_id == "chatcmpl-1"
    assert tap.first_token_at is not None


def test_crlf_framed_events_are_read_too() -> None:
    tap = StreamTap()
    tap.feed(event({"choices": [{"delta": {"content": "Hi"}}]}, newline=b"\r\n"))
    assert tap.text == "Hi"


def test_an_event_not_yet_ended_is_kept_until_it_is() -> None:
    tap = StreamTap()
    tap.feed(b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n')
    assert tap.text == "" and tap.first_token_at is None
    tap.feed(b"\n")
    assert tap.text == "Hi"


def test_the_first_token_is_the_first_text_or_tool_call_not_the_role() -> None:
    tap = StreamTap()
    tap.feed(chunk({"role": "assistant", "content": ""}))
    assert tap.first_token_at is None
    tap.feed(chunk({"tool_calls": [{"index": 0, "function": {"name": "f"}}]}))
    first = tap.first_token_at
    assert first is not None
    tap.feed(chunk({"content": "later"}))
    assert tap.first_token_at == first and tap.text == "later"
