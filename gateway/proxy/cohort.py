"""Stage 3b: which cohort a user is in, the memory cohort or the holdout.

The holdout gets no memories injected, so that the two cohorts can be compared (``gateway
report personalization``). Assignment is a pure function of the salt, the tenant and the user:
the same on every host and after every restart, and nothing is stored. A key the operator marks
``can_force_cohort: true`` may choose with the ``X-Memory-Cohort`` header, for tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace

from gateway.config import PersonalizationConfig, TenantConfig
from gateway.errors import InvalidRequest
from gateway.proxy.auth import Principal
from gateway.types import Cohort, Identity

COHORTS: tuple[Cohort, ...] = ("memory", "holdout")
_BUCKETS = 1 << 64


def holdout_position(salt: str, tenant: str, user: str) -> float:
    """Where the user falls in [0, 100): below the holdout percent means holdout."""
    digest = hashlib.sha256(f"{salt}\0{tenant}\0{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * 100.0 / _BUCKETS


class Cohorts:
    """Puts each request of a known user into its user's cohort."""

    def __init__(
        self, settings: PersonalizationConfig, tenants: Mapping[str, TenantConfig]
    ) -> None:
        self._salt = settings.holdout_salt
        self._default = settings.holdout_percent
        self._percent = {name: settings.holdout_for(tenant) for name, tenant in tenants.items()}

    def assign(
        self, identity: Identity, headers: Mapping[str, str], principal: Principal
    ) -> Identity:
        forced = _forced(headers.get("x-memory-cohort"), principal)
        if identity.user is None:
            return identity
        cohort = forced or self.cohort_of(identity.tenant, identity.user)
        return identity if cohort == identity.cohort else replace(identity, cohort=cohort)

    def cohort_of(self, tenant: str, user: str) -> Cohort:
        percent = self._percent.get(tenant, self._default)
        if percent <= 0.0:
            return "memory"
        held = holdout_position(self._salt, tenant, user) < percent
        return "holdout" if held else "memory"


def _forced(value: str | None, principal: Principal) -> Cohort | None:
    if value is None:
        return None
    if not principal.can_force_cohort:
        raise InvalidRequest(
            "The 'X-Memory-Cohort' header is not allowed for this key "
            "(the operator sets can_force_cohort: true on keys that may use it).",
            param="X-Memory-Cohort",
        )
    chosen = value.strip().lower()
    for cohort in COHORTS:
        if chosen == cohort:
            return cohort
    raise InvalidRequest(
        "Invalid 'X-Memory-Cohort' header: expected memory or holdout.", param="X-Memory-Cohort"
    )
