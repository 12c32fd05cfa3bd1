"""``POST /v1/feedback``: ratings joined to the cohort that answered, within the caller's tenant
and the feedback window, kept with no text but the reason code."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.learning.outcomes import OUTCOMES_DB
from tests.learning.helpers import counter, scrape
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway, gateway_in_thread
from tests.support.memory import memory_config

FORCING_KEY = "sk-test-acme-qa"
USER = "rater@example.com"
SECRET_WORDS = "my hovercraft is full of eels"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback")


@pytest.fixture(scope="module")
def gateway(state: Path) -> Iterator[RunningGateway]:
    config = memory_config(
        state,
        auth={
            "keys": [
                {"key": KEY, "tenant": "acme"},
                {"key": OTHER_KEY, "tenant": "globex"},
                {"key": FORCING_KEY, "tenant": "acme", "can_force_cohort": True},
            ]
        },
        extraction={"enabled": False},
        personalization={"feedback_window_s": 2, "feedback_reasons": ["wrong", "forgot_context"]},
    )
    with gateway_in_thread(config) as running:
        yield running


def complete(gateway: RunningGateway, cohort: str = "memory") -> httpx.Response:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": SECRET_WORDS}]},
        headers={
            "Authorization": f"Bearer {FORCING_KEY}",
            "X-User-Id": USER,
            "X-Memory-Cohort": cohort,
        },
        timeout=30,
    )
    assert response.status_code == 200
    return response


def rate(gateway: RunningGateway, body: Any, key: str = KEY) -> httpx.Response:
    return httpx.post(
        f"{gateway.base_url}/feedback",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_a_rating_by_completion_id_or_request_id_is_joined_to_its_cohort(
    gateway: RunningGateway, state: Path
) -> None:
    held = complete(gateway, "holdout")
    by_id = rate(gateway, {"id": held.json()["id"], "rating": "down", "reason": "forgot_context"})
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["cohort"] == "holdout"
    assert by_id.json()["request_id"] == held.headers["x-request-id"]

    answered = complete(gateway, "memory")
    by_request = rate(gateway, {"id": answered.headers["x-request-id"], "score": 5})
    assert by_request.status_code == 200, by_request.text
    assert by_request.json()["cohort"] == "memory"

    samples = scrape(gateway)
    assert counter(samples, "gateway_feedback_total", cohort="holdout", rating="down") == 1
    assert counter(samples, "gateway_feedback_total", cohort="memory", rating="5") == 1

    with sqlite3.connect(state / "state" / OUTCOMES_DB) as db:
        rows = db.execute("SELECT rating, score, reason FROM exchanges ORDER BY at").fetchall()
    assert ("down", None, "forgot_context") in rows
    assert (None, 5, None) in rows
    # Durable, and no text in it: not the words, not the user id.
    stored = (state / "state" / OUTCOMES_DB).read_bytes()
    wal = state / "state" / f"{OUTCOMES_DB}-wal"
    stored += wal.read_bytes() if wal.exists() else b""
    assert SECRET_WORDS.encode() not in stored
    assert USER.encode() not in stored


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"rating": "up"}, "id"),
        ({"id": "", "rating": "up"}, "id"),
        ({"id": 7, "rating": "up"}, "id"),
        ({"id": "x"}, "rating"),
        ({"id": "x", "rating": "sideways"}, "rating"),
        ({"id": "x", "score": 0}, "score"),
        ({"id": "x", "score": 6}, "score"),
        ({"id": "x", "score": 4.5}, "score"),
        ({"id": "x", "score": True}, "score"),
        ({"id": "x", "rating": "up", "score": 5}, "score"),
        ({"id": "x", "rating": "up", "reason": "bored"}, "reason"),
        ({"id": "x", "rating": "up", "comment": "great"}, "comment"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    gateway: RunningGateway, body: dict[str, Any], param: str
) -> None:
    response = rate(gateway, body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_body_that_is_not_an_object_is_a_400(gateway: RunningGateway) -> None:
    response = httpx.post(
        f"{gateway.base_url}/feedback",
        content=b"[1, 2",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_unknown_other_tenants_and_expired_ids_are_404(gateway: RunningGateway) -> None:
    assert rate(gateway, {"id": "chatcmpl-nope", "rating": "up"}).status_code == 404
    answered = complete(gateway)
    # Another tenant cannot rate (or learn the cohort of) acme's completion.
    other = rate(gateway, {"id": answered.json()["id"], "rating": "up"}, key=OTHER_KEY)
    assert other.status_code == 404
    assert other.json()["error"]["param"] == "id"
    time.sleep(2.2)  # past feedback_window_s
    assert rate(gateway, {"id": answered.json()["id"], "rating": "up"}).status_code == 404


def test_feedback_needs_a_key(gateway: RunningGateway) -> None:
    response = httpx.post(f"{gateway.base_url}/feedback", json={"id": "x", "rating": "up"})
    assert response.status_code == 401


def test_without_memory_feedback_is_a_404(tmp_path: Path) -> None:
    with gateway_in_thread(memory_config(tmp_path, memory={"enabled": False})) as running:
        response = rate(running, {"id": "x", "rating": "up"})
        assert response.status_code == 404


def test_erasing_a_user_erases_their_records(gateway: RunningGateway, state: Path) -> None:
    complete(gateway)
    with sqlite3.connect(state / "state" / OUTCOMES_DB) as db:
        assert db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0] > 0
    erased = httpx.delete(
        f"{gateway.base_url}/users/{USER}/memories", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert erased.status_code == 200, erased.text
    with sqlite3.connect(state / "state" / OUTCOMES_DB) as db:
        assert db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0] == 0


def test_a_streamed_completion_is_rated_by_its_id(gateway: RunningGateway) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "X-User-Id": USER}
    body = {"model": "echo", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    with httpx.stream(
        "POST", f"{gateway.base_url}/chat/completions", json=body, headers=headers
    ) as response:
        assert response.headers["x-memory-cohort"] == "memory"
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    completion_id = orjson.loads(lines[0].removeprefix("data: "))["id"]
    rated = rate(gateway, {"id": completion_id, "rating": "up"})
    assert rated.status_code == 200, rated.text
    assert rated.json()["request_id"] == response.headers["x-request-id"]


def test_an_exchange_with_memory_off_is_not_part_of_the_comparison(gateway: RunningGateway) -> None:
    response = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": "Hi"}]},
        headers={"Authorization": f"Bearer {KEY}", "X-User-Id": USER, "X-Memory": "off"},
    )
    assert response.status_code == 200
    assert rate(gateway, {"id": response.json()["id"], "rating": "up"}).status_code == 404
