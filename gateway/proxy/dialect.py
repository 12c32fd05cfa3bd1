"""What tells one endpoint with memory from another: how its bodies read and carry memories.

Every endpoint with memory runs the same stages (auth, identity, retrieval, budget, injection,
forward, stream tap, learning hand-off). A ``Dialect`` is the little that differs: reading the
request into a ``ChatRequest`` (the conversation as chat messages, which is what the memory stage
and learning read), putting the memory block into the body sent upstream, and reading the text
and usage of the provider's answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.proxy.request import parse_chat
from gateway.proxy.stream import StreamTap
from gateway.types import ChatRequest, Prepared

#: The text and the usage of a complete answer (empty text and None when unreadable).
ReplyText = tuple[str, Mapping[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One endpoint's wire format, as the orchestrator needs it."""

    #: The request body, checked, as a ``ChatRequest``; raises ``InvalidRequest``.
    parse: Callable[[bytes], ChatRequest]
    #: The body to send upstream once the memory stage has ``Prepared`` it.
    body: Callable[[ChatRequest, Prepared], dict[str, Any]]
    #: The text and usage of a complete (non-streamed) answer.
    reply: Callable[[bytes], ReplyText]
    #: A fresh tap for the events of a streamed answer.
    tap: Callable[[], StreamTap]


def json_object(body: bytes) -> dict[str, Any] | None:
    """A provider's answer as a JSON object, or None when it is not one."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def answer_id(body: bytes) -> str | None:
    """The answer's own ``id`` (``chatcmpl-...``, ``resp_...``): every dialect has it at the
    top, so feedback can name an answer by it."""
    answer = json_object(body)
    found = None if answer is None else answer.get("id")
    return found if isinstance(found, str) else None


def usage_of(answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    usage = answer.get("usage")
    return usage if isinstance(usage, dict) else None


def _chat_body(chat: ChatRequest, prepared: Prepared) -> dict[str, Any]:
    messages = prepared.messages
    return chat.body if messages is None else {**chat.body, "messages": messages}


def _chat_reply(body: bytes) -> ReplyText:
    """The text of choice 0 and the usage of a chat completion."""
    answer = json_object(body)
    if answer is None:
        return "", None
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    return (content if isinstance(content, str) else ""), usage_of(answer)


CHAT = Dialect(parse=parse_chat, body=_chat_body, reply=_chat_reply, tap=StreamTap)
