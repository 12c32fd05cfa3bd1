"""Choosing what fits: highest priority first, then relevance; whole items only.

The rendered block, template included, never exceeds the budget: items are chosen greedily by
their exact cost, and the final block is counted again and trimmed if tokenizer merges at the
seams made it grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from gateway.tokens import TokenCounter

#: No note fits in fewer tokens than this ("\n- x"): stop looking once the room is smaller.
_SMALLEST_ITEM = 3
#: Ranked candidates tried in a row without one fitting before the rest are not looked at.
_GIVE_UP_AFTER = 50


@dataclass(frozen=True, slots=True)
class Candidate:
    """Something that may be injected: a memory, or a piece of the tenant's context."""

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


def date_heading(dated: date) -> str:
    return f"### {dated.isoformat()}"


def render(items: Sequence[Candidate], template: str) -> str:
    """The block for ``items``: a heading per category in priority order, and within it a
    heading per date, oldest first, so each date is written once however many notes share it."""
    if not items:
        return ""
    ordered = sorted(items, key=_reading_order)
    lines: list[str] = []
    category: str | None = None
    dated: date | None = None
    for item in ordered:
        if item.category != category:
            lines.append(heading(item.category))
            category, dated = item.category, None
        if item.dated is not None and item.dated != dated:
            lines.append(date_heading(item.dated))
            dated = item.dated
        lines.append(render_item(item))
    return template.replace("{memories}", "\n".join(lines))


def _reading_order(item: Candidate) -> tuple[int, str, date, float]:
    return (-item.priority, item.category, item.dated or date.min, -item.relevance)


def select(
    candidates: Sequence[Candidate], budget: int, counter: TokenCounter, template: str
) -> Selection:
    ranked = sorted(candidates, key=lambda c: (-c.priority, -c.relevance))
    chosen: list[Candidate] = []
    headings: set[str] = set()
    used = counter.count(template.replace("{memories}", ""))
    misses = 0
    for item in ranked:
        if budget - used < _SMALLEST_ITEM or misses >= _GIVE_UP_AFTER:
            break
        new = [(key, line) for key, line in _headings(item) if key not in headings]
        lines = [line for _, line in new] + [render_item(item)]
        # Counted as it sits in the block, newline after: tokenizers merge ".\n" into one.
        cost = sum(counter.count_line(line + "\n") for line in lines)
        if used + cost > budget:
            misses += 1
            continue
        chosen.append(item)
        headings.update(key for key, _ in new)
        used += cost
        misses = 0
    block = render(chosen, template)
    tokens = counter.count(block) if block else 0
    while chosen and tokens > budget:
        chosen.pop()
        block = render(chosen, template)
        tokens = counter.count(block) if block else 0
    return Selection(block, tuple(chosen), tokens, budget, len(candidates) - len(chosen))


def _headings(item: Candidate) -> list[tuple[str, str]]:
    """The headings ``item`` sits under, as (identity, line) pairs."""
    category = heading(item.category)
    if item.dated is None:
        return [(category, category)]
    return [(category, category), (f"{item.category}|{item.dated}", date_heading(item.dated))]


def available_budget(
    configured: int, context_window: int, prompt_tokens: int, reply_reserve: int
) -> int:
    """The smaller of the configured budget and the room the model has left."""
    return max(0, min(configured, context_window - prompt_tokens - reply_reserve))
