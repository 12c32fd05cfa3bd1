"""The gateway calls the evaluation makes, over httpx.

Errors name the call and the HTTP status, never the user id, the key or any memory text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal, TypedDict

import httpx

Mode = Literal["hybrid", "dense"]
#: The extraction jobs' outcomes that end a job (``retried`` does not).
FINAL_OUTCOMES = ("done", "failed", "invalid_json", "dropped")
_JOBS = re.compile(r'^gateway_extraction_jobs_total\{outcome="(\w+)"\} (\S+)$', re.MULTILINE)


class MemoryIn(TypedDict):
    content: str
    category: str
    created_at: str
    metadata: dict[str, str]


class GatewayCallFailed(Exception):
    """A gateway call answered with an unexpected status or shape."""


class GatewayClient:
    """Ingest, ask and forget for one gateway; use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        key: str,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.aclose()

    async def add_memories(self, user_id: str, memories: Sequence[MemoryIn]) -> None:
        """Store ``memories`` for ``user_id`` in one request."""
        response = await self._http.post(
            f"/v1/users/{user_id}/memories", json={"memories": list(memories)}
        )
        _expect(response, "adding memories")

    async def injected_block(
        self, user_id: str, question: str, budget: int, mode: Mode
    ) -> tuple[str, str]:
        """The system text the gateway would send upstream for ``question``, and the
        ``X-Memory-Status`` it answered with (``degraded``: retrieval missed its deadline).

        Asks the built-in ``echo`` model, which answers with the messages it received as JSON.
        """
        response = await self._http.post(
            "/v1/chat/completions",
            headers={
                "X-User-Id": user_id,
                # The questions must not become memories themselves (with extraction on, each
                # one would be learned and crowd the next question's budget).
                "X-Memory": "read-only",
                "X-Context-Budget": str(budget),
                "X-Retrieval-Mode": mode,
            },
            json={"model": "echo", "messages": [{"role": "user", "content": question}]},
        )
        _expect(response, "chat completion")
        return system_text(response.json()), response.headers.get("x-memory-status", "")

    async def say(
        self, user_id: str, messages: Sequence[dict[str, str]], session: str | None = None
    ) -> None:
        """Send one turn of a conversation (the whole history so far) as a learning chat: the
        gateway learns from its new user turns in the background."""
        headers = {"X-User-Id": user_id}
        if session is not None:
            headers["X-Session-Id"] = session
        response = await self._http.post(
            "/v1/chat/completions",
            headers=headers,
            json={"model": "echo", "messages": list(messages)},
        )
        _expect(response, "learning chat")

    async def finished_jobs(self) -> float:
        """How many extraction jobs the gateway has finished, from ``GET /metrics``."""
        response = await self._http.get("/metrics")
        _expect(response, "reading metrics")
        return sum(
            float(value)
            for outcome, value in _JOBS.findall(response.text)
            if outcome in FINAL_OUTCOMES
        )

    async def count_memories(self, user_id: str) -> int:
        """How many memories ``user_id`` has."""
        response = await self._http.get(f"/v1/users/{user_id}/memories", params={"limit": 1})
        _expect(response, "listing memories")
        try:
            return int(response.json()["total"])
        except (KeyError, TypeError, ValueError) as exc:
            raise GatewayCallFailed("listing memories: no total in the answer") from exc

    async def delete_memories(self, user_id: str) -> None:
        """Forget everything stored for ``user_id``."""
        response = await self._http.delete(f"/v1/users/{user_id}/memories")
        _expect(response, "deleting memories")


def system_text(completion: Any) -> str:
    """The system messages' text from an ``echo`` completion, joined by newlines."""
    try:
        echoed = json.loads(completion["choices"][0]["message"]["content"])
        parts = [m["content"] for m in echoed if m.get("role") == "system"]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise GatewayCallFailed("the echo model's answer is not a JSON list of messages") from exc
    return "\n".join(_text_of(part) for part in parts)


def _text_of(content: Any) -> str:
    # Content may be a list of typed parts rather than a string.
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _expect(response: httpx.Response, call: str) -> None:
    if not response.is_success:
        raise GatewayCallFailed(f"{call} failed: HTTP {response.status_code}")
