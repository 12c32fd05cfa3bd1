"""The audit trail: a record for every kind of write, none holding content or a user id, read
back a page at a time by the roles allowed to, and durable across a ``kill -9``."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api.roles_support import ADMIN_KEY, READ_ONLY_KEY, client, roles_config
from tests.support.gateway import (
    KEY,
    OTHER_KEY,
    RunningGateway,
    free_port,
    gateway_in_thread,
    spawn_gateway,
)
from tests.support.memory import MODEL_DIR

SECRET_USER = "zoe@example.com"
SECRET_TEXT = "Zoe's locker code is 4812."


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_in_thread(roles_config(tmp_path_factory.mktemp("audit"))) as running:
        yield running


def _every_write(url: str) -> None:
    user = f"/v1/users/{SECRET_USER}"
    with client(url, "read-write") as http:
        one = http.post(f"{user}/memories", json={"content": SECRET_TEXT}).json()
        http.post(f"{user}/memories", json={"memories": [{"content": "a"}, {"content": "b"}]})
        http.patch(f"{user}/memories/{one['id']}", json={"content": SECRET_TEXT + " Really."})
        http.delete(f"{user}/memories/{one['id']}")
        http.get(f"{user}/memories/export")
        http.patch(f"{user}/profile", json={"fields": {"tone": "formal"}})
        http.delete(f"{user}/profile")
        http.delete(f"{user}/memories")


def _audit(url: str, role: str, **params: str) -> httpx.Response:
    with client(url, role) as http:
        return http.get("/v1/audit", params=params)


def test_every_write_is_recorded_without_content_or_user_id(gateway: RunningGateway) -> None:
    _every_write(gateway.url)
    reply = _audit(gateway.url, "admin", user_id=SECRET_USER)
    assert reply.status_code == 200, reply.text
    records = reply.json()["data"]
    assert [r["action"] for r in records] == [
        "memory.add",
        "memory.add",
        "memory.patch",
        "memory.delete",
        "memory.export",
        "profile.set",
        "profile.clear",
        "memory.erase",
    ]
    add_one, add_two = records[0], records[1]
    assert add_one["memory_id"] and add_one["count"] is None
    assert add_two["count"] == 2
    assert records[-1]["count"] == 2  # the erasure's own record: two memories were left
    assert {r["key_name"] for r in records} == {"acme-app"}
    assert {r["tenant"] for r in records} == {"acme"}
    assert {r["via"] for r in records} == {"api"}
    assert len({r["user_digest"] for r in records}) == 1
    trail = (Path(gateway.config.audit_path())).read_text()
    assert SECRET_USER not in trail and "zoe" not in trail.lower()
    assert "locker" not in trail and "4812" not in trail


def test_pages_follow_the_cursor(gateway: RunningGateway) -> None:
    with client(gateway.url, "read-write") as http:
        for n in range(5):
            http.post("/v1/users/pager/memories", json={"content": f"note {n}"})
    seen: list[str] = []
    after: str | None = None
    while True:
        params = {"user_id": "pager", "limit": "2", **({"after": after} if after else {})}
        page = _audit(gateway.url, "read-only", **params).json()
        seen += [r["id"] for r in page["data"]]
        assert len(page["data"]) <= 2
        if not page["has_more"]:
            break
        after = page["next_after"]
    assert len(seen) == len(set(seen)) == 5


def test_who_may_read_which_trail(gateway: RunningGateway) -> None:
    with client(gateway.url, "read-write") as http:
        http.post("/v1/users/u/memories", json={"content": "acme note"})
    globex = {"Authorization": f"Bearer {OTHER_KEY}"}
    httpx.post(f"{gateway.url}/v1/users/u/memories", json={"content": "x"}, headers=globex)
    own = _audit(gateway.url, "read-only").json()["data"]
    assert own and {r["tenant"] for r in own} == {"acme"}
    assert _audit(gateway.url, "read-only", tenant="globex").status_code == 403
    assert _audit(gateway.url, "read-write").status_code == 403
    with httpx.Client(
        base_url=gateway.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as admin:
        everyone = admin.get("/v1/audit", params={"limit": "1000"}).json()["data"]
        assert {"acme", "globex"} <= {r["tenant"] for r in everyone}
        only = admin.get("/v1/audit", params={"tenant": "globex", "action": "memory.add"})
        assert {(r["tenant"], r["action"]) for r in only.json()["data"]} == {
            ("globex", "memory.add")
        }
        reply = admin.get("/v1/audit", params={"since": "yesterday"})
        assert (reply.status_code, reply.json()["error"]["param"]) == (400, "since")


def test_the_trail_survives_kill_9(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "auth": {
                    "keys": [
                        {"key": KEY, "tenant": "acme", "name": "acme-app"},
                        {"key": READ_ONLY_KEY, "tenant": "acme", "role": "read-only"},
                    ]
                },
                "models": [{"name": "echo", "model": "echo"}],
                "memory": {
                    "store": {
                        "path": str(tmp_path / "chroma"),
                        "state_dir": str(tmp_path / "state"),
                    },
                    "embedding": {"model_dir": str(MODEL_DIR)},
                },
            }
        )
    )
    first = spawn_gateway(config, port=free_port())
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        for n in range(3):
            reply = httpx.post(
                f"{first.url}/v1/users/kim/memories",
                json={"content": f"fact {n}"},
                headers=headers,
                timeout=60,
            )
            assert reply.status_code == 201, reply.text
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=30)
    second = spawn_gateway(config, port=free_port())
    try:
        reply = httpx.get(
            f"{second.url}/v1/audit",
            params={"user_id": "kim"},
            headers={"Authorization": f"Bearer {READ_ONLY_KEY}"},
        )
        assert reply.status_code == 200, reply.text
        assert [r["action"] for r in reply.json()["data"]] == ["memory.add"] * 3
    finally:
        second.process.terminate()
        second.process.wait(timeout=30)
