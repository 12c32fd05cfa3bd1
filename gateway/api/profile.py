"""The profile API: ``/v1/users/{user_id}/profile``, always scoped to the caller key's tenant.

``GET`` shows the fields with a value and the summary. ``PATCH {"fields": {"tone": "formal"}}``
sets fields (``source: set``, which inference never overwrites) and ``{"tone": null}`` clears
one. ``PUT`` replaces every set field with the ones given. ``DELETE`` clears the whole profile.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.memory import user_scope
from gateway.errors import InvalidRequest
from gateway.observability import Metrics
from gateway.profile.model import (
    CHOICES,
    FIELDS,
    MAX_STACK_ITEM_CHARS,
    MAX_STACK_ITEMS,
    TEXTS,
    FieldState,
    Profile,
    Value,
)
from gateway.profile.store import ProfileStore
from gateway.proxy.auth import Authenticator
from gateway.proxy.request import MAX_JSON_DEPTH, parse_json_object, read_body
from gateway.store.records import Scope

#: A change per field: a value to set, or None to clear it.
Changes = Mapping[str, Value | None]


class ProfileAPI:
    def __init__(
        self,
        authenticator: Authenticator,
        profiles: ProfileStore,
        metrics: Metrics,
        max_body_bytes: int,
        *,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self._auth = authenticator
        self._profiles = profiles
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._max_json_depth = max_json_depth

    def _scope(self, request: Request) -> Scope:
        return user_scope(self._auth, request)

    async def get(self, request: Request) -> Response:
        scope = self._scope(request)
        return _json((await self._profiles.get(scope)).public(scope.user))

    async def patch(self, request: Request) -> Response:
        scope = self._scope(request)
        changes = await self._changes(request)
        profile = await self._profiles.change(scope, lambda p: _apply(p, changes, time.time()))
        self._count(changes)
        return _json(profile.public(scope.user))

    async def put(self, request: Request) -> Response:
        scope = self._scope(request)
        changes = {k: v for k, v in (await self._changes(request)).items() if v is not None}

        def replace_set(profile: Profile) -> Profile:
            for name, state in profile.fields.items():
                if state.source == "set" and name not in changes:
                    profile = profile.with_field(name, None)
            return _apply(profile, changes, time.time())

        profile = await self._profiles.change(scope, replace_set)
        self._count(changes)
        return _json(profile.public(scope.user))

    async def delete(self, request: Request) -> Response:
        scope = self._scope(request)
        await self._profiles.change(scope, lambda _: Profile())
        return _json({"object": "user.profile.deleted", "user_id": scope.user, "deleted": True})

    async def _changes(self, request: Request) -> dict[str, Value | None]:
        raw = await read_body(request, self._max_body_bytes)
        body = parse_json_object(raw, self._max_json_depth)
        unknown = set(body) - {"fields"}
        if unknown:
            field = sorted(unknown)[0]
            raise InvalidRequest(f"Unknown field '{field}'.", param=field)
        fields = body.get("fields")
        if not isinstance(fields, dict):
            raise InvalidRequest("Invalid 'fields': expected an object.", param="fields")
        return {name: _value(name, value) for name, value in fields.items()}

    def _count(self, changes: Changes) -> None:
        for name, value in changes.items():
            if value is not None:
                self._metrics.profile_field_set(name, "set")


def _apply(profile: Profile, changes: Changes, now: float) -> Profile:
    for name, value in changes.items():
        state = None if value is None else FieldState(value, "set", 1, now)
        profile = profile.with_field(name, state)
    return profile


def _value(name: str, value: Any) -> Value | None:
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


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
