"""Every (role, route) pair over real HTTP: what each key may do, and the 403 it gets otherwise
in the endpoint's own error shape (OpenAI's; Anthropic's on /v1/messages)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.api.roles_support import ADMIN_KEY, KEYS, READ_ONLY_KEY, client, roles_config
from tests.support.gateway import KEY, RunningGateway, gateway_in_thread

USER = "/v1/users/ana"
MEMORY = USER + "/memories/{id}"
#: (method, path, body, what it needs): read, write, admin, audit, or model (a model route).
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", USER + "/memories", None, "read"),
    ("GET", MEMORY, None, "read"),
    ("POST", USER + "/memories/search", {"query": "bees"}, "read"),
    ("GET", USER + "/memories/export", None, "read"),
    ("POST", USER + "/memories/preview", {"message": "Tell me about bees"}, "read"),
    ("GET", USER + "/profile", None, "read"),
    ("GET", "/v1/users", None, "read"),
    ("GET", "/v1/models", None, "read"),
    ("POST", USER + "/memories", {"content": "Ana likes tea."}, "write"),
    ("PATCH", MEMORY, {"content": "Ana keeps two hives."}, "write"),
    ("DELETE", MEMORY, None, "write"),
    ("DELETE", USER + "/memories", None, "write"),
    ("PUT", USER + "/profile", {"fields": {"tone": "formal"}}, "write"),
    ("PATCH", USER + "/profile", {"fields": {"tone": "casual"}}, "write"),
    ("DELETE", USER + "/profile", None, "write"),
    ("POST", "/v1/feedback", {"id": "chatcmpl-unknown", "rating": "up"}, "write"),
    ("GET", "/v1/tenants", None, "admin"),
    ("GET", "/v1/audit", None, "audit"),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        "model",
    ),
    ("POST", "/v1/responses", {"model": "echo", "input": "hi"}, "model"),
    (
        "POST",
        "/v1/messages",
        {"model": "echo", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
        "model",
    ),
    ("POST", "/v1/embeddings", {"model": "echo", "input": "hi"}, "model"),
]
ALLOWED = {
    "admin": {"read", "write", "admin", "audit"},
    "read-write": {"read", "write", "model"},
    "read-only": {"read", "audit"},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_in_thread(roles_config(tmp_path_factory.mktemp("roles"))) as running:
        yield running


def _seeded(url: str) -> str:
    with client(url, "read-write") as writer:
        reply = writer.post(USER + "/memories", json={"content": "Ana keeps bees."})
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])


@pytest.mark.parametrize("role", list(KEYS))
@pytest.mark.parametrize(
    ("method", "path", "body", "needs"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_each_role_on_each_route(
    gateway: RunningGateway,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    needs: str,
) -> None:
    memory_id = _seeded(gateway.url)
    with client(gateway.url, role) as http:
        reply = http.request(method, path.format(id=memory_id), json=body)
    allowed = needs in ALLOWED[role] or path == "/v1/models"
    if not allowed:
        assert reply.status_code == 403, reply.text
        if path == "/v1/messages":
            assert reply.json()["error"]["type"] == "permission_error"
        else:
            error = reply.json()["error"]
            assert (error["type"], error["code"]) == ("permission_error", "permission_denied")
            assert role in error["message"]
    elif path == "/v1/feedback":
        # Allowed: the id names no completion, so a 404 rather than a 403.
        assert reply.status_code == 404, reply.text
    elif path == "/v1/embeddings":
        # Allowed: passed to the echo model's provider, which has none (not a 403).
        assert reply.status_code != 403, reply.text
    else:
        assert 200 <= reply.status_code < 300, reply.text


def test_the_sdks_see_a_permission_error_for_a_read_only_key(gateway: RunningGateway) -> None:
    chat = openai.OpenAI(base_url=gateway.base_url, api_key=READ_ONLY_KEY, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        chat.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    messages = anthropic.Anthropic(base_url=gateway.url, api_key=ADMIN_KEY, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError):
        messages.messages.create(
            model="echo", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )


def test_a_tenant_key_naming_another_tenant_is_refused(gateway: RunningGateway) -> None:
    _seeded(gateway.url)
    for key in (KEY, READ_ONLY_KEY):
        headers = {"Authorization": f"Bearer {key}", "X-Tenant-Id": "globex"}
        reply = httpx.get(f"{gateway.url}{USER}/memories", headers=headers)
        assert reply.status_code == 403, reply.text
        reply = httpx.get(f"{gateway.url}/v1/users", params={"tenant": "globex"}, headers=headers)
        assert reply.status_code == 403, reply.text
        # Naming its own tenant is fine.
        headers["X-Tenant-Id"] = "acme"
        assert httpx.get(f"{gateway.url}{USER}/memories", headers=headers).status_code == 200


def test_an_admin_names_the_tenant_it_acts_on(gateway: RunningGateway) -> None:
    _seeded(gateway.url)
    with client(gateway.url, "admin", tenant=None) as admin:
        reply = admin.get(USER + "/memories")
        assert reply.status_code == 400
        assert reply.json()["error"]["param"] == "X-Tenant-Id"
        reply = admin.get(USER + "/memories", headers={"X-Tenant-Id": "no such/tenant"})
        assert (reply.status_code, reply.json()["error"]["param"]) == (400, "X-Tenant-Id")
        acme = admin.get(USER + "/memories", headers={"X-Tenant-Id": "acme"}).json()
        assert "Ana keeps bees." in [m["content"] for m in acme["data"]]
        # The same user id in another tenant is another user.
        globex = admin.get(USER + "/memories", headers={"X-Tenant-Id": "globex"}).json()
        assert globex["data"] == []


def test_role_is_validated_and_keys_are_unique_across_lists(tmp_path: Path) -> None:
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="role"):
        roles_config(tmp_path, auth={"keys": [{"key": "k", "tenant": "a", "role": "owner"}]})
    with pytest.raises(ConfigError, match=r"admin_keys\[0\]\.key repeats"):
        roles_config(tmp_path, auth={"admin_keys": [{"key": KEY}]})
