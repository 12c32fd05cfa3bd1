"""Stage 1: the gateway key names the caller's tenant.

The key comes in ``Authorization: Bearer <key>`` (OpenAI clients) or ``x-api-key: <key>`` (what
Anthropic's SDK sends); when both are present, ``Authorization`` decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import ApiKey
from gateway.errors import AuthenticationFailed


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    #: The key's label from the config, safe for logs; never the key itself.
    key_name: str
    #: The operator lets this key choose the cohort (``X-Memory-Cohort``), for testing.
    can_force_cohort: bool = False


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Authenticator:
    """Looks keys up by digest, so no comparison ever runs over the secret itself."""

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        self._principals = {
            _digest(entry.key.get_secret_value()): Principal(
                entry.tenant, entry.name or f"{entry.tenant}#{index}", entry.can_force_cohort
            )
            for index, entry in enumerate(keys)
        }

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        value = headers.get("authorization")
        if value:
            scheme, _, key = value.strip().partition(" ")
            key = key if scheme.lower() == "bearer" else ""
        else:
            key = headers.get("x-api-key", "")
        if not value and not key:
            raise AuthenticationFailed(
                "Missing API key: send your gateway key as 'Authorization: Bearer <key>' "
                "or 'x-api-key: <key>'.",
                code="missing_api_key",
            )
        principal = self._principals.get(_digest(key.strip())) if key.strip() else None
        if principal is None:
            raise AuthenticationFailed("Invalid API key: this gateway does not know that key.")
        return principal
