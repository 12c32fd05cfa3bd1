"""When a new fact repeats a memory, when it replaces one: the consolidation rule.

    duplicate   same text once normalised; or cosine >= duplicate_similarity (0.89) and the new
                fact names no number, name or negation the old one lacks
    related     cosine >= supersede_similarity (0.80), not a duplicate (the caller also asks for
                the same category before it supersedes)
    distinct    anything else

The thresholds were chosen on 90 hand-labelled fact pairs with all-MiniLM-L6-v2
(``bench/consolidation_thresholds.py``). Cosine alone cannot tell "User is 34 years old" from
"User is 35 years old" (0.965, above most true paraphrases), so a duplicate must also agree on
its *key terms*: numbers (digits or words), capitalised names, and negation. At 0.80 no pair of
distinct facts was superseded; the price is that some real updates (0.58-0.79) are kept side
by side instead, which the injected block shows with their dates.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from gateway.config import ExtractionConfig

Verdict = Literal["duplicate", "related", "distinct"]

_UNITS: Final = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
)
_NUMBER_WORDS: Final = {word: value for value, word in enumerate(_UNITS.split())}
_DECADES: Final = "twenty thirty forty fifty sixty seventy eighty ninety"
_TENS: Final = {word: 10 * (index + 2) for index, word in enumerate(_DECADES.split())}
_NEGATIONS: Final = frozenset({"not", "no", "never", "none", "nobody", "without", "neither", "nor"})
_NOT_NAMES: Final = frozenset({"user", "user's", "users", "i", "the", "a", "an"})
_APOSTROPHE = "\u2019"
_WORD = re.compile(rf"[^\W_]+(?:['{_APOSTROPHE}-][^\W_]+)*")
_NEGATION_MARK = "¬"


def normalised(text: str) -> str:
    """Lower case, words only, without a leading "the": "The user is vegan." -> "user is vegan"."""
    words = [w.lower().replace(_APOSTROPHE, "'") for w in _WORD.findall(text)]
    if words[:1] == ["the"]:
        words = words[1:]
    return " ".join(words)


def key_terms(text: str) -> frozenset[str]:
    """The numbers, names and negation in a fact: what a paraphrase must keep."""
    text = re.sub(r"(?<=\d)[,.](?=\d{3}\b)", "", text)  # 60,000 -> 60000
    found: set[str] = set()
    for position, match in enumerate(_WORD.finditer(text)):
        word = match.group()
        lower = word.lower().replace(_APOSTROPHE, "'")
        number = _number(lower)
        if number is not None:
            found.add(number)
        elif any(ch.isdigit() for ch in word):
            found.add("".join(ch for ch in lower if ch.isalnum()))
        elif position > 0 and word[0].isupper() and lower not in _NOT_NAMES:
            found.add(lower)
        if lower in _NEGATIONS or lower.endswith("n't"):
            found.add(_NEGATION_MARK)
    return frozenset(found)


def verdict(new: str, old: str, similarity: float, settings: ExtractionConfig) -> Verdict:
    """How the new fact ``new`` stands to the stored memory ``old``."""
    if normalised(new) == normalised(old):
        return "duplicate"
    if similarity >= settings.duplicate_similarity and _keeps_key_terms(new, old):
        return "duplicate"
    if similarity >= settings.supersede_similarity:
        return "related"
    return "distinct"


def _keeps_key_terms(new: str, old: str) -> bool:
    # The new fact may say less than the old one ("Berlin" vs "Berlin, Germany"), never more or
    # other: a new number or name is new information, and negation flips the meaning.
    new_terms, old_terms = key_terms(new), key_terms(old)
    same_polarity = (_NEGATION_MARK in new_terms) == (_NEGATION_MARK in old_terms)
    return same_polarity and new_terms <= old_terms


def _number(word: str) -> str | None:
    if word in _NUMBER_WORDS:
        return str(_NUMBER_WORDS[word])
    tens, _, unit = word.partition("-")
    if tens not in _TENS:
        return None
    if not unit:
        return str(_TENS[tens])
    if unit in _NUMBER_WORDS and _NUMBER_WORDS[unit] < 10:
        return str(_TENS[tens] + _NUMBER_WORDS[unit])
    return None
