"""A query text asked again within a short window reuses its vector instead of embedding again."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openai

from gateway.context.vectors import QueryVectors
from gateway.store.embedding import OnnxMiniLM
from tests.support.memory import MemoryClient, echo_chat


def reused(api: MemoryClient) -> float:
    metrics = api.http.get("/metrics").text
    found = re.search(r"^gateway_query_vector_reuse_total ([0-9.e+]+)$", metrics, re.MULTILINE)
    assert found, "gateway_query_vector_reuse_total is not exported"
    return float(found.group(1))


def test_the_same_question_twice_is_embedded_once(api: MemoryClient, chat: openai.OpenAI) -> None:
    user = f"regenerate-{uuid.uuid4().hex[:8]}"
    api.add_many(user, [{"content": "Keeps bees on the roof of the garage."}])
    question = [{"role": "user", "content": f"What do I keep on the garage roof? {user}"}]
    before = reused(api)
    first, first_headers = echo_chat(chat, question, user_id=user)
    # The regenerate button: the same conversation again.
    again, again_headers = echo_chat(chat, question, user_id=user)
    assert reused(api) == before + 1
    assert again == first
    assert first_headers["x-memory-mode"] == again_headers["x-memory-mode"] == "hybrid"
    other = [{"role": "user", "content": f"Which insects do I keep? {user}"}]
    echo_chat(chat, other, user_id=user)
    assert reused(api) == before + 1


class Counting(OnnxMiniLM):
    """The real model, counting the texts it embeds."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.embedded: list[str] = []

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        self.embedded.extend(texts)
        return super().embed_sync(texts)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_vector_is_reused_until_it_expires(model_dir: Path) -> None:
    model, clock = Counting(model_dir), Clock()
    hits: list[None] = []
    vectors = QueryVectors(model, ttl_s=30, reused=lambda: hits.append(None), clock=clock)

    async def scenario() -> None:
        first = await vectors.vector("where is my parcel?")
        clock.now += 29
        assert np.array_equal(await vectors.vector("where is my parcel?"), first)
        assert (model.embedded, len(hits)) == (["where is my parcel?"], 1)
        clock.now += 2  # 31 s after it was made: used a moment ago, but expired all the same
        assert np.allclose(await vectors.vector("where is my parcel?"), first, atol=1e-6)
        assert (len(model.embedded), len(hits)) == (2, 1)

    try:
        asyncio.run(scenario())
    finally:
        model.close()


def test_reuse_is_bounded_and_can_be_turned_off(model_dir: Path) -> None:
    model = Counting(model_dir)
    bounded = QueryVectors(model, ttl_s=60, size=2)
    off = QueryVectors(model, ttl_s=0)

    async def scenario() -> None:
        for text in ("one", "two", "three", "one"):  # "one" was pushed out by "three"
            await bounded.vector(text)
        assert model.embedded == ["one", "two", "three", "one"]
        await bounded.vector("three")
        assert len(model.embedded) == 4
        model.embedded.clear()
        await off.vector("same")
        await off.vector("same")
        assert model.embedded == ["same", "same"]
        bounded.clear()
        await bounded.vector("three")
        assert model.embedded == ["same", "same", "three"]

    try:
        asyncio.run(scenario())
    finally:
        model.close()
