"""The mock provider's Anthropic Messages endpoint (``POST /v1/messages``), with its SSE events.

Driven like the OpenAI mock, by a ``mock`` object in the body: ``{"mode": "stream" | "fail" |
"stream_cut", "chunks": [...], "status": 529, "message": "...", "cut_after": 2}``;
``stream: true`` in the body streams too.
Every request is recorded in the shared ``MockState``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from tests.support.mock_upstream import MockState, Received

TEXT = "Hello from the mock."
CHUNKS = ["Hello", " from", " the", " mock."]
USAGE = {"input_tokens": 21, "output_tokens": 5}


def message(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "msg_mock",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": USAGE,
    }


def event(kind: str, **fields: Any) -> bytes:
    return (
        b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"
    )


def events(model: str, chunks: list[str]) -> list[bytes]:
    start = {**message(model, ""), "content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": USAGE["input_tokens"], "output_tokens": 1}
    out = [
        event("message_start", message=start),
        event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        event("ping"),
    ]
    for piece in chunks:
        out.append(
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
        )
    out += [
        event("content_block_stop", index=0),
        event(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": USAGE["output_tokens"]},
        ),
        event("message_stop"),
    ]
    return out


class MockAnthropic:
    def __init__(self, state: MockState) -> None:
        self.state = state

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.state.requests.append(Received(request.path, dict(request.headers), body))
        spec = body.get("mock") or {}
        model = body.get("model", "mock")
        if spec.get("mode") == "fail":
            return self._error(int(spec.get("status", 500)), spec.get("message", "mock failure"))
        if spec.get("mode") in ("stream", "stream_cut") or body.get("stream"):
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            sent = events(model, spec.get("chunks", CHUNKS))
            cut = int(spec.get("cut_after", 2)) if spec.get("mode") == "stream_cut" else None
            for chunk in sent[:cut]:
                await response.write(chunk)
            if cut is not None:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write_eof()
            return response
        answer = message(model, spec.get("content", TEXT))
        return web.json_response(answer, dumps=lambda v: orjson.dumps(v).decode())

    def _error(self, status: int, text: str) -> web.Response:
        kind = {400: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}
        error = {"type": kind.get(status, "api_error"), "message": text}
        body = orjson.dumps({"type": "error", "error": error}).decode()
        return web.Response(status=status, text=body, content_type="application/json")
