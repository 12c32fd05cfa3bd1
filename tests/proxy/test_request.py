"""Stage 2: the fields the gateway reads are checked and a bad one is named; the body is held to
the nesting limit; everything else passes through as sent."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import InvalidRequest
from gateway.proxy.request import (
    JSON_DEPTH_CEILING,
    check_depth,
    parse_chat,
    parse_json_object,
    too_deep,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def chat_bytes(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": "", "messages": MESSAGES}, "model"),
        ({"model": 3, "messages": MESSAGES}, "model"),
        ({"model": "mock"}, "messages"),
        ({"model": "mock", "messages": []}, "messages"),
        ({"model": "mock", "messages": "hi"}, "messages"),
        ({"model": "mock", "messages": [MESSAGES[0], "hi"]}, "messages[1]"),
        ({"model": "mock", "messages": [{"content": "hi"}]}, "messages[0].role"),
        ({"model": "mock", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"model": "mock", "messages": [{"role": "user", "content": [{"text": "x"}]}]},
            "messages[0].content[0]",
        ),
        ({"model": "mock", "messages": MESSAGES, "stream": "yes"}, "stream"),
        ({"model": "mock", "messages": MESSAGES, "stream_options": []}, "stream_options"),
        (
            {"model": "mock", "messages": MESSAGES, "stream_options": {"include_usage": 1}},
            "stream_options.include_usage",
        ),
        ({"model": "mock", "messages": MESSAGES, "user": 42}, "user"),
    ],
)
def test_schema_errors_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(chat_bytes(body))
    assert caught.value.param == param
    assert f"'{param}'" in caught.value.message


def test_an_error_names_the_json_type_never_the_value() -> None:
    body = {"model": "mock", "messages": [{"role": "user", "content": 12345}]}
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(chat_bytes(body))
    assert "12345" not in caught.value.message and "number" in caught.value.message


def test_a_valid_chat_keeps_the_whole_body_and_reads_its_own_fields() -> None:
    body = {
        "model": "mock",
        "messages": [*MESSAGES, {"role": "assistant", "content": None}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "alice",
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "some_field_from_tomorrow": {"x": 1},
    }
    chat = parse_chat(chat_bytes(body))
    assert chat.body == body
    assert (chat.model, chat.stream, chat.include_usage, chat.user) == ("mock", True, True, "alice")
    plain = parse_chat(chat_bytes({"model": "mock", "messages": MESSAGES, "user": ""}))
    assert (plain.stream, plain.include_usage, plain.user) == (False, False, None)


@pytest.mark.parametrize(
    "content",
    [b"{", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"", b"[" * 5000 + b"]" * 5000],
)
def test_bodies_that_are_not_a_json_object(content: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_json_object(content)


def test_integers_beyond_64_bits_are_refused_not_rounded() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json_object(b'{"seed": 123456789012345678901234567890}')
    assert "64 bits" in caught.value.message
    edge = b'{"a": 18446744073709551615, "b": -9223372036854775808, "c": "12345678901234567890"}'
    assert parse_json_object(edge) == {
        "a": 2**64 - 1,
        "b": -(2**63),
        "c": "12345678901234567890",
    }
    with pytest.raises(InvalidRequest):
        parse_json_object(b'{"b": -9223372036854775809}')


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def test_depth_counts_arrays_and_objects_but_not_brackets_in_strings() -> None:
    assert not too_deep(nested(64), 64)
    assert too_deep(nested(65), 64)
    assert not too_deep(b'{"a": "' + b"[{" * 500 + b'"}', 2)
    assert not too_deep(b'{"a": "\\"' + b"[" * 500 + b'"}', 2)  # an escaped quote stays text
    assert too_deep(b'{"a": [{"b": [1]}]}', 3)


def test_a_body_too_deep_is_refused_naming_the_limit_before_it_is_parsed() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_depth(nested(65), 64)
    assert caught.value.code == "json_too_deep" and "64 levels" in caught.value.message
    with pytest.raises(InvalidRequest) as ceiling:
        parse_json_object(b'{"x": ' + nested(JSON_DEPTH_CEILING) + b"}")
    assert ceiling.value.code == "json_too_deep"
