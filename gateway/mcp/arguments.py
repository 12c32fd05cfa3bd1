"""Checking a tool's arguments: each problem is an ``InvalidRequest`` naming the argument, which
the agent reads as the tool's error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.proxy.identity import check_user_id, user_header


def known(arguments: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise InvalidRequest(f"Unknown argument '{unknown[0]}'.", param=unknown[0])


def text(arguments: Mapping[str, Any], name: str, max_chars: int) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_chars:
        raise InvalidRequest(
            f"Invalid '{name}': expected a non-empty string of up to {max_chars} characters.",
            param=name,
        )
    return value


def integer(arguments: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = arguments.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidRequest(
            f"Invalid '{name}': expected a number from {low} to {high}.", param=name
        )
    return value


def choice(arguments: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = arguments.get(name)
    if value is not None and value not in allowed:
        raise InvalidRequest(f"Invalid '{name}': expected one of {', '.join(allowed)}.", param=name)
    return value


def user(headers: Mapping[str, str], arguments: Mapping[str, Any]) -> str:
    """The user a call acts for: the ``X-User-Id`` header pins it, so an agent steered by what
    it read cannot reach another user; without the header, the ``user_id`` argument names it."""
    pinned = user_header(headers)
    named = arguments.get("user_id")
    if named is not None:
        if not isinstance(named, str):
            raise InvalidRequest("Invalid 'user_id': expected a string.", param="user_id")
        named = check_user_id(named, "user_id")
        if pinned is not None and named != pinned:
            raise InvalidRequest(
                "Invalid 'user_id': this connection's X-User-Id header names another user.",
                param="user_id",
            )
    found = pinned or named
    if found is None:
        raise InvalidRequest(
            "Missing 'user_id': send the X-User-Id header or pass user_id.", param="user_id"
        )
    return found
