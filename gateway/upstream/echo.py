"""A built-in model that answers with the messages it received.

It lets a new user see exactly what the gateway would send upstream (memories included) without
any provider key, and it is what the retrieval evaluation reads the injected block from.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from gateway.tokens import TokenCounter
from gateway.upstream import Reply
from gateway.upstream.anthropic import sse_event
from gateway.upstream.routes import Route

_CHUNK_CHARS = 400


class Echo:
    """An ``Upstream`` whose answer is the JSON text of the request's ``messages``."""

    def __init__(self) -> None:
        self._counter = TokenCounter("echo")

    async def complete(self, route: Route, body: dict[str, Any]) -> Reply:
        text = _render(body)
        reply = {
            **_envelope(route, "chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": self._usage(body, text),
        }
        return Reply(200, {}, orjson.dumps(reply))

    async def stream(self, route: Route, body: dict[str, Any]) -> EchoStream:
        text = _render(body)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        usage = self._usage(body, text) if include_usage else None
        return EchoStream(_envelope(route, "chat.completion.chunk"), text, usage)

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        prompt = self._counter.count(orjson.dumps(body.get("messages", [])).decode())
        completion = self._counter.count(text)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    async def close(self) -> None:
        return None


class EchoStream:
    status = 200
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, envelope: dict[str, Any], text: str, usage: dict[str, int] | None) -> None:
        self._envelope = envelope
        self._text = text
        self._usage = usage

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._event({"role": "assistant", "content": ""}, None)
        for start in range(0, len(self._text), _CHUNK_CHARS):
            yield self._event({"content": self._text[start : start + _CHUNK_CHARS]}, None)
        yield self._event({}, "stop")
        if self._usage is not None:
            chunk = {**self._envelope, "choices": [], "usage": self._usage}
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        yield b"data: [DONE]\n\n"

    def _event(self, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        chunk = {**self._envelope, "choices": [choice]}
        if self._usage is not None:
            chunk["usage"] = None
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    async def aclose(self) -> None:
        return None


def _render(body: dict[str, Any]) -> str:
    return orjson.dumps(body.get("messages", []), option=orjson.OPT_INDENT_2).decode()


def _envelope(route: Route, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-echo-{time.time_ns():x}",
        "object": kind,
        "created": int(time.time()),
        "model": route.name,
        "system_fingerprint": None,
    }


class MessagesEcho:
    """A ``MessagesUpstream`` whose answer is the JSON text of the request's ``system`` and
    ``messages``, as an Anthropic Message."""

    def __init__(self) -> None:
        self._counter = TokenCounter("echo")

    async def complete(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> Reply:
        text, usage = self._answer(body)
        message = {
            **_message(route, usage),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
        }
        return Reply(200, {}, orjson.dumps(message))

    async def stream(
        self, route: Route, body: dict[str, Any], headers: Mapping[str, str]
    ) -> MessagesEchoStream:
        text, usage = self._answer(body)
        return MessagesEchoStream(_message(route, usage), text)

    def _answer(self, body: dict[str, Any]) -> tuple[str, dict[str, int]]:
        sent = {"system": body.get("system"), "messages": body.get("messages", [])}
        text = orjson.dumps(sent, option=orjson.OPT_INDENT_2).decode()
        prompt = orjson.dumps(sent).decode()
        usage = {"input_tokens": self._counter.count(prompt)}
        return text, {**usage, "output_tokens": self._counter.count(text)}

    async def close(self) -> None:
        return None


class MessagesEchoStream:
    status = 200
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, message: dict[str, Any], text: str) -> None:
        self._message = message
        self._text = text

    async def __aiter__(self) -> AsyncIterator[bytes]:
        usage = self._message["usage"]
        start = {**self._message, "usage": {**usage, "output_tokens": 0}}
        yield _event("message_start", message=start)
        yield _event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        for at in range(0, len(self._text), _CHUNK_CHARS):
            delta = {"type": "text_delta", "text": self._text[at : at + _CHUNK_CHARS]}
            yield _event("content_block_delta", index=0, delta=delta)
        yield _event("content_block_stop", index=0)
        stop = {"stop_reason": "end_turn", "stop_sequence": None}
        yield _event("message_delta", delta=stop, usage=usage)
        yield _event("message_stop")

    async def aclose(self) -> None:
        return None


def _message(route: Route, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": f"msg_echo_{time.time_ns():x}",
        "type": "message",
        "role": "assistant",
        "model": route.name,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }


def _event(kind: str, **fields: Any) -> bytes:
    return sse_event(kind, {"type": kind, **fields})
