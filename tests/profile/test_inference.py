"""Offline signals: vocabulary, explicit requests and behaviour, read from the user's turns."""

from __future__ import annotations

import pytest

from gateway.profile.inference import observe, style_signals


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        (
            "The API endpoint returns 429 once rate limiting kicks in on the webhook payload.",
            "technical",
        ),
        ("Traceback (most recent call last): KeyError in handler.py", "technical"),
        (
            "The connection doesn't work and it's blocked, the notification keeps saying error.",
            "non_technical",
        ),
        ("Where in the dashboard settings do I add the Slack integration?", "intermediate"),
    ],
)
def test_vocabulary_gives_the_expertise(turn: str, expected: str) -> None:
    assert observe([turn], [])["expertise"] == expected


@pytest.mark.parametrize(
    ("turn", "field", "value"),
    [
        ("Please be more concise.", "brevity", "concise"),
        ("more detail please", "brevity", "thorough"),
        ("Can you use bullet points?", "format", "bullets"),
        ("no bullet points, write it in paragraphs", "format", "prose"),
        ("Please keep it formal.", "tone", "formal"),
        ("you can be casual with me", "tone", "casual"),
        ("no jargon please", "expertise", "non_technical"),
    ],
)
def test_explicit_requests(turn: str, field: str, value: str) -> None:
    assert observe([turn], [])[field] == value


def test_an_explicit_request_wins_over_vocabulary() -> None:
    found = observe(["The API endpoint and the webhook confuse me, no jargon please"], [])
    assert found["expertise"] == "non_technical"


def test_a_clarifying_question_after_a_short_answer_leans_thorough() -> None:
    short = [("user", "How do I reset it?"), ("assistant", "Use the reset button.")]
    assert observe(["What do you mean?"], short)["brevity"] == "thorough"
    long = [("assistant", "word " * 200)]
    assert "brevity" not in observe(["What do you mean?"], long)


def test_small_talk_says_nothing() -> None:
    assert observe(["Hello, how are you today?"], []) == {}


def test_style_facts_feed_the_same_fields() -> None:
    facts = ["User prefers short answers.", "User wants answers as bullet points."]
    assert style_signals(facts) == {"brevity": "concise", "format": "bullets"}
