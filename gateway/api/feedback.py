"""``POST /v1/feedback``: a rating for one completion, joined to the cohort that answered it.

The body names the completion by its ``id`` (the completion's ``id``, or the ``x-request-id``
header it came with) and gives either ``rating`` (``up`` or ``down``) or ``score`` (1 to 5),
and optionally a ``reason`` from ``personalization.feedback_reasons``. Only completions of the
caller's tenant answered within ``feedback_window_s`` can be rated; anything else is a 404.
A later rating of the same completion replaces the earlier one.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.access import authorize
from gateway.config import PersonalizationConfig
from gateway.errors import InvalidRequest, NotFound, StoreUnavailable
from gateway.learning.outcomes import Outcomes
from gateway.observability import Metrics
from gateway.proxy.auth import Authenticator
from gateway.proxy.request import MAX_JSON_DEPTH, parse_json_object, read_body

RATINGS = ("up", "down")
MAX_ID_CHARS = 256
_FIELDS = frozenset({"id", "rating", "score", "reason"})


class FeedbackAPI:
    def __init__(
        self,
        authenticator: Authenticator,
        outcomes: Outcomes,
        settings: PersonalizationConfig,
        metrics: Metrics,
        max_body_bytes: int,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self._auth = authenticator
        self._outcomes = outcomes
        self._window_s = settings.feedback_window_s
        self._reasons = settings.feedback_reasons
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._max_json_depth = max_json_depth

    async def __call__(self, request: Request) -> Response:
        caller = authorize(self._auth, request, "write")
        tenant = caller.acting_tenant()
        raw = await read_body(request, self._max_body_bytes)
        body = parse_json_object(raw, self._max_json_depth)
        exchange_id, rating, score, reason = self._parse(body)
        try:
            found = self._outcomes.find(tenant, exchange_id, time.time() - self._window_s)
            if found is None:
                raise NotFound(
                    "No completion with this 'id' can be rated: it is unknown, of another "
                    "tenant, or older than the feedback window.",
                    param="id",
                )
            self._outcomes.rate(tenant, found.request_id, rating, score, reason)
        except sqlite3.Error as exc:
            raise StoreUnavailable("The feedback records cannot be written right now.") from exc
        self._metrics.feedback(found.cohort, rating or str(score))
        answer = {
            "object": "feedback",
            "id": exchange_id,
            "request_id": found.request_id,
            "cohort": found.cohort,
            "rating": rating,
            "score": score,
            "reason": reason,
        }
        return Response(orjson.dumps(answer), 200, media_type="application/json")

    def _parse(self, body: dict[str, Any]) -> tuple[str, str | None, int | None, str | None]:
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise InvalidRequest(f"Unknown field '{unknown[0]}'.", param=unknown[0])
        exchange_id = body.get("id")
        if not isinstance(exchange_id, str) or not 1 <= len(exchange_id) <= MAX_ID_CHARS:
            raise InvalidRequest(
                "Invalid 'id': expected the completion's id or its x-request-id.", param="id"
            )
        rating, score = body.get("rating"), body.get("score")
        if rating is None and score is None:
            raise InvalidRequest(
                "Missing 'rating': give rating (up or down) or score (1 to 5).", param="rating"
            )
        if rating is not None and score is not None:
            raise InvalidRequest("Give either 'rating' or 'score', not both.", param="score")
        if rating is not None and rating not in RATINGS:
            raise InvalidRequest("Invalid 'rating': expected up or down.", param="rating")
        if score is not None and (
            not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5
        ):
            raise InvalidRequest(
                "Invalid 'score': expected a whole number from 1 to 5.", param="score"
            )
        reason = body.get("reason")
        if reason is not None and reason not in self._reasons:
            raise InvalidRequest(
                f"Invalid 'reason': expected one of {', '.join(self._reasons)}.", param="reason"
            )
        return exchange_id, rating, score, reason
