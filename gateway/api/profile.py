"""The profile API: ``/v1/users/{user_id}/profile``, an HTTP door to ``MemoryService``.

``GET`` shows the fields with a value and the summary. ``PATCH {"fields": {"tone": "formal"}}``
sets fields (``source: set``, which inference never overwrites) and ``{"tone": null}`` clears
one. ``PUT`` replaces every set field with the ones given. ``DELETE`` clears the whole profile.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.access import Action, Caller, authorize
from gateway.api.fields import ProfileChanges, profile_changes
from gateway.api.service import MemoryService
from gateway.observability import Metrics
from gateway.profile.model import Value
from gateway.proxy.auth import Authenticator
from gateway.proxy.request import MAX_JSON_DEPTH, parse_json_object, read_body


class ProfileAPI:
    def __init__(
        self,
        authenticator: Authenticator,
        service: MemoryService,
        metrics: Metrics,
        max_body_bytes: int,
        *,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self._auth = authenticator
        self._service = service
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._max_json_depth = max_json_depth

    def _caller(self, request: Request, action: Action) -> tuple[Caller, str]:
        return authorize(self._auth, request, action), request.path_params["user_id"]

    async def get(self, request: Request) -> Response:
        caller, user = self._caller(request, "read")
        profile = await self._service.profile(caller, user)
        return _json(profile.public(user))

    async def patch(self, request: Request) -> Response:
        caller, user = self._caller(request, "write")
        changes = await self._changes(request)
        profile = await self._service.set_profile(caller, user, changes)
        self._count(changes)
        return _json(profile.public(user))

    async def put(self, request: Request) -> Response:
        caller, user = self._caller(request, "write")
        changes = {k: v for k, v in (await self._changes(request)).items() if v is not None}
        profile = await self._service.set_profile(caller, user, changes, replace_set=True)
        self._count(changes)
        return _json(profile.public(user))

    async def delete(self, request: Request) -> Response:
        caller, user = self._caller(request, "write")
        await self._service.clear_profile(caller, user)
        return _json({"object": "user.profile.deleted", "user_id": user, "deleted": True})

    async def _changes(self, request: Request) -> dict[str, Value | None]:
        raw = await read_body(request, self._max_body_bytes)
        return profile_changes(parse_json_object(raw, self._max_json_depth))

    def _count(self, changes: ProfileChanges) -> None:
        for name, value in changes.items():
            if value is not None:
                self._metrics.profile_field_set(name, "set")


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")
