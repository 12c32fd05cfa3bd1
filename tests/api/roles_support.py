"""A gateway with one key of each role, shared by the roles, users and audit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from gateway.config import GatewayConfig
from tests.support.gateway import KEY, OTHER_KEY
from tests.support.memory import memory_config, merged

READ_ONLY_KEY = "sk-test-acme-auditor"
ADMIN_KEY = "sk-test-operator"
KEYS = {"read-write": KEY, "read-only": READ_ONLY_KEY, "admin": ADMIN_KEY}


def roles_config(state: Path, **sections: Any) -> GatewayConfig:
    auth = {
        "keys": [
            {"key": KEY, "tenant": "acme", "name": "acme-app"},
            {"key": OTHER_KEY, "tenant": "globex", "name": "globex-app"},
            {"key": READ_ONLY_KEY, "tenant": "acme", "name": "acme-auditor", "role": "read-only"},
        ],
        "admin_keys": [{"key": ADMIN_KEY, "name": "operator"}],
    }
    extra = sections.pop("auth", {})
    return memory_config(state, auth=merged(auth, extra), **sections)


def client(url: str, role: str, tenant: str | None = "acme") -> httpx.Client:
    """A client with the key of ``role``; an admin names ``tenant`` in ``X-Tenant-Id``."""
    headers = {"Authorization": f"Bearer {KEYS[role]}"}
    if role == "admin" and tenant is not None:
        headers["X-Tenant-Id"] = tenant
    return httpx.Client(base_url=url, headers=headers, timeout=60)


def clients(url: str) -> Iterator[tuple[str, httpx.Client]]:
    for role in KEYS:
        yield role, client(url, role)
