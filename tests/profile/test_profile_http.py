"""The profile through HTTP, in ``turns`` mode with no LLM: a real gateway on loopback, the echo
model (which answers with what it was sent, memory block included), real embeddings and a real
embedded Chroma."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from gateway.config import GatewayConfig
from gateway.tokens import TokenCounter
from tests.learning.helpers import (
    USER,
    counter,
    facts_answer,
    learning_yaml,
    memories,
    scrape,
    wait_until,
)
from tests.learning.helpers import chat as learning_chat
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway, gateway_in_thread, start_gateway
from tests.support.memory import MemoryClient, memory_block, memory_config
from tests.support.mock_upstream import mock_provider

ENGINEER_TURNS = [
    "Our webhook payload fails JSON schema validation at the API endpoint. Be more concise.",
    "The retry logic hits the rate limit, HTTP 429 on every call. Keep it short please.",
    "Traceback shows a KeyError in handler.py when the token expires. Shorter answers please.",
]
CONCISE = "Keep answers short: lead with the answer, skip the background."
TECHNICAL = "This user is technically proficient"


def config(tmp_path: Path, **sections: Any) -> GatewayConfig:
    return memory_config(
        tmp_path,
        extraction={"mode": "turns", "poll_interval_s": 0.05, "busy_share": 1.0},
        **sections,
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    tenants = {"globex": {"context": {"tone": "formal", "compliance": ["Never promise refunds."]}}}
    with gateway_in_thread(config(tmp_path, tenants=tenants)) as running:
        yield running


def chat(
    gateway: RunningGateway,
    user: str,
    text: str,
    *,
    key: str = KEY,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {key}", "X-User-Id": user, **(headers or {})},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response


def block_of(response: httpx.Response) -> str:
    received = orjson.loads(response.json()["choices"][0]["message"]["content"])
    return memory_block(received)


def section(block: str, name: str) -> str:
    """One ``## name`` section of the block, heading included ('' when absent)."""
    start = block.find(f"## {name}\n")
    if start < 0:
        return ""
    end = block.find("\n## ", start + 1)
    return block[start : end if end >= 0 else len(block)]


def learned(gateway: RunningGateway, jobs: int) -> None:
    wait_until(
        lambda: counter(scrape(gateway), "gateway_extraction_jobs_total", outcome="done") >= jobs,
        timeout=60,
    )


def profile(gateway: RunningGateway, user: str, key: str = KEY) -> dict[str, Any]:
    response = httpx.get(
        f"{gateway.url}/v1/users/{user}/profile",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def patch(
    gateway: RunningGateway, user: str, fields: dict[str, Any], method: str = "PATCH"
) -> httpx.Response:
    return httpx.request(
        method,
        f"{gateway.url}/v1/users/{user}/profile",
        json={"fields": fields},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )


def test_an_engineer_who_asks_three_times_for_short_answers_gets_told_so(
    gateway: RunningGateway,
) -> None:
    for turn in ENGINEER_TURNS:
        chat(gateway, "eng", turn)
    learned(gateway, 3)
    fields = profile(gateway, "eng")["fields"]
    assert fields["brevity"]["value"] == "concise"
    assert fields["brevity"]["source"] == "inferred"
    assert fields["brevity"]["evidence"] == 3
    assert fields["expertise"]["value"] == "technical"
    response = chat(gateway, "eng", "How do I rotate the signing key?")
    assert response.headers["x-memory-profile"] == "applied"
    block = block_of(response)
    assert "## profile" in block
    assert CONCISE in block and TECHNICAL in block
    # The profile comes before every memory.
    assert block.index("## profile") < block.index("## general")
    # X-Personalization: off leaves it out of one request, and only that one.
    off = chat(
        gateway, "eng", "How do I rotate the signing key?", headers={"X-Personalization": "off"}
    )
    assert off.headers["x-memory-profile"] == "none"
    assert "## profile" not in block_of(off)
    metrics = scrape(gateway)
    assert (
        counter(metrics, "gateway_profile_fields_set_total", field="brevity", source="inferred")
        == 1
    )


def test_a_user_who_asks_once_is_not_told_anything(gateway: RunningGateway) -> None:
    chat(gateway, "hurried", "Just give me the answer, I'm in a hurry: how do I export a report?")
    chat(gateway, "hurried", "Where do I find the billing settings in the dashboard?")
    chat(gateway, "hurried", "Can the dashboard send the report to my team every Monday?")
    learned(gateway, 3)
    body = profile(gateway, "hurried")
    assert "brevity" not in body["fields"]
    block = block_of(chat(gateway, "hurried", "And how do I change the report's filters?"))
    assert CONCISE not in block


def test_an_operator_set_field_survives_contrary_signals(gateway: RunningGateway) -> None:
    response = patch(gateway, "ops", {"brevity": "thorough", "stack": ["python", "postgres"]})
    assert response.status_code == 200, response.text
    assert response.json()["fields"]["brevity"]["source"] == "set"
    for turn in ENGINEER_TURNS:
        chat(gateway, "ops", turn)
    learned(gateway, 3)
    fields = profile(gateway, "ops")["fields"]
    assert fields["brevity"] == {**fields["brevity"], "value": "thorough", "source": "set"}
    block = block_of(chat(gateway, "ops", "Any news?"))
    assert "Explain the reasoning and the steps in full." in block
    assert "The user works with: python, postgres." in block
    assert CONCISE not in block


def test_a_tenants_formal_tone_overrides_a_users_casual_one(gateway: RunningGateway) -> None:
    for turn in ("You can be casual with me!", "Feel free to be casual.", "Casual is fine, mate."):
        chat(gateway, "pat", turn, key=OTHER_KEY)
    learned(gateway, 3)
    assert profile(gateway, "pat", OTHER_KEY)["fields"]["tone"]["value"] == "casual"
    block = block_of(chat(gateway, "pat", "hello again", key=OTHER_KEY))
    tone = section(block, "profile")
    assert "Use a formal, professional tone." in tone
    assert "casual" not in tone.lower()
    assert "compliance rules and tone take precedence" in tone
    # Compliance first, then the profile, then the rest.
    assert block.index("## compliance") < block.index("## profile") < block.index("## organization")


def test_the_profile_api_sets_clears_replaces_and_deletes(gateway: RunningGateway) -> None:
    assert profile(gateway, "api") == {
        "object": "user.profile",
        "user_id": "api",
        "fields": {},
        "summary": None,
    }
    patch(gateway, "api", {"tone": "formal", "language": "Portuguese"})
    assert set(profile(gateway, "api")["fields"]) == {"tone", "language"}
    patch(gateway, "api", {"tone": None})
    assert set(profile(gateway, "api")["fields"]) == {"language"}
    replaced = patch(gateway, "api", {"format": "bullets"}, method="PUT")
    assert set(replaced.json()["fields"]) == {"format"}
    # The profile is part of the user's export, and of their erasure.
    export = MemoryClient(gateway).export("api")
    assert export["profile"]["fields"]["format"]["value"] == "bullets"
    erased = httpx.delete(
        f"{gateway.url}/v1/users/api/memories", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert erased.status_code == 200
    assert profile(gateway, "api")["fields"] == {}
    patch(gateway, "api", {"format": "bullets"})
    deleted = httpx.delete(
        f"{gateway.url}/v1/users/api/profile", headers={"Authorization": f"Bearer {KEY}"}
    )
    assert deleted.json()["deleted"] is True
    assert profile(gateway, "api")["fields"] == {}
    # Another tenant's user of the same id never sees it.
    patch(gateway, "api", {"tone": "casual"})
    assert profile(gateway, "api", OTHER_KEY)["fields"] == {}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tone": "rude"}, "fields.tone"),
        ({"mood": "happy"}, "fields.mood"),
        ({"stack": "python"}, "fields.stack"),
        ({"role": ""}, "fields.role"),
    ],
)
def test_a_bad_profile_change_is_a_400_naming_the_field(
    gateway: RunningGateway, fields: dict[str, Any], param: str
) -> None:
    response = patch(gateway, "bad", fields)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_bad_personalization_header_is_a_400(gateway: RunningGateway) -> None:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {KEY}", "X-User-Id": "u", "X-Personalization": "x"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "X-Personalization"


def test_in_facts_mode_style_facts_feed_the_profile_not_the_memories(tmp_path: Path) -> None:
    with mock_provider() as mock:
        mock.state.script_default = facts_answer(
            ("User prefers concise answers.", "style"), ("User keeps bees in Lisbon.", "fact")
        )
        with start_gateway(learning_yaml(tmp_path, mock.base_url)) as running:
            for turn in ("How do I winter bees?", "And in spring?", "What about summer?"):
                assert learning_chat(running, turn).status_code == 200
            learned(running, 3)
            brevity = profile(running, USER)["fields"]["brevity"]
            assert (brevity["value"], brevity["evidence"]) == ("concise", 3)
            assert [m["content"] for m in memories(running)] == ["User keeps bees in Lisbon."]


def test_the_profile_takes_at_most_a_tenth_of_the_budget(gateway: RunningGateway) -> None:
    user = "long-asks"
    MemoryClient(gateway).add(user, "Ships pallets to Porto every Tuesday.")
    asked = "Always mention the tracking number, the carrier and the expected delivery window. "
    patch(gateway, user, {"instructions": asked * 2, "tone": "formal"})
    tokens = TokenCounter("echo").count
    question = "Where do my pallets go?"
    small = block_of(chat(gateway, user, question, headers={"X-Context-Budget": "400"}))
    large = block_of(chat(gateway, user, question))
    assert gateway.config.context.budget_tokens == 1000
    # The long instruction (~40 tokens) does not fit a tenth of 400 tokens, the short tone line
    # does; a tenth of 1,000 takes both. The memory comes either way.
    for block, budget in ((small, 400), (large, 1000)):
        assert "- Ships pallets to Porto every Tuesday." in block
        assert "Use a formal, professional tone." in section(block, "profile")
        assert tokens(section(block, "profile")) <= budget // 10
    assert "The user asked:" not in small
    assert "The user asked: Always mention the tracking number" in section(large, "profile")
