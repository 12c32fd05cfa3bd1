"""Restated facts and positive reactions, end to end: a real gateway in front of the scripted
mock (facts mode) or learning the user's own turns (turns mode), real embeddings, real Chroma."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.learning.outcomes import OUTCOMES_DB
from tests.learning.helpers import (
    CHAT_REPLY,
    USER,
    counter,
    facts_answer,
    learning_yaml,
    memories,
    scrape,
    wait_until,
)
from tests.support.gateway import KEY, RunningGateway, start_gateway
from tests.support.mock_upstream import RunningMock

RESTATED = "gateway_restated_facts_total"
REACTIONS = "gateway_positive_reactions_total"
FACT = "User keeps bees on the roof in Lisbon."


def personalization_yaml(tmp_path: Path, mock_base_url: str, **extraction: Any) -> str:
    """``learning_yaml`` whose key may force the cohort."""
    config = yaml.safe_load(learning_yaml(tmp_path, mock_base_url, **extraction))
    config["auth"]["keys"][0]["can_force_cohort"] = True
    return yaml.safe_dump(config)


def say(
    gateway: RunningGateway, text: str, *, cohort: str | None = None, budget: int | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {KEY}", "X-User-Id": USER}
    if cohort is not None:
        headers["X-Memory-Cohort"] = cohort
    if budget is not None:
        headers["X-Context-Budget"] = str(budget)
    body = {"model": "chat", "messages": [{"role": "user", "content": text}], "mock": CHAT_REPLY}
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    return response


def restated(gateway: RunningGateway, cohort: str, cause: str) -> float:
    return counter(scrape(gateway), RESTATED, cohort=cohort, cause=cause)


def jobs_done(gateway: RunningGateway, count: int) -> None:
    wait_until(
        lambda: counter(scrape(gateway), "gateway_extraction_jobs_total", outcome="done") >= count
    )


def row(tmp_path: Path, request_id: str) -> dict[str, Any]:
    with sqlite3.connect(tmp_path / "state" / OUTCOMES_DB) as db:
        db.row_factory = sqlite3.Row
        found = db.execute("SELECT * FROM exchanges WHERE request_id = ?", (request_id,))
        return dict(found.fetchone())


def test_facts_mode_counts_a_restated_fact_by_whether_it_was_injected(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = facts_answer((FACT, "fact"))
    with start_gateway(personalization_yaml(tmp_path, scripted.base_url)) as gateway:
        say(gateway, "I keep bees on my roof in Lisbon.")
        jobs_done(gateway, 1)
        assert [m["content"] for m in memories(gateway)] == [FACT]
        assert restated(gateway, "memory", "ignored") == 0

        # Injected, and the user still had to say it.
        ignored = say(gateway, "As I said, my bees live on my roof in Lisbon.")
        assert ignored.headers["x-memory-status"] == "ok"
        jobs_done(gateway, 2)
        assert restated(gateway, "memory", "ignored") == 1
        assert row(tmp_path, ignored.headers["x-request-id"])["ignored"] == 1

        # Not injected (no budget for it): a retrieval miss.
        missed = say(gateway, "My bees are on the roof, in Lisbon.", budget=0)
        assert missed.headers["x-memory-status"] == "empty"
        jobs_done(gateway, 3)
        assert restated(gateway, "memory", "retrieval_miss") == 1
        assert row(tmp_path, missed.headers["x-request-id"])["retrieval_miss"] == 1

        # The holdout was never given it.
        held = say(gateway, "Bees, roof, Lisbon: that is me.", cohort="holdout")
        assert held.headers["x-memory-status"] == "holdout"
        jobs_done(gateway, 4)
        assert restated(gateway, "holdout", "holdout") == 1
        assert row(tmp_path, held.headers["x-request-id"])["holdout"] == 1
        assert restated(gateway, "memory", "ignored") == 1
        # One memory, observed four times: nothing was added twice.
        [memory] = memories(gateway)
        assert memory["evidence"] == 4


def test_turns_mode_counts_restated_turns_and_thanks_without_storing_them(
    tmp_path: Path, scripted: RunningMock
) -> None:
    fact = "I keep bees on the roof of my flat in Lisbon."
    with start_gateway(personalization_yaml(tmp_path, scripted.base_url, mode="turns")) as gateway:
        say(gateway, fact)
        wait_until(lambda: memories(gateway))
        thanked = say(
            gateway, f"Thanks for remembering, I didn't have to explain that again. {fact}"
        )
        jobs_done(gateway, 2)
        samples = scrape(gateway)
        assert counter(samples, REACTIONS, cohort="memory") == 1
        assert counter(samples, RESTATED, cohort="memory", cause="ignored") == 1
        assert row(tmp_path, thanked.headers["x-request-id"])["reaction"] == 1
        # The thanks was neither stored nor kept anywhere.
        assert [m["content"] for m in memories(gateway)] == [fact]
        assert b"remembering" not in (tmp_path / "state" / OUTCOMES_DB).read_bytes()

        say(gateway, "Thank you for remembering!", cohort="holdout")
        jobs_done(gateway, 3)
        samples = scrape(gateway)
        assert counter(samples, REACTIONS, cohort="holdout") == 1
        assert [m["content"] for m in memories(gateway)] == [fact]
