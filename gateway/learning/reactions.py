"""Explicit positive reactions: a user turn that thanks the assistant for remembering, or says
they did not have to repeat themselves.

A small phrase set in English (``personalization.positive_phrases``), matched as substrings of
the user's new turns after folding case, typographic apostrophes and runs of whitespace. Only
the yes or no is kept; the text never is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})


def fold(text: str) -> str:
    return _SPACES.sub(" ", text.translate(_APOSTROPHES).casefold()).strip()


class Reactions:
    def __init__(self, phrases: Iterable[str]) -> None:
        self._phrases = tuple(fold(phrase) for phrase in phrases)

    def positive(self, turns: Iterable[str]) -> bool:
        """Whether any of ``turns`` holds one of the phrases."""
        # Each turn folded once, not once per phrase: this runs on every request.
        return any(self._holds(fold(turn)) for turn in turns)

    def _holds(self, folded: str) -> bool:
        return any(phrase in folded for phrase in self._phrases)

    def without(self, turn: str) -> str:
        """``turn`` without its sentences that hold a phrase: thanking us for remembering says
        nothing about the user, and stored it would come back as a "restated fact"."""
        kept = [
            sentence for sentence in _SENTENCE_END.split(turn) if not self._holds(fold(sentence))
        ]
        return " ".join(kept).strip()
