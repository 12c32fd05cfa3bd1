"""A user whose memories outgrow the budget gets a profile summary, written in the background;
memories due soon get an ``upcoming`` section. Through HTTP, turns mode, real Chroma."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.tokens import TokenCounter
from tests.learning.helpers import counter, scrape, wait_until
from tests.profile.test_profile_http import block_of, chat, config, profile, section
from tests.support.gateway import KEY, RunningGateway, gateway_in_thread
from tests.support.memory import MemoryClient

MEMORIES = 10_000
BATCH = 1000


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with gateway_in_thread(config(tmp_path)) as running:
        yield running


def test_a_user_with_10000_memories_gets_a_summary_in_the_block(gateway: RunningGateway) -> None:
    client = MemoryClient(gateway)
    topics = ["invoice", "shipment", "warehouse", "customs", "pallet", "carrier", "refund"]
    for start in range(0, MEMORIES, BATCH):
        client.add_many(
            "big",
            [
                {"content": f"Case {i}: asked about the {topics[i % 7]} for order {i * 7919 % 100003}."}
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
