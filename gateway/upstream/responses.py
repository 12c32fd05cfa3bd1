"""Providers behind ``POST /v1/responses``: the same ``Upstream`` contract, Responses bodies.

Routes of the ``openai`` protocol get the client's bytes at ``<api_base>/responses``
(``OpenAIWire``) and answer with their own. ``litellm`` routes go through
``litellm.aresponses``, which calls a provider's own Responses API where it has one and
otherwise translates to and from its chat API (litellm's Responses bridge). The echo model
answers with the ``instructions`` and ``input`` it was sent.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.tokens import TokenCounter
from gateway.upstream import Reply, Upstream
from gateway.upstream.openai_wire import OpenAIWire
from gateway.upstream.routes import Route

PATH = "/responses"
_CHUNK_CHARS = 400


def responses_upstreams(*, with_litellm: bool) -> dict[str, Upstream]:
    """One ``Upstream`` per protocol, for the Responses API."""
    upstreams: dict[str, Upstream] = {"openai": OpenAIWire(PATH), "echo": EchoResponses()}
    if with_litellm:
        # Imported only when configured: the module pulls in the openai SDK.
        from gateway.upstream.litellm_responses import LiteLLMResponses

        upstreams["litellm"] = LiteLLMResponses()
    return upstreams


def sse(event: Mapping[str, Any]) -> bytes:
    """One Responses API event as OpenAI frames it: an ``event:`` line, then the data."""
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def unsupported(route: Route) -> InvalidRequest:
    return InvalidRequest(
        f"The model '{route.name}' cannot answer on /v1/responses: its provider has no "
        "Responses API and litellm cannot translate one for it. Use /v1/chat/completions.",
        param="model",
    )


class EchoResponses:
    """The echo model on the Responses API: it answers with what it would have been sent."""

    def __init__(self) -> None:
        self._counter = TokenCounter("echo")

    async def complete(self, route: Route, body: dict[str, Any]) -> Reply:
        text = _render(body)
        answer = self._response(_new_id(), route, body, text, done=True)
        return Reply(200, {}, orjson.dumps(answer))

    async def stream(self, route: Route, body: dict[str, Any]) -> EchoEvents:
        text = _render(body)
        pieces = [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)]
        # One id from the first event to the last: clients check the response stays the same.
        response_id = _new_id()
        created = self._response(response_id, route, body, "", done=False)
        done = self._response(response_id, route, body, text, done=True)
        return EchoEvents(created, done, pieces)

    def _response(
        self, response_id: str, route: Route, body: dict[str, Any], text: str, *, done: bool
    ) -> dict[str, Any]:
        prompt = self._counter.count(_render(body))
        completion = self._counter.count(text)
        return {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed" if done else "in_progress",
            "model": route.name,
            "instructions": body.get("instructions"),
            "output": [_message(text)] if done else [],
            "tools": body.get("tools", []),
            "tool_choice": body.get("tool_choice", "auto"),
            "parallel_tool_calls": True,
            "usage": {
                "input_tokens": prompt,
                "output_tokens": completion,
                "total_tokens": prompt + completion,
            }
            if done
            else None,
        }

    async def close(self) -> None:
        return None


class EchoEvents:
    """The echo's answer as the Responses API streams one."""

    status = 200
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, created: dict[str, Any], done: dict[str, Any], pieces: list[str]) -> None:
        self._created = created
        self._done = done
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        message = self._done["output"][0]
        at = {"item_id": message["id"], "output_index": 0, "content_index": 0}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": self._created},
            {"type": "response.output_item.added", "output_index": 0, "item": _message(None)},
            {"type": "response.content_part.added", **at, "part": _text_part("")},
            *({"type": "response.output_text.delta", **at, "delta": p} for p in self._pieces),
            {"type": "response.output_text.done", **at, "text": "".join(self._pieces)},
            {"type": "response.content_part.done", **at, "part": message["content"][0]},
            {"type": "response.output_item.done", "output_index": 0, "item": message},
            {"type": "response.completed", "response": self._done},
        ]
        for number, event in enumerate(events):
            yield sse({**event, "sequence_number": number})

    async def aclose(self) -> None:
        return None


def _new_id() -> str:
    return f"resp_echo{time.time_ns():x}"


def _render(body: dict[str, Any]) -> str:
    sent = {"instructions": body.get("instructions"), "input": body.get("input")}
    return orjson.dumps(sent, option=orjson.OPT_INDENT_2).decode()


def _message(text: str | None) -> dict[str, Any]:
    """An assistant message item; ``None`` for one just started, with no content yet."""
    return {
        "type": "message",
        "id": "msg_echo",
        "status": "in_progress" if text is None else "completed",
        "role": "assistant",
        "content": [] if text is None else [_text_part(text)],
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}
