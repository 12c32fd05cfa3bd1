"""The mock provider's Responses API (``POST /v1/responses``), plain and streamed.

It takes the same ``mock`` object as the chat mock (``mode``: ``plain``, ``stream``, ``fail``,
``drop``; ``content``, ``chunks``, ``delay_s``) and answers in the Responses wire format: a
``response`` object, or server-sent events from ``response.created`` to ``response.completed``,
each with its ``event:`` line, as OpenAI sends them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from tests.support.mock_upstream import MockProvider, Received

USAGE = {
    "input_tokens": 21,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 26,
}


def response(body: dict[str, Any], text: str, status: str = "completed") -> dict[str, Any]:
    """A ``response`` object for ``body``'s request, its answer being ``text``."""
    done = status == "completed"
    return {
        "id": "resp_mock",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": status,
        "model": body.get("model", "mock"),
        "instructions": body.get("instructions"),
        "previous_response_id": body.get("previous_response_id"),
        "output": [message_item(text)] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": body.get("tools", []),
        "store": body.get("store", True),
        "text": {"format": {"type": "text"}},
        "usage": USAGE if done else None,
        "error": None,
        "incomplete_details": None,
        "metadata": body.get("metadata", {}),
    }


def message_item(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_mock",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def events(body: dict[str, Any], chunks: list[str]) -> list[bytes]:
    """The server-sent events of a streamed answer made of ``chunks``."""
    text = "".join(chunks)
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": "msg_mock", "output_index": 0, "content_index": 0}
    started = {**message_item(""), "status": "in_progress", "content": []}
    sequence: list[dict[str, Any]] = [
        {"type": "response.created", "response": response(body, "", "in_progress")},
        {"type": "response.in_progress", "response": response(body, "", "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": started},
        {"type": "response.content_part.added", **where, "part": part},
        *(
            {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
            for piece in chunks
        ),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": {**part, "text": text}},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item(text)},
        {"type": "response.completed", "response": response(body, text)},
    ]
    return [_sse(number, event) for number, event in enumerate(sequence)]


def _sse(number: int, event: dict[str, Any]) -> bytes:
    data = orjson.dumps({**event, "sequence_number": number})
    return b"event: " + event["type"].encode() + b"\ndata: " + data + b"\n\n"


class MockResponses(MockProvider):
    """``POST /v1/responses`` on the mock provider, sharing its record and failure counters."""

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.state.requests.append(Received(request.path, dict(request.headers), body))
        spec = (body["mock"] if "mock" in body else self.state.scripted()) or {}
        mode = spec.get("mode", "plain")
        delay = float(spec.get("delay_s", 0))
        if mode == "fail" and self._should_fail(spec):
            await asyncio.sleep(delay)
            return self._error(spec)
        if mode == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if mode == "stream" or body.get("stream"):
            return await self._stream_events(request, body, spec)
        await asyncio.sleep(delay)
        answer = response(body, spec.get("content", "Hello from the mock."))
        return web.json_response(answer, dumps=lambda v: orjson.dumps(v).decode())

    async def _stream_events(
        self, request: web.Request, body: dict[str, Any], spec: dict[str, Any]
    ) -> web.StreamResponse:
        reply = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await reply.prepare(request)
        delay = float(spec.get("delay_s", 0))
        for event in events(body, spec.get("chunks", ["Hello", " from", " the", " mock."])):
            await asyncio.sleep(delay)
            await reply.write(event)
        await reply.write_eof()
        return reply
