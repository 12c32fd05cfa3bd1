"""Stage 7 over a real journal: what a finished exchange leaves behind for the workers, and that
handing it over never fails the reply."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.learning.handoff import JournalHandoff
from gateway.learning.journal import Journal, new_owner
from gateway.learning.outcomes import decode_exchange
from gateway.learning.transcript import Transcript
from gateway.observability import Metrics
from gateway.store.records import Scope
from gateway.types import ChatRequest, ExchangeRef, Identity, MemoryMode
from tests.learning.helpers import metric_value

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "I moved to Porto last spring."},
]
DROPPED = {"outcome": "dropped"}


class Calls:
    def __init__(self) -> None:
        self.chats = 0
        self.jobs = 0

    def chat(self) -> None:
        self.chats += 1

    def job(self) -> None:
        self.jobs += 1


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(tmp_path / "extraction.sqlite3", owner=new_owner(), max_backlog=1)
    yield opened
    opened.close()


def chat(messages: list[dict[str, Any]]) -> ChatRequest:
    body = {"model": "chat", "messages": messages}
    return ChatRequest(body, "chat", messages, stream=False, include_usage=False, user=None)


def handoff(journal: Journal, metrics: Metrics, calls: Calls) -> JournalHandoff:
    return JournalHandoff(journal, metrics, on_chat=calls.chat, on_job=calls.job)


def identity(user: str | None = "alice", mode: MemoryMode = "on") -> Identity:
    return Identity("acme", user, mode)


@pytest.mark.asyncio
async def test_an_exchange_becomes_one_job_of_the_user_with_its_transcript_and_exchange(
    journal: Journal,
) -> None:
    calls, metrics = Calls(), Metrics(model_names=["chat"])
    exchange = ExchangeRef("req_1", "memory", ("m1",))
    handoff(journal, metrics, calls).submit(identity(), chat(MESSAGES), "Noted!", exchange)
    assert (calls.chats, calls.jobs) == (1, 1)
    job = await journal.call(journal.claim, 1e12, 30.0)
    assert job is not None and job.scope == Scope("acme", "alice")
    transcript = Transcript.decode(job.transcript)
    assert transcript.new == ("I moved to Porto last spring.",)
    assert transcript.reply == "Noted!"
    assert job.exchange is not None and decode_exchange(job.exchange) == exchange


@pytest.mark.parametrize(
    ("who", "messages"),
    [
        (identity(mode="read-only"), MESSAGES),
        (identity(mode="off"), MESSAGES),
        (identity(user=None), MESSAGES),
        (identity(), [{"role": "user", "content": "  "}]),  # nothing new said
    ],
)
def test_nothing_is_journaled_when_there_is_nothing_to_learn_but_the_chat_counts(
    journal: Journal, who: Identity, messages: list[dict[str, Any]]
) -> None:
    calls, metrics = Calls(), Metrics(model_names=["chat"])
    handoff(journal, metrics, calls).submit(who, chat(messages), "Hi.")
    assert (calls.chats, calls.jobs) == (1, 0)
    assert journal.depth() == 0
    assert metric_value(metrics, "gateway_extraction_jobs_total", **DROPPED) == 0


def test_a_full_backlog_drops_the_exchange_and_counts_it(journal: Journal) -> None:
    calls, metrics = Calls(), Metrics(model_names=["chat"])
    learning = handoff(journal, metrics, calls)
    learning.submit(identity(), chat(MESSAGES), "Noted!")
    learning.submit(identity(), chat(MESSAGES), "Noted again!")
    assert journal.depth() == 1
    assert (calls.chats, calls.jobs) == (2, 1)
    assert metric_value(metrics, "gateway_extraction_jobs_total", **DROPPED) == 1


def test_a_journal_that_cannot_be_written_costs_the_learning_not_the_reply(
    journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    calls, metrics = Calls(), Metrics(model_names=["chat"])
    journal.close()  # every write now raises an sqlite3 error
    handoff(journal, metrics, calls).submit(identity(), chat(MESSAGES), "Noted!")
    assert calls.jobs == 0
    assert metric_value(metrics, "gateway_extraction_jobs_total", **DROPPED) == 1
    assert "journal write failed" in caplog.text
    assert "Porto" not in caplog.text
