from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.eval import live
from bench.eval.client import GatewayCallFailed, GatewayClient, system_text
from bench.eval.run_eval import (
    SETS,
    Outcome,
    build_parser,
    chosen_sets,
    evaluate_conversation,
    format_table,
    memories_of,
    read_dataset,
    summary_rows,
)
from tests.bench.samples import LOCOMO_SAMPLE, small_conversation

KEY = "sk-eval-test"


@dataclass
class StandIn:
    """A gateway stand-in: stores memories, and injects those sharing words with the question.

    It allows one memory per 500 tokens of budget, best word overlap first, so what lands at
    each budget is known in advance. It records every call it gets.
    """

    fail_chat: bool = False
    no_memory_api: bool = False
    #: Whether learning chats teach it anything (a gateway whose extraction is off does not).
    learns: bool = True
    memories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    asked: list[tuple[str, int, str]] = field(default_factory=list)
    #: X-Memory of every question: anything but read-only would let the gateway learn them.
    memory_modes: set[str | None] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    #: The messages of every learning chat, and its X-Session-Id.
    chats: list[tuple[list[dict[str, str]], str | None]] = field(default_factory=list)
    #: Learning jobs not done yet: one is done per GET /metrics, as a slow worker would.
    pending: list[tuple[str, str]] = field(default_factory=list)
    finished: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        if request.url.path == "/metrics":
            return self._metrics()
        if match := re.fullmatch(r"/v1/users/([^/]+)/memories", request.url.path):
            if self.no_memory_api:
                return httpx.Response(404, json={"error": {"message": "No endpoint"}})
            return self._memories(request, match[1])
        assert request.url.path == "/v1/chat/completions"
        return self._chat(request)

    def _memories(self, request: httpx.Request, user: str) -> httpx.Response:
        if request.method == "DELETE":
            self.deleted.append(user)
            self.memories.pop(user, None)
            return httpx.Response(200, json={"deleted": True})
        if request.method == "GET":
            return httpx.Response(200, json={"total": len(self.memories.get(user, []))})
        batch = json.loads(request.content)["memories"]
        self.batches.append(len(batch))
        self.memories.setdefault(user, []).extend(batch)
        return httpx.Response(200, json={"added": len(batch)})

    def _chat(self, request: httpx.Request) -> httpx.Response:
        if self.fail_chat:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        user = request.headers["x-user-id"]
        if request.headers.get("x-memory", "on") == "on":
            return self._learn(request, user)
        assert not self.pending, "asked before learning had drained"
        budget = int(request.headers["x-context-budget"])
        mode = request.headers["x-retrieval-mode"]
        self.asked.append((user, budget, mode))
        self.memory_modes.add(request.headers.get("x-memory"))
        body = json.loads(request.content)
        assert body["model"] == "echo"
        question = body["messages"][0]["content"]
        words = set(re.findall(r"\w+", question.lower()))

        def overlap(memory: dict[str, Any]) -> int:
            return len(words & set(re.findall(r"\w+", memory["content"].lower())))

        ranked = sorted(self.memories[user], key=overlap, reverse=True)
        chosen = [m for m in ranked if overlap(m) > 1][: budget // 500]
        lines = [f"- [{m['created_at'][:10]}] {m['content']}" for m in chosen]
        block = "<memory>\n## fact\n" + "\n".join(lines) + "\n</memory>"
        echoed = [{"role": "system", "content": block}, *body["messages"]]
        message = {"role": "assistant", "content": json.dumps(echoed)}
        return httpx.Response(200, json={"choices": [{"index": 0, "message": message}]})

    def _learn(self, request: httpx.Request, user: str) -> httpx.Response:
        messages = json.loads(request.content)["messages"]
        self.chats.append((messages, request.headers.get("x-session-id")))
        assert messages[-1]["role"] == "user"
        self.pending.append((user, messages[-1]["content"]))
        echoed = {"role": "assistant", "content": json.dumps(messages)}
        return httpx.Response(200, json={"choices": [{"index": 0, "message": echoed}]})

    def _metrics(self) -> httpx.Response:
        if self.pending:
            user, text = self.pending.pop(0)
            memory = {"content": text, "created_at": "2026-12-05T00:00:00Z"}
            if self.learns:
                self.memories.setdefault(user, []).append(memory)
            self.finished += 1
        lines = [
            f'gateway_extraction_jobs_total{{outcome="done"}} {self.finished}.0',
            'gateway_extraction_jobs_total{outcome="retried"} 7.0',
        ]
        return httpx.Response(200, text="\n".join(lines) + "\n")


def test_turns_become_dated_fact_memories_with_their_turn_id() -> None:
    memories = memories_of(small_conversation())
    assert memories[0] == {
        "content": "Maya: We adopted a grey cat called Pepper.",
        "category": "fact",
        "created_at": "2023-03-10T18:00:00Z",
        "metadata": {"turn_id": "c9:s1:t1"},
    }
    assert memories[3]["created_at"] == "2023-03-11T18:00:00Z"
    assert len(memories) == 6


@pytest.mark.asyncio
async def test_a_conversation_is_ingested_asked_scored_and_forgotten() -> None:
    stand_in = StandIn()
    transport = httpx.MockTransport(stand_in)
    async with GatewayClient("http://gateway.test", KEY, transport=transport) as client:
        outcomes = await evaluate_conversation(
            client, small_conversation(), "n0nce", (500, 1000), ("hybrid", "dense"), concurrency=2
        )
    assert stand_in.batches == [6]
    assert stand_in.deleted == ["eval-c9-n0nce"]
    assert stand_in.memories == {}
    assert stand_in.memory_modes == {"read-only"}
    assert sorted(stand_in.asked) == sorted(
        ("eval-c9-n0nce", budget, mode)
        for _ in range(2)
        for budget in (500, 1000)
        for mode in ("hybrid", "dense")
    )
    landed = {(o.question_id, o.mode, o.budget): o.landed for o in outcomes}
    # One memory fits in 500 tokens, two in 1000: the cat question needs both of its turns.
    assert landed["c9:q1", "hybrid", 500] == ("c9:s1:t1",)
    assert landed["c9:q1", "dense", 1000] == ("c9:s1:t1", "c9:s1:t2")
    assert landed["c9:q2", "hybrid", 500] == ("c9:s2:t1",)


@pytest.mark.asyncio
async def test_large_conversations_are_ingested_in_batches_of_a_thousand() -> None:
    stand_in = StandIn()
    transport = httpx.MockTransport(stand_in)
    async with GatewayClient("http://gateway.test", KEY, transport=transport) as client:
        await evaluate_conversation(client, small_conversation(2346), "n", (500,), ("dense",), 4)
    assert stand_in.batches == [1000, 1000, 346]


@pytest.mark.asyncio
async def test_memories_are_deleted_even_when_a_question_fails() -> None:
    stand_in = StandIn(fail_chat=True)
    transport = httpx.MockTransport(stand_in)
    async with GatewayClient("http://gateway.test", KEY, transport=transport) as client:
        with pytest.raises(GatewayCallFailed, match="HTTP 500"):
            await evaluate_conversation(client, small_conversation(), "n", (500,), ("hybrid",), 1)
    assert stand_in.deleted == ["eval-c9-n"]


@pytest.mark.asyncio
async def test_a_failed_clean_up_does_not_hide_the_error_that_stopped_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    transport = httpx.MockTransport(StandIn(no_memory_api=True))
    async with GatewayClient("http://gateway.test", KEY, transport=transport) as client:
        with pytest.raises(GatewayCallFailed, match="adding memories failed: HTTP 404"):
            await evaluate_conversation(client, small_conversation(), "n", (500,), ("dense",), 1)
    assert "c9: clean-up failed (deleting memories failed: HTTP 404)" in capsys.readouterr().err


def test_the_system_text_is_read_from_the_echoed_messages() -> None:
    echoed = [
        {"role": "system", "content": "first"},
        {"role": "system", "content": [{"type": "text", "text": "second"}]},
        {"role": "user", "content": "question"},
    ]
    completion = {"choices": [{"message": {"content": json.dumps(echoed)}}]}
    assert system_text(completion) == "first\nsecond"


def test_an_answer_that_is_not_an_echo_is_an_error() -> None:
    with pytest.raises(GatewayCallFailed):
        system_text({"choices": [{"message": {"content": "Hello! How can I help?"}}]})


def test_rows_summarise_each_mode_and_budget() -> None:
    outcomes = [
        Outcome("q1", "single-hop", "hybrid", 500, ("a",), ("a",)),
        Outcome("q2", "multi-hop", "hybrid", 500, ("b", "c"), ()),
        Outcome("q3", "adversarial", "hybrid", 500, ("d",), ()),
        Outcome("q1", "single-hop", "dense", 500, ("a",), (), "degraded"),
    ]
    rows = summary_rows(outcomes)
    assert [(r["mode"], r["budget"]) for r in rows] == [("hybrid", 500), ("dense", 500)]
    hybrid = rows[0]
    assert hybrid["questions"] == 2  # adversarial is reported on its own
    assert hybrid["macro"] == pytest.approx(0.5)
    assert hybrid["micro"] == pytest.approx(1 / 3)
    assert hybrid["by_kind"]["adversarial"]["macro"] == 0.0
    assert (hybrid["degraded"], rows[1]["degraded"]) == (0, 1)
    table = format_table(rows).splitlines()
    assert table[0].split() == [
        "set", "ingest", "mode", "budget", "n", "degraded", "macro", "micro", "adversarial",
        "multi-hop", "single-hop",
    ]  # fmt: skip
    assert table[2].split() == [
        "dev", "batch", "dense", "500", "1", "1", "0.000", "0.000", "-", "-", "0.000"
    ]  # fmt: skip


def test_a_locomo_file_is_recognised_and_converted(tmp_path: Path) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([LOCOMO_SAMPLE]), encoding="utf-8")
    dataset = read_dataset(path)
    assert dataset["conversations"][0]["id"] == "demo-1"
    assert dataset["conversations"][0]["sessions"][0]["turns"][0]["id"] == "D2:1"


def test_our_own_layout_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "ours.json"
    path.write_text(json.dumps({"version": 1, "conversations": [small_conversation()]}))
    assert read_dataset(path)["conversations"][0]["id"] == "c9"


@pytest.mark.asyncio
@pytest.mark.parametrize("sessions", ["prefix", "header"])
async def test_live_ingestion_chats_turn_by_turn_and_scores_what_the_user_said(
    sessions: live.Sessions,
) -> None:
    stand_in = StandIn()
    transport = httpx.MockTransport(stand_in)
    async with GatewayClient("http://gateway.test", KEY, transport=transport) as client:
        outcomes = await evaluate_conversation(
            client, small_conversation(), "n", (500,), ("hybrid",), 1, ingest="live",
            sessions=sessions,
        )  # fmt: skip
    # Maya (the first speaker) is the user: one chat per run of her turns, each carrying the
    # session's history, Tom's turns as the assistant's.
    first, second, third, fourth = (messages for messages, _ in stand_in.chats)
    assert first == [
        {"role": "system", "content": "Today is 2023-03-10T18:00:00Z."},
        {"role": "user", "content": "We adopted a grey cat called Pepper."},
    ]
    assert second[:2] == first
    assert [m["role"] for m in second[2:]] == ["assistant", "user"]
    assert third[0]["content"] == "Today is 2023-03-11T18:00:00Z." and fourth[:2] == third[:2]
    named = [session for _, session in stand_in.chats]
    if sessions == "header":
        assert named == ["c9:s1", "c9:s1", "c9:s2", "c9:s2"]
    else:
        assert named == [None] * 4
    # Only the Porto question's evidence was all Maya's; the cat question needs Tom's turn too.
    [outcome] = outcomes
    assert (outcome.question_id, outcome.ingest, outcome.user_said) == ("c9:q2", "live", True)
    assert outcome.landed == ("c9:s2:t1",)
    assert stand_in.finished == 4 and stand_in.deleted == ["eval-c9-n-live"]


@pytest.mark.asyncio
async def test_a_gateway_that_learns_nothing_from_live_traffic_is_an_error() -> None:
    transport = httpx.MockTransport(StandIn(learns=False))
    async with GatewayClient("http://gateway.test", KEY, transport=transport) as client:
        with pytest.raises(GatewayCallFailed, match="learned nothing"):
            await evaluate_conversation(
                client, small_conversation(), "n", (500,), ("hybrid",), 1, ingest="live"
            )


def test_with_both_ingestions_batch_is_also_scored_on_the_live_questions() -> None:
    outcomes = [
        Outcome("q1", "single-hop", "hybrid", 500, ("a",), ("a",), user_said=True),
        Outcome("q2", "multi-hop", "hybrid", 500, ("b",), (), user_said=False),
        Outcome("q1", "single-hop", "hybrid", 500, ("a",), (), ingest="live", user_said=True),
    ]
    rows = summary_rows(outcomes)
    assert [(r["ingest"], r["questions"], r["macro"]) for r in rows] == [
        ("batch", 2, 0.5),
        ("live", 1, 0.0),
        ("batch/user", 1, 1.0),
    ]
    assert format_table(rows).splitlines()[3].split()[1:3] == ["batch/user", "hybrid"]


def test_sets_are_reported_side_by_side_each_with_its_own_rows() -> None:
    outcomes = [
        Outcome("q1", "single-hop", "hybrid", 500, ("a",), ("a",)),
        Outcome("q1", "open-domain", "hybrid", 500, ("b",), (), dataset="validation"),
        Outcome("q2", "open-domain", "hybrid", 500, ("c",), ("c",), dataset="validation"),
    ]
    rows = summary_rows(outcomes)
    assert [(r["set"], r["questions"], r["macro"]) for r in rows] == [
        ("dev", 1, 1.0),
        ("validation", 2, 0.5),
    ]
    table = format_table(rows).splitlines()
    assert [line.split()[:2] for line in table[1:]] == [["dev", "batch"], ["validation", "batch"]]


def test_sets_are_named_or_given_as_paths_and_a_dataset_is_one_set(tmp_path: Path) -> None:
    parse = build_parser().parse_args
    assert chosen_sets(parse(["--key", KEY])) == {"dev": SETS["dev"]}
    both = chosen_sets(parse(["--key", KEY, "--sets", f"dev,validation,{tmp_path / 'x.json'}"]))
    assert both == {**SETS, str(tmp_path / "x.json"): tmp_path / "x.json"}
    assert SETS["validation"].name == "validation.json" and SETS["validation"].exists()
    one = chosen_sets(parse(["--key", KEY, "--dataset", str(tmp_path / "locomo10.json")]))
    assert one == {"locomo10": tmp_path / "locomo10.json"}
