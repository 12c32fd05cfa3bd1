"""The validation set: deterministic, every kind present, and worded apart from its evidence."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.eval._names import POOLS
from bench.eval.dataset import Conversation, iter_turns, load, turn_index
from bench.eval.generate import DEFAULT_OUT as DEV_OUT
from bench.eval.generate import ambiguous_evidence
from bench.eval.validation import DEFAULT_OUT, content_overlap, dump, generate, main

KINDS = {"single-hop", "temporal", "multi-hop", "open-domain"}


@pytest.fixture(scope="module")
def conversations() -> list[Conversation]:
    return load(DEFAULT_OUT)["conversations"]


def test_the_same_seed_gives_the_same_bytes_and_another_seed_another_set() -> None:
    assert dump(generate(seed=3, conversations=2)) == dump(generate(seed=3, conversations=2))
    assert dump(generate(seed=3, conversations=2)) != dump(generate(seed=4, conversations=2))


def test_the_committed_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    out = tmp_path / "validation.json"
    assert main(["--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_OUT.read_bytes()


def test_every_conversation_asks_each_kind_six_times(conversations: list[Conversation]) -> None:
    assert len(conversations) == 6
    for conversation in conversations:
        kinds = Counter(q["kind"] for q in conversation["questions"])
        assert kinds == dict.fromkeys(KINDS, 6)


def test_multi_hop_evidence_is_two_turns_of_different_sessions(
    conversations: list[Conversation],
) -> None:
    for conversation in conversations:
        for question in conversation["questions"]:
            sessions = {turn_id.split(":")[1] for turn_id in question["evidence"]}
            assert len(sessions) == (2 if question["kind"] == "multi-hop" else 1), question


def test_temporal_answers_follow_from_the_evidence_sessions_date(
    conversations: list[Conversation],
) -> None:
    for conversation in conversations:
        dates = {s["id"]: s["date"] for s in conversation["sessions"]}
        turns = turn_index(conversation)
        for question in conversation["questions"]:
            if question["kind"] != "temporal":
                continue
            [turn_id] = question["evidence"]
            said = datetime.strptime(dates[turn_id.split(":")[1]][:10], "%Y-%m-%d")
            text = turns[turn_id]["text"]
            back = next(
                days
                for days in range(1, 7)
                if (said - timedelta(days=days)).strftime("%-d %B %Y") == question["answer"]
            )
            phrase = {1: "yesterday", 2: "the day before yesterday"}.get(
                back, f"last {(said - timedelta(days=back)):%A}"
            )
            assert phrase in text


def test_questions_share_few_content_words_with_their_evidence(
    conversations: list[Conversation],
) -> None:
    overlaps: dict[str, list[float]] = {}
    for conversation in conversations:
        turns = turn_index(conversation)
        for question in conversation["questions"]:
            evidence = [turns[turn_id]["text"] for turn_id in question["evidence"]]
            share = content_overlap(question["question"], evidence, conversation["speakers"])
            assert share <= 0.34, question["question"]
            overlaps.setdefault(question["kind"], []).append(share)
    assert all(sum(shares) / len(shares) < 0.1 for shares in overlaps.values()), overlaps


def test_overlap_counts_shared_content_words_and_ignores_names() -> None:
    evidence = ["Lotte: Signed the lease on plot 14 at the allotments."]
    assert content_overlap("Which plot did Lotte lease?", evidence, ["Lotte"]) == 1.0
    assert content_overlap("What does Lotte grow vegetables on?", evidence, ["Lotte"]) == 0.0


def test_speakers_and_evidence_differ_from_the_development_set(
    conversations: list[Conversation],
) -> None:
    dev_names = set(POOLS["speaker"]) | set(POOLS["person"])
    dev_texts = {turn["text"] for c in load(DEV_OUT)["conversations"] for _, turn in iter_turns(c)}
    for conversation in conversations:
        assert not dev_names & set(conversation["speakers"])
        assert not ambiguous_evidence(conversation)
        turns = turn_index(conversation)
        for question in conversation["questions"]:
            assert not any(turns[t]["text"] in dev_texts for t in question["evidence"])
