"""BM25 scores stay right as documents come and go between queries."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.store.lexical import STOPWORDS, BM25Index, stem, terms

DOCS = [
    "Dana's badge number is 4471",
    "Dana prefers the Lisbon office on Fridays",
    "The Lisbon office moved in March",
]
QUERY = "Dana Lisbon office"
Step = Callable[[BM25Index], object]
STEPS: list[Step] = [
    lambda index: index.add(DOCS[0]),
    lambda index: index.extend(DOCS[1:]),
    lambda index: index.remove(1),
    lambda index: index.add("Dana's office is in Lisbon now"),
    lambda index: index.remove(0),
]


def test_a_query_between_changes_does_not_change_later_scores() -> None:
    queried, untouched = BM25Index(), BM25Index()
    for step in STEPS:
        step(queried)
        step(untouched)
        # Scoring keeps arrays of the index between queries; each change must reach them.
        assert queried.scores(QUERY).tolist() == _replayed(step).scores(QUERY).tolist()
    final = queried.scores(QUERY)
    assert final.tolist() == untouched.scores(QUERY).tolist()
    assert final.shape == (4,)
    assert final[0] == final[1] == 0.0  # removed: never score again
    assert final[2] > 0 and final[3] > 0


def _replayed(last: Step) -> BM25Index:
    """A never-queried index after the steps up to and including ``last``."""
    index = BM25Index()
    for step in STEPS:
        step(index)
        if step is last:
            return index
    raise AssertionError("unknown step")


def test_removed_documents_leave_the_others_scored_as_if_never_added() -> None:
    # Many removed documents sharing the query's terms once gave those terms a negative idf,
    # pushing the live documents that match them below ones that do not match at all.
    index = BM25Index()
    index.extend(f"Lisbon office note {n}" for n in range(20))
    index.extend(DOCS)
    for position in range(20):
        index.remove(position)
    fresh = BM25Index()
    fresh.extend(DOCS)
    scores = index.scores(QUERY)
    assert scores[:20].tolist() == [0.0] * 20
    assert scores[20:].tolist() == fresh.scores(QUERY).tolist()
    assert min(scores[20:]) > 0


def restored(docs: list[str]) -> BM25Index:
    built = BM25Index()
    built.extend(docs)
    return BM25Index.restore(built.saved())


@pytest.mark.parametrize("made", [BM25Index, lambda: restored(DOCS[:1])], ids=["built", "restored"])
def test_a_detached_query_scores_as_taken_while_documents_are_added(
    made: Callable[[], BM25Index],
) -> None:
    # Large users are scored on a worker thread while writes go on; a query holding views of
    # the postings would make each append to them raise BufferError. A restored index holds
    # some postings apart from those added since: both halves must stay as taken.
    index = made()
    index.extend(DOCS[len(index) :])
    expected = index.scores(QUERY).tolist()
    detached = index.query(QUERY, detached=True)
    index.add("The Lisbon office has a new badge reader")  # appends to the query's postings
    index.remove(0)
    assert detached.scores().tolist() == expected
    now = index.scores(QUERY)
    assert now[0] == 0.0 and now[3] > 0  # the index itself moved on


@given(st.text(alphabet=st.sampled_from("ab sS.ing1é_\n'")) | st.text(max_size=40))
@example("Hiking hikes hiked; the 2 boxes and 42 classes")
def test_terms_are_words_minus_stopwords_stemmed_but_numbers_whole(text: str) -> None:
    # The definition, spelled out: terms() remembers the term of each word it has seen.
    words = re.findall(r"[^\W_]+", text.lower())
    expected = [w if w.isdigit() else stem(w) for w in words if w not in STOPWORDS]
    assert terms(text) == expected
    assert terms(text) == expected  # a second time, from what was remembered


def test_a_document_counts_each_of_its_terms_once_per_occurrence() -> None:
    index = BM25Index()
    index.extend(["Lisbon office", "Lisbon Lisbon Lisbon office"])
    scores = index.scores("Lisbon")
    # BM25 rises with term frequency, saturating: three mentions outscore one.
    assert scores[1] > scores[0] > 0


def test_a_restored_index_scores_and_grows_as_the_one_it_was_saved_from() -> None:
    original = BM25Index()
    original.extend(DOCS)
    original.remove(1)
    copy = BM25Index.restore(original.saved())
    assert copy.scores(QUERY).tolist() == original.scores(QUERY).tolist()
    for index in (original, copy):
        index.add("Dana's Lisbon office badge")  # terms it had, and "badge" again
        index.remove(2)
    assert copy.scores(QUERY).tolist() == original.scores(QUERY).tolist()
    assert copy.saved().terms == original.saved().terms


def test_the_ceiling_is_what_a_document_with_every_query_term_once_scores() -> None:
    index = BM25Index()
    index.extend(["alpha beta", "gamma delta", "alpha gamma"])
    # "alpha beta" has the corpus's average length and holds each known term once.
    query = index.query(["alpha", "beta"])
    assert query.ceiling() == pytest.approx(float(query.scores()[0]))


def test_a_query_term_no_document_holds_raises_the_ceiling_by_the_highest_idf() -> None:
    index = BM25Index()
    index.extend(["Dana: Oof.", "Dana: Went for a walk.", "Sam: Picked up a bee colony."])
    known = index.query(terms("Dana"))
    asked = index.query(terms("When did Dana get the insects?"))
    assert float(asked.scores().max()) == pytest.approx(float(known.scores().max()))
    # "insects" is held by no document: it counts as a term of document frequency 0.
    assert asked.ceiling() == pytest.approx(known.ceiling() + math.log(1 + 3.5 / 0.5))
