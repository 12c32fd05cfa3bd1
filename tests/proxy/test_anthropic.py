"""The Anthropic dialect: a Messages body read as a chat, the block put into ``system``, and the
answer's events tapped."""

from __future__ import annotations

import orjson
import pytest

from gateway.errors import InvalidRequest, UpstreamStatus
from gateway.proxy.anthropic import ANTHROPIC, MessagesTap
from gateway.types import Prepared
from tests.support.mock_anthropic import events

QUESTION = [{"role": "user", "content": [{"type": "text", "text": "Where do I live?"}]}]


@pytest.mark.parametrize(
    ("system", "sent"),
    [
        (None, [{"type": "text", "text": "<memory>"}]),
        ("Be kind.", [{"type": "text", "text": "Be kind."}, {"type": "text", "text": "<memory>"}]),
        (
            [{"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}],
            [
                {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "<memory>"},
            ],
        ),
    ],
)
def test_the_block_is_a_new_last_system_block(system: object, sent: object) -> None:
    chat = ANTHROPIC.parse(
        orjson.dumps({"model": "claude", "max_tokens": 5, "messages": QUESTION, "system": system})
    )
    body = ANTHROPIC.body(chat, Prepared(block="<memory>"))
    assert body["system"] == sent
    assert body["messages"] == QUESTION
    assert ANTHROPIC.body(chat, Prepared()) is chat.body  # no block: the body as it came


def test_the_memory_stage_sees_system_then_the_conversation() -> None:
    chat = ANTHROPIC.parse(
        orjson.dumps(
            {
                "model": "claude",
                "messages": QUESTION,
                "system": "Be kind.",
                "metadata": {"user_id": "ada"},
                "stream": True,
            }
        )
    )
    assert chat.messages == [{"role": "system", "content": "Be kind."}, *QUESTION]
    assert chat.user == "ada" and chat.stream


def test_a_bad_system_is_named() -> None:
    with pytest.raises(InvalidRequest) as raised:
        ANTHROPIC.parse(orjson.dumps({"model": "c", "messages": QUESTION, "system": {"a": 1}}))
    assert raised.value.param == "system"


def test_the_tap_reads_text_usage_and_the_message_id() -> None:
    tap = MessagesTap()
    for chunk in events("claude", ["Lis", "bon"]):
        # Split mid-event, as a network may deliver them.
        tap.feed(chunk[:7])
        tap.feed(chunk[7:])
    assert tap.text == "Lisbon"
    assert tap.usage == {"input_tokens": 21, "output_tokens": 5}
    assert tap.completion_id == "msg_mock"
    assert tap.first_token_at is not None


def test_a_provider_error_in_anthropics_shape_passes_as_it_came() -> None:
    sent = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    error = UpstreamStatus(529, sent, message="provider answered HTTP 529")
    assert MessagesTap().error_event(error) == b"event: error\ndata: " + sent + b"\n\n"
    openai_shaped = UpstreamStatus(
        400, orjson.dumps({"error": {"message": "bad tool"}}), message="HTTP 400"
    )
    assert orjson.loads(MessagesTap().error_event(openai_shaped).split(b"data: ")[1]) == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad tool"},
    }
