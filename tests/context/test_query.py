"""What memory is searched for: the latest user turn, and the one before when it is short."""

from __future__ import annotations

from typing import Any

from gateway.context.query import MAX_QUERY_CHARS, build_query


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_the_latest_user_turn_is_the_query() -> None:
    messages = [
        {"role": "system", "content": "You are helpful."},
        user("Which vegetables grow well in a shady corner of my garden in spring?"),
        {"role": "assistant", "content": "Lettuce and spinach."},
        user("What should I plant next to the tomatoes along the sunny south fence?"),
    ]
    assert build_query(messages) == messages[-1]["content"]


def test_a_short_follow_up_borrows_the_turn_before_it() -> None:
    messages = [user("Tell me about my sister's wedding plans in Lisbon."), user("and hers?")]
    assert build_query(messages) == "Tell me about my sister's wedding plans in Lisbon.\nand hers?"


def test_content_parts_are_read_as_text() -> None:
    parts = [{"type": "text", "text": "Where did I say I keep the spare keys for the shed?"}]
    assert build_query([user(parts)]) == parts[0]["text"]


def test_no_user_text_means_no_query() -> None:
    assert build_query([{"role": "system", "content": "Be brief."}, user("   ")]) == ""


def test_a_long_turn_is_cut_to_its_end() -> None:
    turn = "start " + "word " * 400 + "the end"
    query = build_query([user(turn)])
    assert len(query) == MAX_QUERY_CHARS
    assert query.endswith("the end")
