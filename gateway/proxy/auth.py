"""Stage 1: the gateway key names the caller's tenant.

The key comes in ``Authorization: Bearer <key>`` (OpenAI clients) or ``x-api-key: <key>`` (what
Anthropic's SDK sends); when both are present, ``Authorization`` decides. The key's role decides
what it may do: only ``read-write`` keys reach the model routes (``for_models``), where a chat
teaches the user's memory; ``gateway.api.access`` decides the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import AdminKey, ApiKey, Role
from gateway.errors import AuthenticationFailed, PermissionDenied


@dataclass(frozen=True, slots=True)
class Principal:
    #: The key's tenant; ``""`` for an admin key, which has none of its own.
    tenant: str
    #: The key's label from the config, safe for logs; never the key itself.
    key_name: str
    #: The operator lets this key choose the cohort (``X-Memory-Cohort``), for testing.
    can_force_cohort: bool = False
    role: Role = "read-write"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Authenticator:
    """Looks keys up by digest, so no comparison ever runs over the secret itself."""

    def __init__(self, keys: tuple[ApiKey, ...], admin_keys: tuple[AdminKey, ...] = ()) -> None:
        self._principals = {
            _digest(entry.key.get_secret_value()): Principal(
                entry.tenant,
                entry.name or f"{entry.tenant}#{index}",
                entry.can_force_cohort,
                entry.role,
            )
            for index, entry in enumerate(keys)
        }
        self._principals.update(
            {
                _digest(entry.key.get_secret_value()): Principal(
                    "", entry.name or f"admin#{index}", role="admin"
                )
                for index, entry in enumerate(admin_keys)
            }
        )

    def for_models(self, headers: Mapping[str, str]) -> Principal:
        """The caller of a model route (chat, responses, messages, pass-through): a
        ``read-write`` key, since every request there may teach a user's memory or spend the
        provider's money on a tenant's account."""
        principal = self.authenticate(headers)
        if principal.role != "read-write":
            raise PermissionDenied(
                f"A {principal.role} key may not call the models: use a read-write tenant key."
            )
        return principal

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
