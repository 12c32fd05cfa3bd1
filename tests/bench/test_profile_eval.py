"""The personalization labelled set: deterministic, big enough, and with the hard cases."""

from __future__ import annotations

from collections import Counter

from bench.profile_eval import CHECKPOINT, FIELDS, VALUES, Result, generate, markdown


def test_the_set_is_deterministic_and_has_the_hard_cases() -> None:
    users = generate(72, 18)
    assert [u.turns for u in users] == [u.turns for u in generate(72, 18)]
    assert len(users) >= 60
    for name in FIELDS:
        assert {u.before[name] for u in users} == set(VALUES[name])
    hurried = [u for u in users if u.one_offs]
    assert hurried and all(u.before["brevity"] != "concise" for u in hurried)
    assert all(0 < u.one_offs["brevity"][0] < CHECKPOINT for u in hurried)
    assert sum(u.changes for u in users) >= 10


def test_the_report_shows_accuracy_and_a_confusion_matrix_per_field() -> None:
    confusion = {name: Counter({(VALUES[name][0], VALUES[name][0]): 3}) for name in FIELDS}
    confusion["brevity"]["concise", "balanced"] = 1
    text = markdown(Result(confusion, one_offs=4, false_changes=0), 4, 1)
    assert "| brevity | 75.0% |" in text
    assert "4 one-off requests, 0 false changes (0%)" in text
    assert "| concise | 3 | 1 | 0 |" in text
