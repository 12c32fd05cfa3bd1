"""``POST /v1/responses``: the Responses API's dialect of the memory stages.

The conversation the memory stage and learning read is the request's ``instructions`` (as a
system message) followed by its ``input``: a string is one user turn, message items keep their
role and text, and other items (tool calls and their output, reasoning, references) carry no
conversation text. With ``previous_response_id`` the input holds only the new turns, which is
exactly what learning should see. Memories go into ``instructions``, after any text already there.
Every other field passes through untouched.
"""

from __future__ import annotations

from typing import Any

from gateway.proxy.dialect import Dialect, ReplyText, json_object, usage_of
from gateway.proxy.identity import check_user_id
from gateway.proxy.request import field_error, parse_json_object
from gateway.proxy.stream import StreamTap
from gateway.types import ChatRequest, Prepared

#: Content parts whose ``text`` is conversation text.
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
#: Stream events that carry the finished response (and with it the usage).
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def parse_responses(raw: bytes) -> ChatRequest:
    """Check the fields the gateway reads; raises ``InvalidRequest`` naming the field."""
    body = parse_json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise field_error("model", "a non-empty string", model, missing="model" not in body)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise field_error("instructions", "a string or null", instructions)
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise field_error("stream", "a boolean", stream)
    messages = [{"role": "system", "content": instructions}] if instructions else []
    messages += _conversation(body.get("input"))
    return ChatRequest(
        body=body,
        model=model,
        messages=messages,
        stream=bool(stream),
        include_usage=False,
        user=_user(body),
    )


def _conversation(given: Any) -> list[dict[str, Any]]:
    """The input as chat messages of plain text."""
    if given is None:
        return []
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    if not isinstance(given, list):
        raise field_error("input", "a string or an array of input items", given)
    messages = []
    for index, item in enumerate(given):
        if not isinstance(item, dict):
            raise field_error(f"input[{index}]", "an input item object", item)
        role = item.get("role")
        if isinstance(role, str) and item.get("type", "message") == "message":
            messages.append({"role": role, "content": _text(index, item.get("content"))})
    return messages


def _text(index: int, content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise field_error(f"input[{index}].content", "a string or an array of parts", content)
    return " ".join(
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") in _TEXT_PARTS
        and isinstance(part.get("text"), str)
    )


def _user(body: dict[str, Any]) -> str | None:
    """The body's ``user``, else ``safety_identifier`` (what newer OpenAI clients send)."""
    for name in ("user", "safety_identifier"):
        value = body.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise field_error(name, "a string", value)
        return check_user_id(value, name)
    return None


def responses_body(chat: ChatRequest, prepared: Prepared) -> dict[str, Any]:
    """The body with the memory block after any ``instructions`` already there."""
    if not prepared.block:
        return chat.body
    existing = chat.body.get("instructions")
    instructions = f"{existing}\n\n{prepared.block}" if existing else prepared.block
    return {**chat.body, "instructions": instructions}


def responses_reply(body: bytes) -> ReplyText:
    """The text of the answer's messages and its usage."""
    answer = json_object(body)
    if answer is None:
        return "", None
    return output_text(answer.get("output")), usage_of(answer)


def output_text(output: Any) -> str:
    """The ``output_text`` of a response's output items, joined (what the SDKs call
    ``response.output_text``)."""
    if not isinstance(output, list):
        return ""
    return "".join(
        part["text"]
        for item in output
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, dict)
        and part.get("type") == "output_text"
        and isinstance(part.get("text"), str)
    )


class ResponsesTap(StreamTap):
    """Reads the Responses API's stream: text from ``response.output_text.delta``, usage from
    the finished response."""

    __slots__ = ()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            self.add_text(event.get("delta"))
        elif kind == "response.function_call_arguments.delta":
            self.mark_first_token()
        elif kind in _FINAL_EVENTS:
            response = event.get("response")
            if isinstance(response, dict):
                self.usage = dict(usage_of(response) or {}) or None


RESPONSES = Dialect(
    parse=parse_responses, body=responses_body, reply=responses_reply, tap=ResponsesTap
)
