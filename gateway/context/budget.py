"""The context budget: how many tokens of memories a request gets, and which of them fit.

How many (``request_budget``): the ``X-Context-Budget`` header's ask, else
``context.budget_tokens``; never more than ``context.max_budget_tokens``, and never more than the
room the model has left once the prompt and the reply's reserve (the request's ``max_tokens``,
else ``context.reply_reserve_tokens``) are counted.

Which (``select``): highest priority first, then relevance; whole items only, and each text
once: a note whose line repeats a chosen note's (case and spacing aside) adds nothing a model
could use, so it is passed over (``Selection.repeated``) and its room goes to the next.
The rendered block, template included, never exceeds the budget: items are chosen greedily by
their cost as lines, then the block is counted exactly and trimmed if tokenizer merges at its
seams made it grow. That count adds up the lines' remembered counts, with no full recount: every
line starts with "#" or "-", which the tokenizer never merges with the newline before it
(``TokenCounter.count_joined``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from gateway.config import ContextConfig
from gateway.context.injection import text_of
from gateway.errors import InvalidRequest
from gateway.tokens import TokenCounter
from gateway.types import ChatRequest

#: No note fits in fewer tokens than this ("\n- x"): stop looking once the room is smaller.
_SMALLEST_ITEM = 3
#: Ranked candidates tried in a row without one fitting before the rest are not looked at.
_GIVE_UP_AFTER = 50
_SLOT = "{memories}"
#: Prompts longer than this are counted on a worker thread, off the event loop.
_INLINE_COUNT_CHARS = 20_000
#: Per-message framing tokens in the chat format (role, separators).
_MESSAGE_OVERHEAD = 4


class Candidate(NamedTuple):
    """Something that may be injected: a memory, or a piece of the tenant's context.

    A named tuple rather than a frozen dataclass: a request builds one per retrieved memory, and a
    frozen dataclass takes ~2 us to build against ~0.5 us for a tuple."""

    content: str
    category: str
    priority: int
    relevance: float = 0.0
    dated: date | None = None
    memory_id: str | None = None


@dataclass(frozen=True, slots=True)
class Selection:
    block: str
    items: tuple[Candidate, ...]
    tokens: int
    budget: int
    #: Candidates left out because they did not fit.
    dropped: int
    #: Candidates left out because a chosen one reads the same.
    repeated: int = 0


#: A chosen candidate with its line in the block, rendered once.
_Chosen = tuple[Candidate, str]
#: What a heading is for: a category, or a year or a date within a category.
_HeadingKey = str | tuple[str, int] | tuple[str, date]
#: English month names whatever the locale: the block's own words are English.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def neutralize(text: str) -> str:
    """Make a note's text inert inside the block: one line, no delimiter or role markers.

    Newlines are what a forged "system:" line or a fake end of the block needs; angle brackets
    are what a forged ``</memory>`` tag or chat-template token (``<|im_start|>``) needs."""
    single_line = " ".join(text.split())
    # Single guillemets read the same to a model but match no tag or template token.
    return single_line.replace("<", "\u2039").replace(">", "\u203a")


def render_item(item: Candidate) -> str:
    return "- " + neutralize(item.content)


def heading(category: str) -> str:
    return f"## {category}"


def year_heading(year: int) -> str:
    return f"### {year:04d}"


def date_heading(dated: date) -> str:
    # "18 March" under its year's heading: 5 tokens in either encoding, against 9 for the
    # ISO date; a block at 1,000 tokens carries ~15 of them.
    return f"#### {dated.day} {_MONTHS[dated.month - 1]}"


def _fill(template: str, lines: list[str]) -> str:
    return template.replace(_SLOT, "\n".join(lines))


def _lines(chosen: Sequence[_Chosen]) -> list[str]:
    """The block's lines between the template's head and tail, in reading order: a heading per
    category in priority order, and within it a heading per year and per day, oldest first, so
    each is written once however many notes share it."""
    lines: list[str] = []
    category: str | None = None
    dated: date | None = None
    for item, line in sorted(chosen, key=_reading_order):
        if item.category != category:
            lines.append(heading(item.category))
            category, dated = item.category, None
        if item.dated is not None and item.dated != dated:
            if dated is None or item.dated.year != dated.year:
                lines.append(year_heading(item.dated.year))
            lines.append(date_heading(item.dated))
            dated = item.dated
        lines.append(line)
    return lines


def _reading_order(chosen: _Chosen) -> tuple[int, str, date, float]:
    item = chosen[0]
    return (-item.priority, item.category, item.dated or date.min, -item.relevance)


def select(
    candidates: Sequence[Candidate], budget: int, counter: TokenCounter, template: str
) -> Selection:
    order = rank_order([c.priority for c in candidates], [c.relevance for c in candidates])
    ranked = [candidates[i] for i in order]
    return select_ranked(ranked, len(candidates), budget, counter, template)


def select_ranked(
    ranked: Iterable[Candidate],
    offered: int,
    budget: int,
    counter: TokenCounter,
    template: str,
    limits: Mapping[str, int] | None = None,
) -> Selection:
    """``select`` for ``offered`` candidates already in ``rank_order``, read only as far as the
    choice needs: a request ranks ~200 hits but a 1,000-token budget is settled after ~90, so
    the rest need never be built. ``limits`` caps the tokens a category's lines (heading
    included) may take, whatever its priority."""
    chosen, repeated = _choose(ranked, budget, counter, template, limits or {})
    lines = _lines(chosen)
    tokens = _block_tokens(lines, template, counter)
    while chosen and tokens > budget:
        chosen.pop()
        lines = _lines(chosen)
        tokens = _block_tokens(lines, template, counter)
    block = _fill(template, lines) if chosen else ""
    items = tuple(item for item, _ in chosen)
    return Selection(block, items, tokens, budget, offered - len(items) - repeated, repeated)


def rank_order(priorities: Sequence[int], relevances: Sequence[float]) -> list[int]:
    """Positions ``i`` by ``priorities[i]``, then ``relevances[i]``, both highest first, ties in
    the given order.

    Two stable sorts on plain keys give the order of one sort on a (-priority, -relevance) key,
    at a third of the cost."""
    order = sorted(range(len(priorities)), key=relevances.__getitem__, reverse=True)
    order.sort(key=priorities.__getitem__, reverse=True)
    return order


def _choose(
    ranked: Iterable[Candidate],
    budget: int,
    counter: TokenCounter,
    template: str,
    limits: Mapping[str, int],
) -> tuple[list[_Chosen], int]:
    """Greedily, by rank, the candidates whose lines (and new headings) still fit, within their
    category's limit, and that no chosen one reads the same as; and how many were passed over
    as repeats."""
    chosen: list[_Chosen] = []
    headings: set[_HeadingKey] = set()
    said: set[str] = set()
    repeated = 0
    spent = dict.fromkeys(limits, 0)
    used = counter.count_line(template.replace(_SLOT, ""))
    misses = 0
    count_line = counter.count_line
    for item in ranked:
        if budget - used < _SMALLEST_ITEM or misses >= _GIVE_UP_AFTER:
            break
        line = render_item(item)
        # Case folded, not stripped of punctuation: every repeat our evaluation sets showed was
        # the same text, and the fold costs 0.1 us a note against ~2 us for a word split.
        said_as = line.casefold()
        if said_as in said:
            repeated += 1
            continue
        # Counted as it sits in the block, newline after: tokenizers merge ".\n" into one.
        cost = count_line(line + "\n")
        new = _new_headings(item, headings)
        for _, text in new:
            cost += count_line(text + "\n")
        limited = item.category in spent
        if used + cost > budget or (
            limited and spent[item.category] + cost > limits[item.category]
        ):
            misses += 1
            continue
        if limited:
            spent[item.category] += cost
        chosen.append((item, line))
        said.add(said_as)
        for key, _ in new:
            headings.add(key)
        used += cost
        misses = 0
    return chosen, repeated


def _new_headings(item: Candidate, seen: set[_HeadingKey]) -> list[tuple[_HeadingKey, str]]:
    """The headings ``item`` sits under that are not in ``seen``, as (key, line) pairs."""
    new: list[tuple[_HeadingKey, str]] = []
    if item.category not in seen:
        new.append((item.category, heading(item.category)))
    if item.dated is not None:
        year = (item.category, item.dated.year)
        if year not in seen:
            new.append((year, year_heading(item.dated.year)))
        key = (item.category, item.dated)
        if key not in seen:
            new.append((key, date_heading(item.dated)))
    return new


def _block_tokens(lines: list[str], template: str, counter: TokenCounter) -> int:
    """Exactly ``counter.count`` of the block the lines make, from the lines' remembered counts."""
    if not lines:
        return 0
    body = [line + "\n" for line in lines[:-1]]
    head, *tails = template.split(_SLOT)
    pieces = [head]
    for tail in tails:
        pieces += body
        # The tail's opening newline goes with the last line, so that line's count is the one
        # remembered from choosing, and the join after it is clean when the tail allows.
        if tail.startswith("\n"):
            pieces += [lines[-1] + "\n", tail[1:]]
        else:
            pieces += [lines[-1], tail]
    return counter.count_joined(pieces)


def available_budget(
    configured: int, context_window: int, prompt_tokens: int, reply_reserve: int
) -> int:
    """The smaller of the configured budget and the room the model has left."""
    return max(0, min(configured, context_window - prompt_tokens - reply_reserve))


def requested_budget(value: str | None) -> int | None:
    """The tokens an ``X-Context-Budget`` header asks for; None without the header."""
    if value is None:
        return None
    value = value.strip()
    # isdigit() alone admits "²"; int() refuses numbers of 4,300+ digits.
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise InvalidRequest(
            "Invalid 'X-Context-Budget' header: expected a whole number of tokens.",
            param="X-Context-Budget",
        )
    return int(value)


async def request_budget(
    requested: int | None,
    chat: ChatRequest,
    context_window: int,
    counter: TokenCounter,
    settings: ContextConfig,
) -> int:
    """The tokens of memories ``chat`` may carry to a model with ``context_window`` tokens."""
    configured = settings.budget_tokens if requested is None else requested
    return available_budget(
        min(configured, settings.max_budget_tokens),
        context_window,
        await prompt_tokens(chat.messages, counter),
        reply_reserve(chat.body, settings.reply_reserve_tokens),
    )


def reply_reserve(body: dict[str, Any], default: int) -> int:
    """The tokens kept for the reply: the request's own limit, else ``default``."""
    # max_output_tokens is the Responses API's name for it.
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return default


async def prompt_tokens(messages: list[dict[str, Any]], counter: TokenCounter) -> int:
    """The tokens the messages take in the chat format."""
    # The count of the messages' texts joined by newlines, message by message: a client resends
    # the whole conversation every turn, and count_history remembers what it has counted.
    texts = [text_of(m.get("content")) for m in messages]
    pieces = [text + "\n" for text in texts[:-1]] + texts[-1:]
    framing = _MESSAGE_OVERHEAD * len(messages)
    if sum(map(len, pieces)) <= _INLINE_COUNT_CHARS:
        return counter.count_history(pieces) + framing
    return await asyncio.to_thread(counter.count_history, pieces) + framing
