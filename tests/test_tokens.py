"""Counting a text from its pieces: exact wherever the pieces are joined, for both encodings."""

from __future__ import annotations

import sys

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.tokens import (
    TokenCounter,
    _DigestCounts,
    _keyed_digest,
    _splits_at_clean_joins,
    get_encoding,
)

MODELS = pytest.mark.parametrize(
    ("model", "encoding"), [("gpt-4o", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")]
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What pre-tokenizers treat specially around a newline: whitespace of every kind, "/" (o200k
# takes it after newlines), punctuation runs, digits, apostrophe forms, letters and marks.
SEAM_CHARS = "\n\r\t \u00a0\u2028\u3000\x0b\x1c/.-#<'sSt1😀日é\u0301ẞ"
awkward = st.text(st.sampled_from(SEAM_CHARS), max_size=12)
pieces = st.lists(
    st.one_of(
        awkward,
        awkward.map(lambda text: text + "\n"),
        st.builds(lambda a, b: a + "\n" + b, awkward, awkward),
        st.text(max_size=40),
        st.text(st.characters(codec="utf-8"), max_size=40).map(lambda text: text + "\n"),
    ),
    max_size=12,
)


def exact(encoding: str, text: str) -> int:
    return len(get_encoding(encoding).encode(text, disallowed_special=()))


@MODELS
@PROPERTY
@given(parts=pieces)
def test_a_joined_text_counts_as_the_whole(model: str, encoding: str, parts: list[str]) -> None:
    counter = TokenCounter(model)
    assert counter.encoding == encoding
    assert counter.count_joined(parts) == exact(encoding, "".join(parts))
    assert counter.count_history(parts) == exact(encoding, "".join(parts))


@MODELS
def test_lone_surrogates_count_as_the_whole(model: str, encoding: str) -> None:
    # A JSON body can carry them; tiktoken repairs them per character, which no join can split.
    parts = ["a\ud83d\n", "\ude00b\n", "\ud83d\ude00\n", "#\udfff", "\n", "x\ud800\n", "-"]
    counter = TokenCounter(model)
    assert counter.count_joined(parts) == exact(encoding, "".join(parts))
    assert counter.count_history(parts) == exact(encoding, "".join(parts))


@MODELS
def test_joins_split_only_before_a_clean_start(model: str, encoding: str) -> None:
    counter = TokenCounter(model)
    # Each of these would miscount if split at its newline, so they must be counted whole.
    for parts in (["x.\n", "/y"], ["x\n", " y"], ["x\n", "\ny"], ["x.\n", "\r\n"], ["a\n", "\ty"]):
        assert counter.count_joined(parts) == exact(encoding, "".join(parts)), parts
    assert list(counter._units(["a\n", "#b\n", "-c\n", "/d\n", " e"])) == [
        "a\n",
        "#b\n",
        "-c\n/d\n e",
    ]


def test_the_patterns_analysed_are_the_installed_ones() -> None:
    # Were tiktoken to change a pattern, counts would stay exact (whole texts) but lose the
    # shortcut; this says so.
    assert _splits_at_clean_joins("cl100k_base") and _splits_at_clean_joins("o200k_base")


def test_every_unicode_whitespace_is_a_python_space() -> None:
    # The join rule tests str.isspace; the patterns' \s is Unicode's White_Space.
    white = regex.compile(r"\p{White_Space}")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if white.match(char):
            assert char.isspace(), hex(code)


def test_remembered_counts_forget_the_least_recently_used() -> None:
    counts = _DigestCounts(get_encoding("o200k_base"), 2, _keyed_digest)
    for text in ("one two", "three", "one two", "four five six"):
        assert counts.count(text) == exact("o200k_base", text)
    assert len(counts._counts) == 2
    assert counts.count("three") == exact("o200k_base", "three")


def test_the_line_cache_holds_digests_not_texts() -> None:
    # Breach 2 of issue 16: the cache held up to 262,144 memory texts, past their erasure.
    counter = TokenCounter("gpt-4o")
    marker = "zq-erasure-marker-7731 likes sailing\n"
    assert counter.count_line(marker) == exact("o200k_base", marker)
    cache = counter._count.__self__  # type: ignore[attr-defined]
    assert isinstance(cache, _DigestCounts)
    keys = list(cache._counts)
    assert keys and all(isinstance(key, int) for key in keys)
    assert not any(isinstance(key, str | bytes) for key in keys)
    assert counter.count_line(marker) == exact("o200k_base", marker)
