"""What to search memory for: the latest user turn, plus a little of what came before it."""

from __future__ import annotations

from typing import Any

from gateway.context.injection import text_of
from gateway.store.lexical import terms

MAX_QUERY_CHARS = 1000
#: A latest turn with fewer content words than this ("and her sister?") borrows the turn before.
SHORT_TURN_TERMS = 6


def build_query(messages: list[dict[str, Any]]) -> str:
    """The retrieval query for a conversation; empty when there is no user text at all."""
    user_turns = [text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    user_turns = [turn.strip() for turn in user_turns if turn.strip()]
    if not user_turns:
        return ""
    latest = user_turns[-1]
    if len(user_turns) > 1 and len(terms(latest)) < SHORT_TURN_TERMS:
        latest = f"{user_turns[-2][-MAX_QUERY_CHARS // 2 :]}\n{latest}"
    return latest[-MAX_QUERY_CHARS:]
