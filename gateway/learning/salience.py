"""Whether a user's turn says anything worth remembering, for ``extraction.mode: turns``.

Turns mode stores the user's own words, so without this rule "Hi", "thanks!" and "Where do I
live?" become memories that later crowd real ones out of the budget. A turn is skipped only when
every sentence in it is chatter:

- a greeting or farewell ("Hi", "hello there", "good morning", "bye for now");
- an acknowledgement ("thanks!", "ok", "great, thank you", "got it");
- a single word ("Lisbon", "42") - a reply that means nothing without the question before it;
- a short, bare English question that states nothing ("Where do I live?", "What's the weather?").

The rule is deliberately conservative: anything else is kept, whether it speaks in the first
person or not ("The deploy failed with error 502"), and so is a question that carries something
about the user ("my API key rotates monthly - how do I automate it?", "I moved to Lisbon, what's
the weather there?"). The word lists are English; text in other languages is never taken for a
greeting or a question, and text in scripts written without spaces is never taken for one word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

SkipReason = Literal["greeting", "acknowledgement", "short", "question"]


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


_GREETINGS: Final = _vocabulary(
    "hi hello hey heya hiya howdy greetings yo morning afternoon evening bye goodbye goodnight cya"
)
#: Words that may accompany a greeting without adding to it ("good morning everyone").
_GREETING_COMPANIONS: Final = _vocabulary(
    "good there all everyone everybody folks again guys friend assistant bot day night "
    "for now see you later soon"
)
_ACKNOWLEDGEMENTS: Final = _vocabulary(
    "thanks thank thx ty cheers ok okay k kk alright fine cool great nice perfect awesome "
    "excellent wonderful lovely brilliant sure yes yeah yep yup no nope nah right indeed "
    "exactly agreed understood noted gotcha lol haha appreciate appreciated helps helped "
    "helpful got sense"
)
_ACKNOWLEDGEMENT_COMPANIONS: Final = _vocabulary(
    "you so very much a lot that it this makes works sounds good that's it's "
    "will do all oh ah well really again"
)
#: How an English question opens; a sentence that opens otherwise is never taken for one.
_INTERROGATIVES: Final = _vocabulary(
    "what what's whats where where's when who who's whom whose why which how how's is are am "
    "was were do does did can could would will should shall may might have has any"
)
#: Chatter a bare question may open with ("Hi, where do I live?", "ok so what's next?").
_LEAD_IN: Final = _GREETINGS | _ACKNOWLEDGEMENTS | _vocabulary("so and oh well hmm")
#: Words that make a question say something about the user ("how do I reset my password?").
_STATING: Final = _vocabulary(
    "my mine our ours myself ourselves i'm im i've ive i'd i'll we're we've we'd we'll"
)
#: A longer question usually carries context about the asker; keep it.
_MAX_BARE_QUESTION_WORDS: Final = 8
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_SENTENCE = re.compile(r"[^.!?;\n]+[.!?;]*")
#: Thai, Lao, Myanmar, Khmer, Japanese kana, CJK ideographs: one "word" may be a whole sentence.
_UNSPACED_SCRIPT = re.compile(
    r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)


@dataclass(frozen=True, slots=True)
class Salient:
    """The turns worth storing, and why each of the others was skipped."""

    kept: tuple[str, ...]
    skipped: tuple[SkipReason, ...] = field(default=())


def salient_turns(turns: Iterable[str]) -> Salient:
    """Split ``turns`` into those to store and the reasons the rest were skipped."""
    kept: list[str] = []
    skipped: list[SkipReason] = []
    for turn in turns:
        reason = skip_reason(turn)
        if reason is None:
            kept.append(turn)
        else:
            skipped.append(reason)
    return Salient(tuple(kept), tuple(skipped))


def skip_reason(turn: str) -> SkipReason | None:
    """Why ``turn`` states nothing about the user, or None when it should be stored."""
    words = _words(turn)
    if not words:
        return "short" if turn.strip() else None
    if len(words) == 1 and not _UNSPACED_SCRIPT.search(turn):
        return _kind(words) or "short"
    kinds = [_sentence_kind(sentence) for sentence in _SENTENCE.findall(turn)]
    if any(kind is None for kind in kinds):
        return None
    for reason in ("question", "greeting", "acknowledgement"):
        if reason in kinds:
            return reason
    return None


def _sentence_kind(sentence: str) -> SkipReason | None:
    words = _words(sentence)
    if not words:
        return "acknowledgement"  # stray punctuation or emoji between sentences
    if sentence.rstrip().endswith("?"):
        return "question" if _is_bare_question(words) else None
    return _kind(words)


def _kind(words: Sequence[str]) -> SkipReason | None:
    if _only(words, _GREETINGS, _GREETING_COMPANIONS):
        return "greeting"
    if _only(words, _ACKNOWLEDGEMENTS, _ACKNOWLEDGEMENT_COMPANIONS | _GREETINGS):
        return "acknowledgement"
    return None


def _only(words: Sequence[str], core: frozenset[str], companions: frozenset[str]) -> bool:
    return any(w in core for w in words) and all(w in core or w in companions for w in words)


def _is_bare_question(words: Sequence[str]) -> bool:
    start = next((i for i, w in enumerate(words) if w not in _LEAD_IN), len(words))
    asked = words[start:]
    return (
        bool(asked)
        and asked[0] in _INTERROGATIVES
        and len(asked) <= _MAX_BARE_QUESTION_WORDS
        and not any(w in _STATING for w in asked)
    )


def _words(text: str) -> list[str]:
    return [w.replace("\u2019", "'") for w in _WORD.findall(text.lower())]
