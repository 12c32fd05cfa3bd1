"""``GET /v1/users`` and ``GET /v1/tenants``: a tenant's users with their counts, searched and
paged; every tenant for an admin. Over both the embedded store and a Chroma server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.roles_support import client, roles_config
from tests.support.chroma import chroma_server
from tests.support.gateway import RunningGateway, gateway_in_thread


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_in_thread(roles_config(tmp_path_factory.mktemp("users"))) as running:
        with client(running.url, "read-write") as http:
            for user, count in (("amy", 2), ("bob", 1), ("Amelia", 1), ("cy", 1)):
                notes = [{"content": f"{user} note {n}"} for n in range(count)]
                assert http.post(f"/v1/users/{user}/memories", json={"memories": notes}).is_success
            http.patch("/v1/users/amy/profile", json={"fields": {"tone": "formal"}})
            http.delete("/v1/users/cy/memories")  # erased: no longer listed
        yield running


def test_a_tenant_lists_its_users_with_their_counts(gateway: RunningGateway) -> None:
    with client(gateway.url, "read-only") as http:
        page = http.get("/v1/users").json()
    assert [u["user_id"] for u in page["data"]] == ["Amelia", "amy", "bob"]
    assert page["total"] == 3 and page["has_more"] is False
    amy = page["data"][1]
    assert amy["memories"] == {"active": 2, "superseded": 0, "pending": 0}
    assert amy["profile_fields"] == 1 and 0 < amy["profile_completeness"] < 1
    assert amy["last_seen"] and amy["last_write"]


def test_search_and_pages(gateway: RunningGateway) -> None:
    with client(gateway.url, "read-write") as http:
        found = http.get("/v1/users", params={"q": "AM"}).json()
        assert [u["user_id"] for u in found["data"]] == ["Amelia", "amy"]
        first = http.get("/v1/users", params={"limit": "2"}).json()
        assert (len(first["data"]), first["has_more"], first["next_offset"]) == (2, True, 2)
        rest = http.get("/v1/users", params={"limit": "2", "offset": "2"}).json()
        assert [u["user_id"] for u in rest["data"]] == ["bob"]
        bad = http.get("/v1/users", params={"limit": "0"})
        assert (bad.status_code, bad.json()["error"]["param"]) == (400, "limit")


def test_an_admin_lists_tenants_and_any_tenants_users(gateway: RunningGateway) -> None:
    with client(gateway.url, "admin", tenant=None) as admin:
        tenants = {t["tenant"]: t for t in admin.get("/v1/tenants").json()["data"]}
        assert tenants["acme"]["users"] == 3 and tenants["acme"]["configured"]
        assert tenants["globex"]["users"] == 0
        assert admin.get("/v1/users").status_code == 400  # names no tenant
        users = admin.get("/v1/users", params={"tenant": "acme"}).json()["data"]
        assert len(users) == 3
        assert admin.get("/v1/users", params={"tenant": "globex"}).json()["data"] == []


def test_a_store_server_lists_users_too(tmp_path: Path) -> None:
    with chroma_server(tmp_path / "chroma-server") as server:
        config = roles_config(tmp_path, store_url=server.url)
        with gateway_in_thread(config) as running, client(running.url, "read-write") as http:
            http.post("/v1/users/remote-user/memories", json={"content": "stored remotely"})
            listed = http.get("/v1/users").json()["data"]
            assert [u["user_id"] for u in listed] == ["remote-user"]
