"""The Anthropic Messages wire format: what ``POST /v1/messages`` reads, writes and taps.

A Messages request is checked only in the fields the gateway reads (``model``, ``messages``,
``system``, ``stream``, ``metadata.user_id``) and seen by the memory stage as a chat: the
``system`` prompt first, then the messages, whose text blocks read like chat content parts. The
memory block goes back into ``system`` as a new text block after the client's own, so the
client's cache breakpoints on earlier blocks still hold.
"""

from __future__ import annotations

from typing import Any

from gateway.context.injection import text_of
from gateway.errors import ANTHROPIC_INTERNAL_ERROR_BODY, GatewayError, anthropic_body
from gateway.proxy.dialect import Dialect, ReplyText, json_object, usage_of
from gateway.proxy.request import check_conversation, field_error, parse_json_object
from gateway.proxy.stream import StreamTap
from gateway.types import ChatRequest, Prepared

#: Client headers that choose the wire format's version and features: passed to Anthropic.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def parse_messages(raw: bytes) -> ChatRequest:
    """Check the fields the gateway reads; raises ``InvalidRequest`` naming the field."""
    body = parse_json_object(raw)
    model, messages, stream = check_conversation(body)
    system = body.get("system")
    _check_system(system)
    chat = [{"role": "system", "content": system}, *messages] if system else messages
    return ChatRequest(
        body=body,
        model=model,
        messages=chat,
        stream=stream,
        include_usage=False,
        user=_user(body.get("metadata")),
    )


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise field_error("system", "a string or an array of text blocks", system)
    for index, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise field_error(f"system[{index}]", "an object with a string 'type'", block)


def _user(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise field_error("metadata", "an object", metadata)
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise field_error("metadata.user_id", "a string", user)
    return user or None


def _body(chat: ChatRequest, prepared: Prepared) -> dict[str, Any]:
    """The client's body, with the memory block as a new last text block of ``system``."""
    if not prepared.block:
        return chat.body
    system = chat.body.get("system")
    added = {"type": "text", "text": prepared.block}
    if isinstance(system, list):
        blocks = [*system, added]
    elif isinstance(system, str) and system:
        blocks = [{"type": "text", "text": system}, added]
    else:
        blocks = [added]
    return {**chat.body, "system": blocks}


def _reply(body: bytes) -> ReplyText:
    """The text and the usage of a complete Message."""
    message = json_object(body)
    if message is None:
        return "", None
    return text_of(message.get("content")), usage_of(message)


class MessagesTap(StreamTap):
    """Reads Anthropic's stream events: the text deltas, the usage, the first token."""

    __slots__ = ()

    def error_event(self, error: GatewayError | None) -> bytes:
        body = ANTHROPIC_INTERNAL_ERROR_BODY if error is None else anthropic_body(error)
        return b"event: error\ndata: " + body + b"\n\n"

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_delta":
            self._block_delta(event.get("delta"))
        elif kind == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            self._count(message.get("usage"))
            if isinstance(message.get("id"), str):
                self.completion_id = message["id"]
        elif kind == "message_delta":
            self._count(event.get("usage"))

    def _block_delta(self, delta: Any) -> None:
        if not isinstance(delta, dict):
            return
        if delta.get("type") == "text_delta":
            self.add_text(delta.get("text"))
        elif delta.get("type") == "input_json_delta":
            self.mark_first_token()

    def _count(self, usage: Any) -> None:
        # message_start has the input's tokens, message_delta the output's (a running total).
        if isinstance(usage, dict):
            self.usage = {**(self.usage or {}), **usage}


ANTHROPIC = Dialect(parse=parse_messages, body=_body, reply=_reply, tap=MessagesTap)
