"""Live ingestion: a conversation reaches the gateway as chat traffic, turn by turn.

The conversation's first speaker (``speakers[0]``) is the user; every other speaker is the
assistant. Each dataset session is one chat, opened with a system message that gives the
session's date; every run of user turns is one ``POST /v1/chat/completions`` carrying the whole
chat so far, and the other speaker's turns join the history as assistant messages (the ``echo``
model's own answers are dropped). With ``extraction.mode: turns`` the gateway stores each user
turn, scrubbed, as a memory; what the other speaker said is never learned, so only questions
whose evidence turns are all the user's can be answered from memory, and only those are scored.

Sessions form as they would for a client that sends no session id (``prefix``: every request of
a chat opens with the same system and first user message), or from an ``X-Session-Id`` per
dataset session (``header``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Literal

from bench.eval.client import GatewayCallFailed, GatewayClient
from bench.eval.dataset import Conversation, Question, Session, Turn, turn_index
from gateway.learning.minimise import MAX_TURN_CHARS
from gateway.learning.scrub import scrub

Sessions = Literal["prefix", "header"]
Message = dict[str, str]


def user_speaker(conversation: Conversation) -> str:
    return conversation["speakers"][0]


def said_by_user(conversation: Conversation, question: Question) -> bool:
    """Whether every evidence turn of ``question`` is the user's (and so could be learned)."""
    turns = turn_index(conversation)
    user = user_speaker(conversation)
    return all(turns[turn_id]["speaker"] == user for turn_id in question["evidence"])


def learned_text(turn: Turn) -> str:
    """The memory ``extraction.mode: turns`` stores for a user turn: whitespace collapsed, cut
    to the stored length, scrubbed."""
    return scrub(" ".join(turn["text"].split())[:MAX_TURN_CHARS]).text


def requests_of(conversation: Conversation) -> Iterator[tuple[Session, list[Message]]]:
    """Each chat request of the conversation, in order, with the session it belongs to."""
    user = user_speaker(conversation)
    for session in conversation["sessions"]:
        messages = [{"role": "system", "content": f"Today is {session['date']}."}]
        waiting = False  # user turns not sent yet
        for turn in session["turns"]:
            role = "user" if turn["speaker"] == user else "assistant"
            if role == "assistant" and waiting:
                yield session, list(messages)
                waiting = False
            messages.append({"role": role, "content": turn["text"]})
            waiting = waiting or role == "user"
        if waiting:
            yield session, messages


async def feed(
    client: GatewayClient,
    conversation: Conversation,
    user_id: str,
    sessions: Sessions,
    drain_within: float = 600.0,
) -> int:
    """Send the conversation as chat traffic and wait until the gateway has learned from all
    of it. Returns the number of requests sent."""
    before = await client.finished_jobs()
    sent = 0
    for session, messages in requests_of(conversation):
        named = f"{conversation['id']}:{session['id']}" if sessions == "header" else None
        await client.say(user_id, messages, named)
        sent += 1
    await _drained(client, before + sent, drain_within)
    if sent and not await client.count_memories(user_id):
        raise GatewayCallFailed("the gateway learned nothing: is extraction.mode turns?")
    return sent


async def _drained(client: GatewayClient, jobs: float, within: float) -> None:
    # Each request holds a new user turn, so each journals exactly one job; the gateway's own
    # count of finished jobs says when the last of them is through (a gateway serving other
    # traffic at the same time only makes the wait end early).
    deadline = time.monotonic() + within
    while await client.finished_jobs() < jobs:
        if time.monotonic() > deadline:
            raise GatewayCallFailed(f"learning did not drain within {within:.0f}s")
        await asyncio.sleep(0.25)
