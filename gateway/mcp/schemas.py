"""What an MCP client is shown: each tool's one-line description and JSON schema, and the
resource templates. The schemas say what ``gateway.mcp.arguments`` checks, so an agent that
follows them is never refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mcp.types import ResourceTemplate, Tool, ToolAnnotations

from gateway.profile.model import FIELDS

#: What a tool needs of the key's role (``gateway.api.access``).
Need = Literal["read", "write"]

MAX_QUERY_CHARS = 2000
MAX_MESSAGE_CHARS = 32000
STATUSES = ("active", "superseded", "pending")

#: Which role a tool needs; a tool not listed here does not exist.
NEEDS: dict[str, Need] = {
    "search_memories": "read",
    "add_memory": "write",
    "update_memory": "write",
    "delete_memory": "write",
    "delete_memories": "write",
    "get_profile": "read",
    "set_profile_field": "write",
    "what_would_be_injected": "read",
}

_USER_ID: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 256,
    "description": "The user whose memories these are. Only when the connection sends no "
    "X-User-Id header; if it does, this must equal it.",
}
_MEMORY_ID: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "description": "A memory's id, as search_memories returns it.",
}
_METADATA: dict[str, Any] = {
    "type": "object",
    "description": "Free-form JSON kept with the memory (up to 4096 bytes).",
}


def _object(properties: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**properties, "user_id": _USER_ID},
        "required": list(required),
        "additionalProperties": False,
    }


def _category(categories: Mapping[str, int], description: str) -> dict[str, Any]:
    return {"type": "string", "enum": sorted(categories), "description": description}


def _tool(name: str, description: str, schema: dict[str, Any]) -> Tool:
    need = NEEDS[name]
    hints = ToolAnnotations(
        read_only_hint=need == "read",
        destructive_hint=name.startswith("delete") or None,
        idempotent_hint=need == "read" or name.startswith("delete") or None,
        open_world_hint=False,
    )
    return Tool(name=name, description=description, input_schema=schema, annotations=hints)


def tool_list(categories: Mapping[str, int]) -> tuple[Tool, ...]:
    """Every tool, with the configured memory categories in its schema."""
    return (
        _tool(
            "search_memories",
            "Find the user's memories most relevant to a query, best first, with their scores.",
            _object(
                {
                    "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                },
                ("query",),
            ),
        ),
        _tool(
            "add_memory",
            "Remember one lasting fact or preference of the user; search first to avoid repeats.",
            _object(
                {
                    "content": {"type": "string", "minLength": 1, "maxLength": 8000},
                    "category": _category(categories, "What kind of memory (default: fact)."),
                    "metadata": _METADATA,
                },
                ("content",),
            ),
        ),
        _tool(
            "update_memory",
            "Change a memory's content, category or metadata; give at least one of them.",
            _object(
                {
                    "id": _MEMORY_ID,
                    "content": {"type": "string", "minLength": 1, "maxLength": 8000},
                    "category": _category(categories, "The memory's new category."),
                    "metadata": _METADATA,
                },
                ("id",),
            ),
        ),
        _tool(
            "delete_memory", "Forget one memory by its id.", _object({"id": _MEMORY_ID}, ("id",))
        ),
        _tool(
            "delete_memories",
            "Forget every memory matching all the filters given (at least one filter).",
            _object(
                {
                    "category": _category(categories, "Only memories of this category."),
                    "status": {
                        "type": "string",
                        "enum": list(STATUSES),
                        "description": "Only memories in this state.",
                    },
                    "created_before": {
                        "type": "string",
                        "format": "date-time",
                        "description": "Only memories created before this ISO 8601 time.",
                    },
                }
            ),
        ),
        _tool("get_profile", "Read the user's profile: its set fields and summary.", _object({})),
        _tool(
            "set_profile_field",
            "Set one profile field (inference never overwrites it), or clear it with null.",
            _object(
                {
                    "field": {"type": "string", "enum": list(FIELDS)},
                    "value": {
                        "description": "A choice or text for most fields, a list of strings for "
                        "stack, or null to clear the field.",
                        "anyOf": [
                            {"type": "string", "minLength": 1},
                            {"type": "array", "items": {"type": "string", "minLength": 1}},
                            {"type": "null"},
                        ],
                    },
                },
                ("field", "value"),
            ),
        ),
        _tool(
            "what_would_be_injected",
            "Show the memory block a chat with this message would get now, and its token count.",
            _object(
                {"message": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS}},
                ("message",),
            ),
        ),
    )


PROFILE_URI = "memory://{user_id}/profile"
MEMORIES_URI = "memory://{user_id}/memories/{category}"
#: In a resource URI, ``me`` names the user of the connection's ``X-User-Id`` header.
ME = "me"

RESOURCE_TEMPLATES = (
    ResourceTemplate(
        name="profile",
        uri_template=PROFILE_URI,
        description="The user's profile as JSON (user_id 'me': the X-User-Id header's user).",
        mime_type="application/json",
    ),
    ResourceTemplate(
        name="memories",
        uri_template=MEMORIES_URI,
        description="The user's active memories of one category as JSON, newest first.",
        mime_type="application/json",
    ),
)
