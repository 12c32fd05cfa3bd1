"""The Anthropic Messages wire format: what ``POST /v1/messages`` reads, writes and taps.

A Messages request is checked only in the fields the gateway reads (``model``, ``messages``,
``system``, ``stream``, ``metadata.user_id``) and seen by the memory stage as a chat: the
``system`` prompt first, then the messages, whose text blocks read like chat content parts. The
memory block goes back into ``system`` as a new text block after the client's own, so the
client's cache breakpoints on earlier blocks still hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.context.injection import text_of
from gateway.errors import ANTHROPIC_INTERNAL_ERROR_BODY, GatewayError, anthropic_body
from gateway.proxy.request import _field, check_conversation, parse_json_object
from gateway.proxy.stream import StreamTap
from gateway.types import ChatRequest

#: Client headers that choose the wire format's version and features: passed to Anthropic.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


@dataclass(frozen=True, slots=True)
class MessagesRequest(ChatRequest):
    """A Messages body; ``messages`` is the chat view the memory stage reads."""

    #: ``FORWARDED_HEADERS`` as the client sent them.
    headers: Mapping[str, str]

    def body_with(self, block: str) -> dict[str, Any]:
        """The body to send upstream: the client's, with ``block`` added to ``system``."""
        if not block:
            return self.body
        return {**self.body, "system": _system_with(self.body.get("system"), block)}


def parse_messages(raw: bytes, headers: Mapping[str, str]) -> MessagesRequest:
    body = parse_json_object(raw)
    model, messages, stream = check_conversation(body)
    system = body.get("system")
    _check_system(system)
    chat = [{"role": "system", "content": system}, *messages] if system else messages
    return MessagesRequest(
        body=body,
        model=model,
        messages=chat,
        stream=stream,
        include_usage=False,
        user=_user(body.get("metadata")),
        headers={name: headers[name] for name in FORWARDED_HEADERS if name in headers},
    )


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _field("system", "a string or an array of text blocks", system)
    for index, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _field(f"system[{index}]", "an object with a string 'type'", block)


def _user(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise _field("metadata", "an object", metadata)
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise _field("metadata.user_id", "a string", user)
    return user or None


def _system_with(system: Any, block: str) -> list[Any]:
    added = {"type": "text", "text": block}
    if isinstance(system, list):
        return [*system, added]
    if isinstance(system, str) and system:
        return [{"type": "text", "text": system}, added]
    return [added]


def read_message(body: bytes) -> tuple[str, dict[str, int] | None]:
    """The text and the usage (in chat's terms) of a complete Message; empty when unreadable."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", None
    if not isinstance(message, dict):
        return "", None
    text = text_of(message.get("content"))
    return text, _usage(message.get("usage"), {})


def _usage(usage: Any, into: dict[str, int]) -> dict[str, int] | None:
    """Anthropic's token counts under the names the chat accounting reads."""
    if not isinstance(usage, dict):
        return into or None
    for theirs, ours in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens")):
        count = usage.get(theirs)
        if isinstance(count, int) and not isinstance(count, bool):
            into[ours] = count
    return into or None


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
            self.usage = _usage(event["message"].get("usage"), self.usage or {})
        elif kind == "message_delta":
            self.usage = _usage(event.get("usage"), self.usage or {})

    def _block_delta(self, delta: Any) -> None:
        if not isinstance(delta, dict):
            return
        if delta.get("type") == "text_delta":
            self.add_text(delta.get("text"))
        elif delta.get("type") == "input_json_delta":
            self.mark_first_token()
