"""Learning end to end through the HTTP API: a real gateway (in a thread) in front of the
scripted mock provider, real embeddings, real embedded Chroma."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import chromadb
import httpx
import orjson
import pytest
from chromadb.config import Settings

from gateway.store.chroma import USERS_COLLECTION
from tests.learning.helpers import (
    USER,
    chat,
    counter,
    facts_answer,
    learning_yaml,
    memories,
    scrape,
    wait_until,
)
from tests.support.gateway import KEY, RunningGateway, start_gateway
from tests.support.mock_upstream import RunningMock

JOBS = "gateway_extraction_jobs_total"
WRITTEN = "gateway_memories_written_total"


def finished(gateway: RunningGateway, jobs: int = 1, outcome: str = "done") -> None:
    """Wait until ``jobs`` jobs have ended with ``outcome``."""
    wait_until(lambda: counter(scrape(gateway), JOBS, outcome=outcome) >= jobs)


def extraction_requests(mock: RunningMock) -> list[dict[str, object]]:
    return [r.body for r in mock.state.requests if "mock" not in r.body]


def exchange_sent(request: dict[str, object]) -> dict[str, object]:
    """The exchange as the extraction model received it."""
    messages = request["messages"]
    assert isinstance(messages, list)
    data: dict[str, object] = orjson.loads(messages[1]["content"])
    return data


def contents(found: list[dict[str, object]]) -> list[object]:
    return sorted(m["content"] for m in found)


def journal_rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "state" / "extraction.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


def test_a_plain_exchange_becomes_memories_without_the_client_waiting(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = facts_answer(
        ("User keeps bees in Lisbon.", "fact"), ("User is a beekeeper.", "role"), delay_s=1.5
    )
    with start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway:
        started = time.monotonic()
        response = chat(
            gateway,
            [
                {"role": "system", "content": "You are HiveBot. Never reveal code HX-9."},
                {"role": "user", "content": "I keep bees in Lisbon. How do I winter them?"},
            ],
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "Happy to help."
        assert elapsed < 1.0  # the extraction model takes 1.5 s: the reply did not wait for it
        finished(gateway)
        found = memories(gateway)
        assert contents(found) == ["User is a beekeeper.", "User keeps bees in Lisbon."]
        assert {(m["source"], m["status"], m["evidence"]) for m in found} == {
            ("extracted", "active", 1)
        }
        [request] = extraction_requests(scripted)
        assert request["model"] == "mock-extractor"
        assert request["response_format"] == {"type": "json_object"}
        assert exchange_sent(request) == {
            "new_user_messages": ["I keep bees in Lisbon. How do I winter them?"],
            "earlier": [],
            "assistant_reply": "Happy to help.",
        }
        assert "HX-9" not in orjson.dumps(request).decode()  # never the system prompt
        samples = scrape(gateway)
        assert counter(samples, JOBS, outcome="done") == 1
        assert counter(samples, WRITTEN, action="add") == 2


def test_a_streamed_exchange_is_learned_from_too(tmp_path: Path, scripted: RunningMock) -> None:
    scripted.state.script_default = facts_answer(("User is training for a marathon.", "fact"))
    with start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway:
        response = chat(gateway, "I'm training for my first marathon!", stream=True)
        assert response.status_code == 200
        assert response.text.rstrip().endswith("data: [DONE]")
        found = wait_until(lambda: memories(gateway))
        assert contents(found) == ["User is training for a marathon."]
        [request] = extraction_requests(scripted)
        assert exchange_sent(request)["assistant_reply"] == "Happy to help."  # seen passing by


def test_a_later_exchange_reinforces_instead_of_repeating(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = facts_answer(("User is vegetarian.", "fact"))
    with start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway:
        assert chat(gateway, "I'm vegetarian, any dinner ideas?").status_code == 200
        wait_until(lambda: memories(gateway))
        scripted.state.script_default = facts_answer(("User is a vegetarian.", "fact"))
        history = [
            {"role": "user", "content": "I'm vegetarian, any dinner ideas?"},
            {"role": "assistant", "content": "Try a lentil curry."},
            {"role": "user", "content": "As a vegetarian, what about lunch?"},
        ]
        assert chat(gateway, history).status_code == 200
        [memory] = wait_until(lambda: [m for m in memories(gateway) if m["evidence"] == 2] or None)
        assert memory["content"] == "User is vegetarian."
        second = extraction_requests(scripted)[1]
        assert exchange_sent(second)["new_user_messages"] == ["As a vegetarian, what about lunch?"]


@pytest.mark.parametrize("mode", ["read-only", "off"])
def test_opting_out_stores_nothing_and_asks_no_model(
    tmp_path: Path, scripted: RunningMock, mode: str
) -> None:
    scripted.state.script_default = facts_answer(("User keeps bees in Lisbon.", "fact"))
    with start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway:
        assert chat(gateway, "I keep bees in Lisbon.", memory=mode).status_code == 200
        assert chat(gateway, "I keep bees in Lisbon.", user=None).status_code == 200
        # A learning exchange of another user, as a barrier: once it is stored, the worker has
        # had every chance to process anything the opted-out requests might have queued.
        assert chat(gateway, "I keep bees too.", user="bob").status_code == 200
        wait_until(lambda: memories(gateway, user="bob"))
        assert memories(gateway) == []
        assert len(extraction_requests(scripted)) == 1
        assert journal_rows(tmp_path) == 0


def test_personal_data_never_reaches_the_store(tmp_path: Path, scripted: RunningMock) -> None:
    secrets = [
        "ana.silva@example.com",
        "+351 912 345 678",
        "912 345 678",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "078-05-1120",
        "hunter2-Pa55",
    ]
    scripted.state.script_default = facts_answer(
        ("User's email is ana.silva@example.com", "email"),
        ("User's card is 4111 1111 1111 1111", "payment_card"),
        ("User's password is hunter2-Pa55", "password"),
        ("User's API key is sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678", "credentials"),
        ("User runs a bakery; reach them at ana.silva@example.com or +351 912 345 678", "role"),
        ("User's IBAN is DE89 3704 0044 0532 0130 00 and they bank with N26", "fact"),
        ("User deploys with the token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "role"),
        ("User's SSN is 078-05-1120", "general"),
        ("User keeps bees in Lisbon.", "fact"),
    )
    message = (
        "I'm Ana (ana.silva@example.com, +351 912 345 678), I keep bees in Lisbon. "
        "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, SSN 078-05-1120, "
        "my password is hunter2-Pa55 and my key sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678"
    )
    with start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway:
        assert chat(gateway, message).status_code == 200
        finished(gateway)
        found = memories(gateway)
        assert contents(found) == [
            "User deploys with the token [secret]",
            "User keeps bees in Lisbon.",
            "User runs a bakery; reach them at [email] or [phone]",
            "User's IBAN is [iban] and they bank with N26",
        ]
        export = httpx.get(
            f"{gateway.url}/v1/users/{USER}/memories/export",
            headers={"Authorization": f"Bearer {KEY}"},
        ).text
        samples = scrape(gateway)
        [request] = extraction_requests(scripted)
    assert counter(samples, WRITTEN, action="blocked") == 5
    seen_by_model = orjson.dumps(request).decode()
    client = chromadb.PersistentClient(
        path=str(tmp_path / "chroma"),
        settings=Settings(anonymized_telemetry=False, allow_reset=False),
    )
    stored = {
        collection.name: collection.get(include=["documents"])["documents"] or []
        for collection in client.list_collections()
    }
    # The user directory (GET /v1/users) names the user; every other document is a memory.
    assert stored[USERS_COLLECTION] == [USER]
    documents = [document for found in stored.values() for document in found]
    assert len(documents) == 4 + 1
    for secret in secrets:
        assert secret not in export
        assert secret not in seen_by_model
        assert all(secret not in document for document in documents)


def test_invalid_json_is_retried_once_then_counted(tmp_path: Path, scripted: RunningMock) -> None:
    garbage = {"mode": "json", "content": "Sure! The user keeps bees."}
    scripted.state.script.extend(
        [garbage, garbage, garbage, facts_answer(("User keeps bees.", "fact"))]
    )
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, concurrency=1)) as gateway:
        assert chat(gateway, "I keep bees.").status_code == 200
        wait_until(lambda: counter(scrape(gateway), JOBS, outcome="invalid_json") == 1)
        assert memories(gateway) == []
        assert len(extraction_requests(scripted)) == 2
        # The next job's first answer is garbage too, its retry is not.
        assert chat(gateway, "I keep bees, really.").status_code == 200
        wait_until(lambda: memories(gateway))
        samples = scrape(gateway)
        assert counter(samples, JOBS, outcome="retried") == 2
        assert counter(samples, JOBS, outcome="done") == 1
        assert journal_rows(tmp_path) == 0


def test_provider_errors_are_retried_with_backoff(tmp_path: Path, scripted: RunningMock) -> None:
    scripted.state.script.extend(
        [
            {"mode": "fail", "status": 500},
            {"mode": "fail", "status": 429},
            {"mode": "fail", "status": 502},
        ]
    )
    scripted.state.script_default = facts_answer(("User keeps bees.", "fact"))
    with start_gateway(learning_yaml(tmp_path, scripted.base_url)) as gateway:
        assert chat(gateway, "I keep bees.").status_code == 200
        found = wait_until(lambda: memories(gateway))
        assert contents(found) == ["User keeps bees."]
        samples = scrape(gateway)
        assert counter(samples, JOBS, outcome="retried") == 3
        assert counter(samples, JOBS, outcome="done") == 1
        assert len(extraction_requests(scripted)) == 4


def test_a_job_that_keeps_failing_is_given_up_after_max_attempts(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = {"mode": "fail", "status": 503}
    yaml_text = learning_yaml(tmp_path, scripted.base_url, max_attempts=3)
    with start_gateway(yaml_text) as gateway:
        assert chat(gateway, "I keep bees.").status_code == 200
        wait_until(lambda: counter(scrape(gateway), JOBS, outcome="failed") == 1)
        assert len(extraction_requests(scripted)) == 3
        assert counter(scrape(gateway), JOBS, outcome="retried") == 2
        assert journal_rows(tmp_path) == 0


def test_a_full_backlog_drops_learning_never_replies(tmp_path: Path, scripted: RunningMock) -> None:
    scripted.state.script_default = facts_answer(("User keeps bees.", "fact"), delay_s=1.0)
    yaml_text = learning_yaml(tmp_path, scripted.base_url, max_backlog=2, concurrency=1)
    with start_gateway(yaml_text) as gateway:
        statuses = [chat(gateway, f"I keep {n} hives.").status_code for n in range(5)]
        assert statuses == [200] * 5
        samples = scrape(gateway)
        assert counter(samples, JOBS, outcome="dropped") == 3
        assert counter(samples, "gateway_extraction_queue_depth") == 2
        wait_until(lambda: counter(scrape(gateway), JOBS, outcome="done") == 2, timeout=30)
        wait_until(lambda: counter(scrape(gateway), "gateway_extraction_queue_depth") == 0)


def test_shutdown_drains_the_queue_within_its_deadline(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = facts_answer(("User keeps bees.", "fact"), delay_s=0.5)
    yaml_text = learning_yaml(tmp_path, scripted.base_url, drain_timeout_s=20)
    with start_gateway(yaml_text) as gateway:
        for user in ("u1", "u2", "u3"):
            assert chat(gateway, "I keep bees.", user=user).status_code == 200
    assert journal_rows(tmp_path) == 0
    scripted.state.script_default = None
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, enabled=False)) as gateway:
        for user in ("u1", "u2", "u3"):
            assert contents(memories(gateway, user=user)) == ["User keeps bees."]


def test_what_the_deadline_leaves_is_done_at_the_next_start(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script.append(facts_answer(("User keeps bees.", "fact"), delay_s=5))
    scripted.state.script_default = facts_answer(("User keeps bees.", "fact"))
    yaml_text = learning_yaml(tmp_path, scripted.base_url, drain_timeout_s=0.3)
    with start_gateway(yaml_text) as gateway:
        assert chat(gateway, "I keep bees.").status_code == 200
        wait_until(lambda: extraction_requests(scripted))
        stopped = time.monotonic()
    assert time.monotonic() - stopped < 4  # did not wait for the 5 s answer
    assert journal_rows(tmp_path) == 1
    with start_gateway(yaml_text) as gateway:
        assert contents(wait_until(lambda: memories(gateway))) == ["User keeps bees."]


def test_erasing_a_user_also_cancels_their_queued_learning(
    tmp_path: Path, scripted: RunningMock
) -> None:
    scripted.state.script_default = facts_answer(("User keeps bees.", "fact"), delay_s=1.0)
    yaml_text = learning_yaml(tmp_path, scripted.base_url, concurrency=1)
    with start_gateway(yaml_text) as gateway:
        assert chat(gateway, "I keep bees.").status_code == 200
        assert chat(gateway, "I keep more bees.").status_code == 200
        wait_until(lambda: extraction_requests(scripted))  # the first job is in flight
        erased = httpx.delete(
            f"{gateway.url}/v1/users/{USER}/memories", headers={"Authorization": f"Bearer {KEY}"}
        )
        assert erased.status_code == 200
        assert journal_rows(tmp_path) == 0
        wait_until(lambda: counter(scrape(gateway), JOBS, outcome="dropped") == 1)
        assert memories(gateway) == []
        assert len(extraction_requests(scripted)) == 1
        # Learning goes on for what the user says afterwards.
        scripted.state.script_default = facts_answer(("User keeps wasps.", "fact"))
        assert chat(gateway, "I keep wasps now.").status_code == 200
        assert contents(wait_until(lambda: memories(gateway))) == ["User keeps wasps."]


def test_turns_mode_stores_the_users_words_without_a_model(
    tmp_path: Path, scripted: RunningMock
) -> None:
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, mode="turns")) as gateway:
        assert (
            chat(gateway, "Note for later: I keep bees, mail me at ana@example.com").status_code
            == 200
        )
        found = wait_until(lambda: memories(gateway))
        assert [(m["content"], m["category"]) for m in found] == [
            ("Note for later: I keep bees, mail me at [email]", "general")
        ]
        assert extraction_requests(scripted) == []


def test_turns_mode_does_not_store_greetings_or_bare_questions(
    tmp_path: Path, scripted: RunningMock
) -> None:
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, mode="turns")) as gateway:
        for turn in ("Hi", "Where do I live?", "I live in Lisbon"):
            assert chat(gateway, turn).status_code == 200
        finished(gateway, jobs=3)
        assert contents(memories(gateway)) == ["I live in Lisbon"]
        samples = scrape(gateway)
        skipped = "gateway_learning_turns_skipped_total"
        assert counter(samples, skipped, reason="greeting") == 1
        assert counter(samples, skipped, reason="question") == 1


def test_without_an_extraction_model_fact_learning_is_off(
    tmp_path: Path, scripted: RunningMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.learning.service")
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, model=None)) as gateway:
        assert chat(gateway, "I keep bees.").status_code == 200
        time.sleep(0.5)
        assert memories(gateway) == []
    assert extraction_requests(scripted) == []
    assert not (tmp_path / "state" / "extraction.sqlite3").exists()
    assert "extraction.model is not set" in caplog.text


@pytest.mark.parametrize(("setting", "value"), [("mode", "off"), ("enabled", False)])
def test_switched_off_nothing_is_journaled(
    tmp_path: Path, scripted: RunningMock, setting: str, value: object
) -> None:
    with start_gateway(learning_yaml(tmp_path, scripted.base_url, **{setting: value})) as gateway:
        assert chat(gateway, "I keep bees.").status_code == 200
    assert extraction_requests(scripted) == []
    assert not (tmp_path / "state" / "extraction.sqlite3").exists()
