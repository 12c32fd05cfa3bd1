"""A user whose memories outgrow the budget gets a profile summary, written in the background;
memories due soon get an ``upcoming`` section. Through HTTP, turns mode, real Chroma."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.config import parse_config
from gateway.tokens import TokenCounter
from tests.learning.helpers import USER, counter, learning_yaml, scrape, wait_until
from tests.learning.helpers import chat as learning_chat
from tests.profile.test_profile_http import block_of, chat, config, profile, section
from tests.support.gateway import KEY, RunningGateway, gateway_in_thread
from tests.support.memory import MemoryClient
from tests.support.mock_upstream import mock_provider

MEMORIES = 10_000
BUDGET_400 = {"X-Context-Budget": "400"}
BATCH = 1000


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    # A quarter of the budget for the profile: room for a whole summary at 1,000 tokens (the
    # default tenth keeps it out of budgets under ~1,600).
    with gateway_in_thread(config(tmp_path, context={"profile_share": 0.25})) as running:
        yield running


@pytest.mark.slow
def test_a_user_with_10000_memories_gets_a_summary_in_the_block(gateway: RunningGateway) -> None:
    client = MemoryClient(gateway)
    topics = ["invoice", "shipment", "warehouse", "customs", "pallet", "carrier", "refund"]
    for start in range(0, MEMORIES, BATCH):
        client.add_many(
            "big",
            [
                {
                    "content": f"Case {i}: asked about the {topics[i % 7]} for order {i * 7919 % 100003}."
                }
                for i in range(start, start + BATCH)
            ],
        )
    started = time.monotonic()
    first = chat(gateway, "big", "What happened with my shipment order?")
    # The summary is written in the background: the request did not wait for it.
    assert time.monotonic() - started < 5
    assert int(first.headers["x-memory-tokens"]) <= 1000
    summary = wait_until(lambda: profile(gateway, "big")["summary"], timeout=60)
    assert TokenCounter("gpt-4o").count(summary) <= 150
    assert summary.startswith("Case ")
    block = block_of(chat(gateway, "big", "What happened with my shipment order?"))
    assert "What the user's history adds up to: Case " in section(block, "profile")
    # Within its share of a smaller budget the summary does not fit, nor do the lines that
    # introduce it; the memories still come.
    response = chat(gateway, "big", "What happened with my shipment order?", headers=BUDGET_400)
    small = block_of(response)
    assert "- Case " in small and "## profile" not in small
    assert response.headers["x-memory-profile"] == "none"
    assert counter(scrape(gateway), "gateway_profile_summary_refreshes_total") == 1
    # Erased with the user.
    httpx.delete(f"{gateway.url}/v1/users/big/memories", headers={"Authorization": f"Bearer {KEY}"})
    assert profile(gateway, "big")["summary"] is None


def test_memories_due_soon_get_an_upcoming_section(gateway: RunningGateway) -> None:
    client = MemoryClient(gateway)
    soon = date.today() + timedelta(days=5)
    later = date.today() + timedelta(days=60)
    client.add("due", "Contract renewal for the Pro plan.", metadata={"due_at": soon.isoformat()})
    client.add("due", f"Support plan renewal on {later.isoformat()}.")
    client.add("due", f"Annual audit on {(date.today() + timedelta(days=2)).isoformat()}.")
    client.add("due", "Likes the dark theme.")
    response = chat(gateway, "due", "Tell me about the dark theme.")
    upcoming = section(block_of(response), "upcoming")
    assert "Contract renewal for the Pro plan." in upcoming
    assert "Annual audit" in upcoming
    assert "Support plan renewal" not in upcoming
    assert counter(scrape(gateway), "gateway_context_upcoming_items_total") == 2


def test_in_facts_mode_the_extraction_model_writes_the_summary(tmp_path: Path) -> None:
    written = "Runs a small logistics firm; ships pallets to Porto every week."
    with mock_provider() as mock:
        mock.state.script_default = {"mode": "json", "content": written}
        raw = yaml.safe_load(learning_yaml(tmp_path, mock.base_url))
        raw["context"] = {"budget_tokens": 120}
        with gateway_in_thread(parse_config(yaml.safe_dump(raw), {})) as gateway:
            MemoryClient(gateway).add_many(
                USER, [{"content": f"Shipped pallet {i} to Porto."} for i in range(40)]
            )
            assert learning_chat(gateway, "Where did my pallets go?", memory="read-only")
            assert wait_until(lambda: profile(gateway, USER)["summary"]) == written
        asked = [r.body for r in mock.state.requests if "mock" not in r.body]
        assert asked[0]["max_tokens"] == 150
        assert "Shipped pallet" in asked[0]["messages"][1]["content"]
