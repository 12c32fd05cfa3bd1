"""Stage 3, continued: which conversation (session) a request belongs to.

The ``X-Session-Id`` header names it, else the body's ``metadata.session_id``, else the
conversation itself does: a chat client re-sends the whole history every time, so every request
of one conversation starts with the same messages. The messages up to and including the first
user message (the system prompt and what the user opened with) are digested into the session
id, and any later request that starts the same way maps to the same session.

The session reaches the memories learned from the exchange, where it lets the index thread a
live user's turns the way it threads the turns of one imported batch (``gateway.store.index``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gateway.context.injection import text_of
from gateway.errors import InvalidRequest
from gateway.proxy.identity import check_user_id, utf8

#: Sessions inferred from the conversation's opening are told apart from named ones by this.
PREFIX = "prefix-"


def resolve_session(
    headers: Mapping[str, str], body: Mapping[str, Any], messages: Sequence[dict[str, Any]]
) -> str | None:
    """The request's session id, or None when it names none and has no user message."""
    # An empty header names nothing, as an empty X-User-Id does.
    header = headers.get("x-session-id", "").strip()
    if header:
        return check_user_id(utf8(header), "X-Session-Id")
    metadata = body.get("metadata")
    named = metadata.get("session_id") if isinstance(metadata, Mapping) else None
    if named is not None:
        if not isinstance(named, str):
            raise InvalidRequest(
                "Invalid 'metadata.session_id': expected a string.", param="metadata.session_id"
            )
        return check_user_id(named, "metadata.session_id")
    return inferred_session(messages)


def inferred_session(messages: Sequence[dict[str, Any]]) -> str | None:
    """A digest of the messages up to the first user message, or None without one."""
    opening = []
    for message in messages:
        role = message.get("role")
        opening.append((str(role), text_of(message.get("content")).strip()))
        if role == "user":
            digest = hashlib.sha256(orjson.dumps(opening)).hexdigest()
            return PREFIX + digest[:32]
    return None
