"""Holdout cohorts: who is held out, what they get, and who may choose."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config import PersonalizationConfig, TenantConfig
from gateway.proxy.auth import Principal
from gateway.proxy.cohort import Cohorts
from gateway.proxy.identity import resolve_identity
from tests.learning.helpers import memories, wait_until
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway, gateway_in_thread
from tests.support.memory import memory_config

FORCING_KEY = "sk-test-acme-qa"
FACT = "I keep bees on the roof of my flat in Lisbon."


def cohorts(percent: float, salt: str = "s", **tenants: float | None) -> Cohorts:
    settings = PersonalizationConfig(holdout_percent=percent, holdout_salt=salt)
    overrides = {
        name: TenantConfig.model_validate({"personalization": {"holdout_percent": share}})
        for name, share in tenants.items()
    }
    return Cohorts(settings, overrides)


def test_the_holdout_is_the_configured_share_and_the_same_every_time() -> None:
    users = [f"user-{n}" for n in range(4000)]
    first = [cohorts(30).cohort_of("acme", user) for user in users]
    assert abs(first.count("holdout") / len(users) - 0.30) < 0.03
    # Another process (or host) with the same config draws the same users.
    assert [cohorts(30).cohort_of("acme", user) for user in users] == first
    # A larger holdout only adds users to it: nobody held out at 30% is let back in at 40%.
    wider = [cohorts(40).cohort_of("acme", user) for user in users]
    assert all(w == "holdout" for f, w in zip(first, wider, strict=True) if f == "holdout")
    # Another salt draws another holdout.
    assert [cohorts(30, salt="t").cohort_of("acme", user) for user in users] != first


def test_the_assignment_is_stable_across_processes() -> None:
    code = (
        "from gateway.config import PersonalizationConfig as P;"
        "from gateway.proxy.cohort import Cohorts;"
        "c = Cohorts(P(holdout_percent=50, holdout_salt='s'), {});"
        "print(''.join(c.cohort_of('acme', f'u{n}')[0] for n in range(200)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    here = "".join(cohorts(50).cohort_of("acme", f"u{n}")[0] for n in range(200))
    assert outputs == {here}


def test_a_tenant_overrides_the_share() -> None:
    chosen = cohorts(50, globex=0.0, initech=100.0)
    users = [f"user-{n}" for n in range(200)]
    assert {chosen.cohort_of("globex", u) for u in users} == {"memory"}
    assert {chosen.cohort_of("initech", u) for u in users} == {"holdout"}
    assert {chosen.cohort_of("acme", u) for u in users} == {"memory", "holdout"}


def test_no_user_no_cohort() -> None:
    identity = resolve_identity({}, None, "acme")
    principal = Principal("acme", "k", can_force_cohort=True)
    assert cohorts(100).assign(identity, {}, principal) == identity


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """acme holds out everyone; globex no one; one acme key may choose."""
    config = memory_config(
        tmp_path_factory.mktemp("cohorts"),
        auth={
            "keys": [
                {"key": KEY, "tenant": "acme"},
                {"key": OTHER_KEY, "tenant": "globex"},
                {"key": FORCING_KEY, "tenant": "acme", "can_force_cohort": True},
            ]
        },
        extraction={"mode": "turns", "poll_interval_s": 0.05},
        personalization={"holdout_percent": 100},
        tenants={"globex": {"personalization": {"holdout_percent": 0}}},
    )
    with gateway_in_thread(config) as running:
        yield running


def ask(gateway: RunningGateway, key: str, user: str, text: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {key}", "X-User-Id": user, **headers},
        timeout=30,
    )


def test_the_holdout_gets_no_memories_but_is_still_learned_from(gateway: RunningGateway) -> None:
    first = ask(gateway, KEY, "held", FACT)
    assert first.status_code == 200
    assert first.headers["x-memory-cohort"] == "holdout"
    assert first.headers["x-memory-status"] == "holdout"
    assert first.headers["x-request-id"]
    # Learning goes on, so the memory is there when the holdout ends.
    wait_until(lambda: memories(gateway, "held"))
    again = ask(gateway, KEY, "held", "Where do my bees live?")
    assert again.headers["x-memory-status"] == "holdout"
    assert "Lisbon" not in again.json()["choices"][0]["message"]["content"]
    # The same user through a key that may choose the memory cohort gets the memory.
    forced = ask(
        gateway, FORCING_KEY, "held", "Where do my bees live?", **{"X-Memory-Cohort": "memory"}
    )
    assert forced.headers["x-memory-cohort"] == "memory"
    assert forced.headers["x-memory-status"] == "ok"
    assert "Lisbon" in forced.json()["choices"][0]["message"]["content"]


def test_a_tenant_without_holdout_is_all_memory(gateway: RunningGateway) -> None:
    response = ask(gateway, OTHER_KEY, "someone", "Hello there, I like sailing on lakes.")
    assert response.headers["x-memory-cohort"] == "memory"
    assert response.headers["x-memory-status"] != "holdout"


@pytest.mark.parametrize(
    ("key", "value"), [(KEY, "memory"), (OTHER_KEY, "holdout"), (FORCING_KEY, "treatment")]
)
def test_forcing_the_cohort_needs_a_key_allowed_to_and_a_known_cohort(
    gateway: RunningGateway, key: str, value: str
) -> None:
    response = ask(gateway, key, "u", "Hello", **{"X-Memory-Cohort": value})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "X-Memory-Cohort"


def test_without_a_user_there_is_no_cohort_header(gateway: RunningGateway) -> None:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert response.status_code == 200
    assert "x-memory-cohort" not in response.headers
    assert response.headers["x-request-id"]


def test_memory_off_has_no_cohorts(tmp_path: Path) -> None:
    config = memory_config(tmp_path, memory={"enabled": False})
    with gateway_in_thread(config) as running:
        response = ask(running, KEY, "u", "Hello")
        assert response.status_code == 200
        assert "x-memory-cohort" not in response.headers
