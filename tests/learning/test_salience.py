"""Which user turns ``extraction.mode: turns`` stores: only those that state something."""

from __future__ import annotations

from typing import get_args

import pytest

from gateway.learning.salience import SkipReason, salient_turns, skip_reason
from gateway.observability.labels import SKIPPED_TURN_REASONS


@pytest.mark.parametrize(
    ("turn", "reason"),
    [
        ("Hi", "greeting"),
        ("hello there", "greeting"),
        ("good morning", "greeting"),
        ("Good evening, everyone!", "greeting"),
        ("hey again", "greeting"),
        ("bye for now", "greeting"),
        ("thanks!", "acknowledgement"),
        ("ok", "acknowledgement"),
        ("great, thank you", "acknowledgement"),
        ("Thank you so much!", "acknowledgement"),
        ("Got it, makes sense.", "acknowledgement"),
        ("Haha, yes.", "acknowledgement"),
        ("Lisbon", "short"),
        ("42", "short"),
        ("Bonjour", "short"),
        ("👍", "short"),
        ("Where do I live?", "question"),
        ("What's the weather?", "question"),
        ("what\u2019s the weather like today?", "question"),
        ("Is it raining?", "question"),
        ("Can you help me?", "question"),
        ("Hi! Where do I live?", "question"),
        ("Thanks. What should I cook tonight?", "question"),
    ],
)
def test_a_turn_that_states_nothing_is_skipped(turn: str, reason: str) -> None:
    assert skip_reason(turn) == reason


@pytest.mark.parametrize(
    "turn",
    [
        "I live in Lisbon",
        "I'm vegetarian",
        "I moved to Lisbon last week, what's the weather there?",
        "my API key rotates monthly - how do I automate it?",
        "How do I reset my password?",
        "Should I take the job in Berlin or stay in Lisbon next spring?",
        "Where do I live? I keep forgetting that I moved to Porto.",
        "The deploy failed with error 502 on the payments service",
        "Hi, I'm Ana and I work as a nurse.",
        "Thanks! Also, we use Postgres 16 in production.",
        "Prefer short answers.",
        "我住在里斯本",
        "Moro em Lisboa, qual é o tempo?",
        "Ich wohne in Berlin.",
        "",
    ],
)
def test_a_turn_that_states_something_is_kept(turn: str) -> None:
    assert skip_reason(turn) is None


def test_salient_turns_keeps_order_and_says_why_the_rest_went() -> None:
    found = salient_turns(["Hi", "I live in Lisbon", "Where do I live?", "I keep bees", "ok"])
    assert found.kept == ("I live in Lisbon", "I keep bees")
    assert found.skipped == ("greeting", "question", "acknowledgement")


def test_every_reason_is_a_metric_label() -> None:
    assert set(get_args(SkipReason)) == SKIPPED_TURN_REASONS
