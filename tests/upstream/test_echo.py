"""The built-in ``echo`` model: it answers with the messages it was sent, in the OpenAI shape."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.config import ModelConfig
from gateway.upstream.echo import Echo
from gateway.upstream.routes import Route, build_route

ROUTE: Route = build_route(ModelConfig(name="try-me", model="echo"))
MESSAGES = [
    {"role": "system", "content": "Known about the user: lives in Porto."},
    {"role": "user", "content": "Where do I live? " + "x" * 900},
]


def events(raw: list[bytes]) -> list[Any]:
    assert all(chunk.startswith(b"data: ") and chunk.endswith(b"\n\n") for chunk in raw)
    return [
        chunk[6:-2] if chunk == b"data: [DONE]\n\n" else orjson.loads(chunk[6:]) for chunk in raw
    ]


@pytest.mark.asyncio
async def test_the_answer_is_the_messages_received_with_token_usage() -> None:
    reply = await Echo().complete(ROUTE, {"model": "try-me", "messages": MESSAGES})
    assert reply.status == 200
    answer = orjson.loads(reply.body)
    assert answer["object"] == "chat.completion" and answer["model"] == "try-me"
    [choice] = answer["choices"]
    assert choice["finish_reason"] == "stop"
    assert orjson.loads(choice["message"]["content"]) == MESSAGES
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.asyncio
async def test_a_stream_spells_out_the_same_text_in_chunks_and_ends_with_done() -> None:
    body = {"model": "try-me", "messages": MESSAGES, "stream": True}
    stream = await Echo().stream(ROUTE, body)
    received = events([chunk async for chunk in stream])
    assert received[-1] == b"[DONE]"
    chunks = received[:-1]
    assert len(chunks) > 4  # the long message comes in several pieces
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert orjson.loads(text) == MESSAGES
    assert all("usage" not in c for c in chunks)


@pytest.mark.asyncio
async def test_usage_comes_last_in_a_stream_only_when_asked_for() -> None:
    body = {"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    stream = await Echo().stream(ROUTE, body)
    received = events([chunk async for chunk in stream])
    *chunks, usage, done = received
    assert done == b"[DONE]"
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks)
