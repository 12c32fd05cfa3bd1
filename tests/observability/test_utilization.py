"""How much of the injected context a reply used."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.observability import context_utilization
from gateway.observability.utilization import STOPWORDS, content_terms


def test_nothing_injected_is_zero() -> None:
    assert context_utilization([], "Anything at all.") == 0.0
    assert context_utilization(["the and of", "a"], "the and of") == 0.0


def test_the_share_of_distinct_memory_terms_found_in_the_reply() -> None:
    injected = ["User keeps bees in Lisbon.", "Prefers replies in Portuguese"]
    # Terms: user keeps bees lisbon prefers replies portuguese (7); the reply uses bees, lisbon.
    reply = "Your BEES should do well in Lisbon's climate."
    assert context_utilization(injected, reply) == pytest.approx(2 / 7)


def test_repeated_terms_count_once_and_a_full_echo_is_one() -> None:
    injected = ["bees bees bees", "Bees in Lisbon"]
    assert context_utilization(injected, "bees, lisbon") == 1.0
    assert context_utilization(injected, "bees") == 0.5


def test_terms_are_words_without_stemming_or_stopwords() -> None:
    assert content_terms("The user's e-mail: ALICE_42 prefers it") == {
        "user",
        "mail",
        "alice",
        "42",
        "prefers",
    }
    assert context_utilization(["prefers tea"], "I prefer tea") == 0.5


def by_the_definition(text: str) -> set[str]:
    """content_terms as its docstring defines it, by regular expression."""
    runs = re.findall(r"[^\W_]+", text.lower())
    return {run for run in runs if len(run) > 1 and run not in STOPWORDS}


@given(
    st.text(alphabet=st.characters(max_codepoint=127))
    | st.text()
    | st.lists(
        st.sampled_from([*STOPWORDS, "Bees", "e-mail", "K\u212a", "x_y", "42", "\t\x0b"])
    ).map(" ".join)
)
def test_terms_match_their_definition_for_any_text(text: str) -> None:
    assert content_terms(text) == by_the_definition(text)
