"""What of a finished exchange is kept for learning: the user's new turns, a little context, and
the reply. Never a system or developer message, never tool output.

Only the user turns since the last assistant message are *new*: a chat client re-sends the whole
history every time, and extracting from all of it would count one statement as a fresh
observation on every later turn. A few earlier messages travel along as context, so "yes, that
one" can be understood, but nothing is learned from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from gateway.context.injection import text_of
from gateway.learning.scrub import scrub

#: New user turns kept, each cut to this many characters (the start says who and what).
MAX_NEW_TURNS = 4
MAX_TURN_CHARS = 4000
#: Earlier messages kept for context, each cut to its last characters.
MAX_EARLIER = 4
MAX_EARLIER_CHARS = 500
MAX_REPLY_CHARS = 2000
_CONVERSATION_ROLES = ("user", "assistant")


@dataclass(frozen=True, slots=True)
class Transcript:
    """One exchange, as the extraction job sees it."""

    #: The user's turns that this exchange added; facts come from these only.
    new: tuple[str, ...]
    #: (role, text) pairs before them, for context.
    earlier: tuple[tuple[str, str], ...]
    #: The assistant's answer, for context.
    reply: str
    #: The conversation it belongs to (``gateway.proxy.session``), and where in it the new
    #: turns start (messages before them): what threads the memories learned from it.
    session: str | None = None
    turn: int = 0

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "new": self.new,
                "earlier": self.earlier,
                "reply": self.reply,
                "session": self.session,
                "turn": self.turn,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Transcript:
        raw = orjson.loads(data)
        return cls(
            new=tuple(raw["new"]),
            earlier=tuple((role, text) for role, text in raw["earlier"]),
            reply=raw["reply"],
            # Rows journaled before sessions existed have neither.
            session=raw.get("session"),
            turn=raw.get("turn", 0),
        )


def transcript_of(
    messages: Sequence[dict[str, Any]], reply: str, session: str | None = None
) -> Transcript | None:
    """The transcript of an exchange, or None when the user said nothing new."""
    start = _after_last_assistant(messages)
    new = [turn[:MAX_TURN_CHARS] for turn in new_user_turns(messages)][-MAX_NEW_TURNS:]
    if not new:
        return None
    earlier = [
        (str(m["role"]), text_of(m.get("content")).strip()[-MAX_EARLIER_CHARS:])
        for m in messages[:start]
        if m.get("role") in _CONVERSATION_ROLES
    ]
    return Transcript(
        new=tuple(new),
        earlier=tuple((role, text) for role, text in earlier[-MAX_EARLIER:] if text),
        reply=reply[:MAX_REPLY_CHARS],
        session=session,
        turn=start,
    )


def new_user_turns(messages: Sequence[dict[str, Any]]) -> list[str]:
    """The user's turns since the last assistant message, stripped, empty ones left out."""
    start = _after_last_assistant(messages)
    new = [text_of(m.get("content")).strip() for m in messages[start:] if m.get("role") == "user"]
    return [turn for turn in new if turn]


def scrubbed(transcript: Transcript) -> Transcript:
    """The transcript with personal data and secrets taken out: the extraction model never
    sees them, so no fact can repeat them."""
    return replace(
        transcript,
        new=tuple(scrub(turn).text for turn in transcript.new),
        earlier=tuple((role, scrub(text).text) for role, text in transcript.earlier),
        reply=scrub(transcript.reply).text,
    )


def _after_last_assistant(messages: Sequence[dict[str, Any]]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "assistant":
            return index + 1
    return 0
