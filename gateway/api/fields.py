"""Checking what a client sends about a memory or a profile, for every door (HTTP, UI, MCP).

Each check raises ``InvalidRequest`` naming the field (``param``) the way the client sent it:
``memories[3].content``, ``fields.tone``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.profile.model import (
    CHOICES,
    FIELDS,
    MAX_STACK_ITEM_CHARS,
    MAX_STACK_ITEMS,
    TEXTS,
    Value,
)
from gateway.store.store import NewMemory

MAX_CONTENT_CHARS = 8000
MAX_METADATA_BYTES = 4096
DEFAULT_CATEGORY = "fact"
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_NEW_FIELDS = frozenset({"content", "category", "created_at", "metadata"})

#: A change per profile field: a value to set, or None to clear it.
ProfileChanges = Mapping[str, Value | None]


@dataclass(frozen=True, slots=True)
class MemoryChanges:
    """A patch of one memory: the fields given, None for the ones left as they are."""

    content: str | None = None
    category: str | None = None
    metadata: Mapping[str, Any] | None = None
    created_at: datetime | None = None

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in _items(self) if v is not None}


def _items(changes: MemoryChanges) -> list[tuple[str, Any]]:
    return [(name, getattr(changes, name)) for name in MemoryChanges.__slots__]


def new_memory(item: Any, prefix: str, categories: Mapping[str, int]) -> NewMemory:
    """``item`` (a JSON object) as a memory to add; ``prefix`` names it in errors."""
    if not isinstance(item, dict):
        raise InvalidRequest(
            f"Invalid '{prefix.rstrip('.') or 'body'}': expected a memory object.",
            param=prefix.rstrip(".") or None,
        )
    unknown = set(item) - _NEW_FIELDS
    if unknown:
        field = prefix + sorted(unknown)[0]
        raise InvalidRequest(f"Unknown field '{field}'.", param=field)
    return NewMemory(
        content=content(item.get("content"), prefix + "content"),
        category=category(item.get("category", DEFAULT_CATEGORY), prefix + "category", categories),
        created_at=timestamp(item["created_at"], prefix + "created_at")
        if item.get("created_at") is not None
        else None,
        metadata=metadata(item.get("metadata", {}), prefix + "metadata"),
    )


def memory_changes(body: Mapping[str, Any], categories: Mapping[str, int]) -> MemoryChanges:
    unknown = set(body) - {"content", "category", "metadata", "created_at"}
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidRequest(f"Unknown field '{field}'.", param=field)
    if not body:
        raise InvalidRequest("Nothing to change: send content, category, metadata or created_at.")
    return MemoryChanges(
        content=content(body["content"], "content") if "content" in body else None,
        category=category(body["category"], "category", categories) if "category" in body else None,
        metadata=metadata(body["metadata"], "metadata") if "metadata" in body else None,
        created_at=timestamp(body["created_at"], "created_at") if "created_at" in body else None,
    )


def content(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"Invalid '{param}': expected a non-empty string.", param=param)
    if len(value) > MAX_CONTENT_CHARS:
        raise InvalidRequest(
            f"Invalid '{param}': longer than {MAX_CONTENT_CHARS} characters.", param=param
        )
    return value.strip()


def category(value: Any, param: str, categories: Mapping[str, int]) -> str:
    if not isinstance(value, str) or value not in categories:
        names = ", ".join(sorted(categories, key=lambda c: -categories[c]))
        raise InvalidRequest(
            f"Invalid '{param}': expected one of the configured categories ({names}).",
            param=param,
        )
    return value


def metadata(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid '{param}': expected an object.", param=param)
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        # Nested deeper than orjson can write; the body's depth limit normally stops it first.
        raise InvalidRequest(f"Invalid '{param}': nested too deeply.", param=param) from None
    if size > MAX_METADATA_BYTES:
        raise InvalidRequest(
            f"Invalid '{param}': larger than {MAX_METADATA_BYTES} bytes as JSON.", param=param
        )
    return value


def timestamp(value: Any, param: str) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        except (ValueError, OverflowError):
            moment = None
        # Stored as a float timestamp: a date at the very edge of the calendar would not come
        # back, and would make the user's memories unreadable.
        if moment is not None and _EARLIEST <= moment < _LATEST:
            return moment
    raise InvalidRequest(
        f"Invalid '{param}': expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z.",
        param=param,
    )


def profile_changes(body: Mapping[str, Any]) -> dict[str, Value | None]:
    """``{"fields": {...}}`` as changes per field."""
    unknown = set(body) - {"fields"}
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidRequest(f"Unknown field '{field}'.", param=field)
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise InvalidRequest("Invalid 'fields': expected an object.", param="fields")
    return {name: profile_value(name, value) for name, value in fields.items()}


def profile_value(name: str, value: Any) -> Value | None:
    param = f"fields.{name}"
    if name not in FIELDS:
        raise InvalidRequest(
            f"Unknown profile field '{name}' (expected one of: {', '.join(FIELDS)}).", param=param
        )
    if value is None:
        return None
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise InvalidRequest(
                f"Invalid '{param}': expected one of {', '.join(CHOICES[name])}, or null.",
                param=param,
            )
        return str(value)
    if name in TEXTS:
        if not isinstance(value, str) or not value.strip() or len(value) > TEXTS[name]:
            raise InvalidRequest(
                f"Invalid '{param}': expected a string of 1 to {TEXTS[name]} characters, or null.",
                param=param,
            )
        return " ".join(value.split())
    return _stack(value, param)


def _stack(value: Any, param: str) -> tuple[str, ...]:
    valid = (
        isinstance(value, list)
        and len(value) <= MAX_STACK_ITEMS
        and all(
            isinstance(item, str) and item.strip() and len(item) <= MAX_STACK_ITEM_CHARS
            for item in value
        )
    )
    if not valid:
        raise InvalidRequest(
            f"Invalid '{param}': expected a list of up to {MAX_STACK_ITEMS} strings of 1 to "
            f"{MAX_STACK_ITEM_CHARS} characters, or null.",
            param=param,
        )
    return tuple(" ".join(item.split()) for item in value)
