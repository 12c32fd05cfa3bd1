"""How a memory's score is made from its signals, with the weights of ``memory.retrieval``."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config import RetrievalConfig
from gateway.store.ranking import SECONDS_PER_DAY, Signals, score, top

NOW = 1_000 * SECONDS_PER_DAY


def signals(
    dense: list[float],
    lexical: list[float] | None = None,
    age_days: list[float] | None = None,
    evidence: list[float] | None = None,
    parents: list[int] | None = None,
    ceiling: float = 0.0,
) -> Signals:
    size = len(dense)

    def floats(values: list[float] | None, default: float) -> np.ndarray:
        return np.array(values if values is not None else [default] * size, dtype=np.float32)

    seen_at = NOW - floats(age_days, 0.0) * SECONDS_PER_DAY
    return Signals(
        dense=floats(dense, 0.0),
        lexical=floats(lexical, 0.0),
        seen_at=seen_at.astype(np.float32),
        evidence=floats(evidence, 1.0),
        parents=np.array(parents if parents is not None else [-1] * size, dtype=np.int64),
        lexical_ceiling=ceiling,
    )


def scored(found: Signals, **weights: object) -> list[float]:
    return [round(float(s), 4) for s in score(found, NOW, RetrievalConfig(**weights))]


def test_dense_mode_is_the_similarity_alone() -> None:
    found = signals([0.5, 0.3], lexical=[0.0, 9.0], age_days=[900, 0], evidence=[64, 1])
    assert scored(found, mode="dense") == [0.5, 0.3]


def test_bm25_is_added_relative_to_the_best_match() -> None:
    found = signals([0.2, 0.2, 0.2], lexical=[0.0, 2.0, 4.0])
    assert scored(found, lexical_weight=0.5, half_life_days=None, thread_weight=0) == [
        0.2,
        0.45,
        0.7,
    ]


def test_bm25_is_a_share_of_the_whole_query_when_no_memory_matches_much_of_it() -> None:
    # The best memory scores 2 of the 8 a memory holding every query term would: it matches a
    # quarter of the question (the user's name, say), and gets a quarter of the weight.
    found = signals([0.2, 0.2, 0.2], lexical=[0.0, 1.0, 2.0], ceiling=8.0)
    assert scored(found, lexical_weight=1.0, half_life_days=None, thread_weight=0) == [
        0.2,
        0.325,
        0.45,
    ]


def test_age_halves_the_weight_above_the_floor_every_half_life() -> None:
    found = signals([1.0, 1.0, 1.0], age_days=[0, 180, 100_000])
    assert scored(found, half_life_days=180, recency_floor=0.6, thread_weight=0) == [
        1.0,
        0.8,
        0.6,
    ]


def test_an_answer_borrows_from_the_question_before_it() -> None:
    found = signals([0.8, 0.1], parents=[-1, 0])
    assert scored(found, thread_weight=0.5, half_life_days=None) == [0.8, 0.5]


def test_evidence_adds_a_bonus_per_doubling() -> None:
    found = signals([0.5, 0.5], evidence=[1, 8])
    assert scored(found, evidence_weight=0.02, half_life_days=None, thread_weight=0) == [
        0.5,
        0.56,
    ]


@pytest.mark.parametrize(
    ("k", "min_score", "expected"), [(2, 0.0, [3, 1]), (10, 0.25, [3, 1]), (10, 0.0, [3, 1, 0])]
)
def test_top_keeps_the_best_eligible_scores_in_order(
    k: int, min_score: float, expected: list[int]
) -> None:
    scores = np.array([0.2, 0.5, 0.9, 0.7], dtype=np.float32)
    eligible = np.array([True, True, False, True])
    assert top(scores, eligible, k, min_score).tolist() == expected
