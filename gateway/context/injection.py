"""Putting the block into the request: into the existing system message, or a new one first."""

from __future__ import annotations

from typing import Any

_INSTRUCTION_ROLES = ("system", "developer")


def inject(messages: list[dict[str, Any]], block: str) -> list[dict[str, Any]]:
    """A copy of ``messages`` with ``block`` added to the system message; the input is untouched."""
    if not block:
        return messages
    for index, message in enumerate(messages):
        if message.get("role") in _INSTRUCTION_ROLES:
            updated = [*messages]
            updated[index] = {**message, "content": _append(message.get("content"), block)}
            return updated
    return [{"role": "system", "content": block}, *messages]


def _append(content: Any, block: str) -> Any:
    if isinstance(content, list):
        return [*content, {"type": "text", "text": block}]
    if isinstance(content, str) and content:
        return f"{content}\n\n{block}"
    return block


def text_of(content: Any) -> str:
    """The text of a message's content, whether a string or an array of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""
