"""The consolidation rule's text side: normalisation and key terms."""

from __future__ import annotations

import pytest

from gateway.config import ExtractionConfig
from gateway.learning.similarity import key_terms, normalised, verdict

RULE = ExtractionConfig(duplicate_similarity=0.89, supersede_similarity=0.80)


def test_normalised_ignores_case_punctuation_and_a_leading_the() -> None:
    assert normalised("The user is Vegan!") == normalised("User is vegan.") == "user is vegan"


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("User is thirty-four years old.", {"34"}),
        ("User is 34 years old.", {"34"}),
        ("User has two children.", {"2"}),
        ("User's salary is 60,000 euros.", {"60000"}),
        ("User lives in Berlin, Germany.", {"berlin", "germany"}),
        ("User doesn't eat meat.", {"¬"}),
        ("User has no car.", {"¬"}),
        ("User prefers concise answers.", set()),
    ],
)
def test_key_terms(text: str, terms: set[str]) -> None:
    assert key_terms(text) == terms


def test_same_text_is_a_duplicate_whatever_the_similarity() -> None:
    assert verdict("The user is vegan.", "User is vegan", 0.1, RULE) == "duplicate"


def test_a_high_similarity_with_a_new_number_name_or_negation_is_not_a_duplicate() -> None:
    assert verdict("User is 35 years old.", "User is 34 years old.", 0.965, RULE) == "related"
    assert (
        verdict("User lives in Berlin, Germany.", "User lives in Berlin.", 0.943, RULE) == "related"
    )
    assert verdict("User does not eat meat.", "User eats meat.", 0.93, RULE) == "related"
    # Saying less than the stored memory is still the same fact.
    assert (
        verdict("User lives in Berlin.", "User lives in Berlin, Germany.", 0.943, RULE)
        == "duplicate"
    )


def test_thresholds() -> None:
    assert verdict("User is a nurse.", "User works as a nurse.", 0.952, RULE) == "duplicate"
    assert verdict("a", "b", 0.85, RULE) == "related"
    assert verdict("a", "b", 0.79, RULE) == "distinct"
