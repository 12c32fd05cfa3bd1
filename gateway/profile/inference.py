"""Signals about how a user wants answers shaped, read from their own words with no model.

Three kinds of signal, each giving at most one value per field for one exchange:

- **explicit requests**, in the user's new turns: "be more concise", "more detail please", "use
  bullet points", "no jargon", "please keep it formal", "you can be casual with me";
- **vocabulary**: technical terms, code and stack traces mean ``technical``; the vague words of
  someone who does not know the parts ("the connection", "it's blocked", "the notification")
  mean ``non_technical``; product words without engineering terms mean ``intermediate``;
- **behaviour**: a clarifying question right after a short answer leans ``thorough``.

An explicit request about expertise ("no jargon") wins over vocabulary in the same exchange.
The same rules read the extraction model's style facts in ``facts`` mode
(``style_signals``), so both modes feed one profile. Word lists are English.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

#: (field, value, pattern) for what a user asks for in so many words.
_REQUESTS: Final = [
    (
        "brevity",
        "concise",
        r"\b(be (more )?(concise|brief)|keep it (short|brief)|shorter"
        r"( answers?| please)?|too long|just (give me )?the (answer|command|steps)|tl;?dr|"
        r"less (detail|text|verbose)|(short|brief|concise) (answers?|replies|responses)|"
        r"to the point|concise)\b",
    ),
    (
        "brevity",
        "thorough",
        r"\b(more detail(ed|s)?|in (more )?detail|explain (why|more|the "
        r"reasoning|it fully|step by step)|walk me through|elaborate|thorough|too short|"
        r"(long|longer|full|detailed) (answers?|explanations?))\b",
    ),
    ("brevity", "balanced", r"\b(not too (long|short)|medium[- ]length|balanced answers?)\b"),
    (
        "format",
        "bullets",
        r"\b(?<!no )(?<!without )(bullet(ed)?( points?| lists?)?|as a list|in a list|"
        r"list format)\b",
    ),
    (
        "format",
        "prose",
        r"\b(no (bullet|bullets|lists)|in (full )?(sentences|paragraphs|"
        r"prose)|as prose|write it out)\b",
    ),
    (
        "format",
        "code_first",
        r"\b((show|give) me the code( first)?|code first|"
        r"(start|lead) with the (code|command|snippet)|just the (code|snippet))\b",
    ),
    (
        "tone",
        "formal",
        r"\b((keep|be|stay|more) (it )?(formal|professional)|formal tone|"
        r"formal,? please)\b",
    ),
    (
        "tone",
        "casual",
        r"\b((be|feel free to be|can be|keep it) (more )?(casual|informal|"
        r"relaxed)|casual (with me|tone|is fine)|no need to be formal)\b",
    ),
    (
        "expertise",
        "non_technical",
        r"\b(no jargon|without (the )?jargon|plain (english|"
        r"language|words)|(i'?m|i am) not (very )?technical|explain (it )?like i'?m|"
        r"in simple terms|simple words)\b",
    ),
    (
        "expertise",
        "technical",
        r"\b((i'?m|i am) an? (engineer|developer|programmer|sre|"
        r"devops)|skip the basics|(show|give) me the (raw|actual) (config|logs|payload))\b",
    ),
]
_COMPILED: Final = [(f, v, re.compile(p, re.IGNORECASE)) for f, v, p in _REQUESTS]

#: Terms an engineer uses and a lay user does not.
_TECHNICAL: Final = re.compile(
    r"\b(api( endpoint)?s?|endpoints?|rate[- ]limit(ing|s|ed)?|webhooks?|payloads?|json|"
    r"yaml|http ?(4|5)\d\d|status code|(4|5)\d\d errors?|oauth2?|jwt|tokens?|latency|p99|"
    r"timeouts?|stack ?trace|traceback|exception|null ?pointer|segfault|regex|schema|"
    r"migrations?|sdk|cli|curl|grpc|graphql|kubernetes|k8s|docker|container|pods?|"
    r"helm|terraform|postgres(ql)?|mysql|redis|kafka|nginx|tls|ssl cert|dns|cidr|vpc|"
    r"env(ironment)? var(iable)?s?|config (value|file|key)|header|idempotenc\w*|retr(y|ies) "
    r"(policy|logic)|backoff|concurrency|thread|async|deploy(ment|ed)?|ci/?cd|pipeline|"
    r"repo(sitory)?|commit|branch|pull request|python|java(script)?|typescript|golang|rust|"
    r"node(\.js)?|npm|pip|stderr|stdout|exit code|cron|sql|query plan|index(es)?|hash)\b",
    re.IGNORECASE,
)
#: Code, commands and stack traces: technical however few words come with them.
_CODE: Final = re.compile(
    r"(```|\bdef \w+\(|\bfunction \w*\(|=>|\w+\(\)|\{\s*\"\w+\"\s*:|Traceback \(most recent|"
    r"\bat [\w.$]+\([\w.]+:\d+\)|\$ \w+ -|--[a-z][\w-]+|\b\w+\.(py|js|ts|go|yaml|yml|json)\b|"
    r"\b[A-Z_]{3,}=\S)"
)
#: The words of someone who talks about effects, not parts.
_LAY: Final = re.compile(
    r"\b(the connection|it'?s blocked|it is blocked|the notification|the little|the button|"
    r"the thing|the screen|doesn'?t work|isn'?t working|stopped working|it says|"
    r"popped up|pop-?up|my computer|the app|the page|the website|the icon|the email thingy|"
    r"i clicked|i pressed|keeps? (saying|showing)|gone|disappeared|what does that mean|"
    r"i don'?t understand|confus(ed|ing))\b",
    re.IGNORECASE,
)
#: Product words of a capable user who is not an engineer.
_PRODUCT: Final = re.compile(
    r"\b(settings?|dashboard|integrations?|admin (panel|console)|permissions?|workspace|"
    r"export(ed)? (a |the )?(csv|report)|csv|spreadsheet|report(s|ing)?|api key|plugin|"
    r"sso|single sign-on|user roles?|billing plan|automation|zapier|template|filters?)\b",
    re.IGNORECASE,
)
#: A question that asks for more of what was just said.
_CLARIFYING: Final = re.compile(
    r"^\s*(what do you mean|what does that mean|can you explain|could you explain|why\b|"
    r"how so|meaning\??|sorry,? (what|i don'?t)|i don'?t (get|understand)|explain|"
    r"what('?s| is) (that|a|an)\b|huh)",
    re.IGNORECASE,
)
#: An answer this short, followed by a clarifying question, was too short for this user.
SHORT_ANSWER_WORDS: Final = 40


def observe(new: Sequence[str], earlier: Sequence[tuple[str, str]]) -> dict[str, str]:
    """What one exchange says about the user: field -> value, at most one value per field.

    ``new``: the user's turns this exchange added; ``earlier``: (role, text) before them."""
    found: dict[str, str] = {}
    text = "\n".join(new)
    vocabulary = _vocabulary(text)
    if vocabulary is not None:
        found["expertise"] = vocabulary
    if _after_short_answer(earlier) and any(_CLARIFYING.search(turn) for turn in new):
        found["brevity"] = "thorough"
    found.update(requested(text))
    return found


def requested(text: str) -> dict[str, str]:
    """The explicit requests in ``text``; a field asked for both ways is left out."""
    asked: dict[str, set[str]] = {}
    for name, value, pattern in _COMPILED:
        if pattern.search(text):
            asked.setdefault(name, set()).add(value)
    return {name: values.pop() for name, values in asked.items() if len(values) == 1}


def style_signals(facts: Iterable[str]) -> dict[str, str]:
    """``facts`` mode: the extraction model's style facts ("User prefers short answers") read
    with the same rules as a user's own requests."""
    return requested("\n".join(facts))


def _vocabulary(text: str) -> str | None:
    technical = len(_TECHNICAL.findall(text)) + 2 * len(_CODE.findall(text))
    lay = len(_LAY.findall(text))
    product = len(_PRODUCT.findall(text))
    if technical >= 2 and technical > lay:
        return "technical"
    if lay and lay >= technical:
        return "non_technical"
    if product or technical == 1:
        return "intermediate"
    return None


def _after_short_answer(earlier: Sequence[tuple[str, str]]) -> bool:
    if not earlier or earlier[-1][0] != "assistant":
        return False
    return len(earlier[-1][1].split()) <= SHORT_ANSWER_WORDS
