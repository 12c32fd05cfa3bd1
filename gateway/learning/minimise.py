"""Data minimisation: what of the model's answer may be stored, and in what shape.

Every fact passes through here before it can reach the store: a blocked category (contact
details, ids, card numbers, passwords, credentials) drops it; ``scrub`` takes personal data and
secrets out of the rest; a fact that is nothing but placeholders afterwards ("User's email is
[email]") is dropped too. Categories the configuration does not allow become ``general``, so a
user cannot talk a fact into an operator's category such as ``compliance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from gateway.learning.scrub import is_only_placeholders, scrub
from gateway.learning.similarity import normalised

#: The category the model uses for how the user wants answers written (tone, length, format).
STYLE: Final = "style"
FALLBACK_CATEGORY: Final = "general"
MAX_FACT_CHARS: Final = 500
MAX_TURN_CHARS: Final = 2000
#: Other spellings a model may use for the blocked categories.
_ALIASES: Final = {
    "email_address": "email",
    "e_mail": "email",
    "phone_number": "phone",
    "telephone": "phone",
    "postal_address": "address",
    "home_address": "address",
    "street_address": "address",
    "national_id": "government_id",
    "passport": "government_id",
    "ssn": "government_id",
    "tax_id": "government_id",
    "credit_card": "payment_card",
    "card": "payment_card",
    "bank_account": "payment_card",
    "iban": "payment_card",
    "pin": "password",
    "credential": "credentials",
    "api_key": "credentials",
    "token": "credentials",
    "secret": "credentials",
}


@dataclass(frozen=True, slots=True)
class RawFact:
    """A fact as the model gave it: nothing about it is trusted yet."""

    content: str
    category: str


@dataclass(frozen=True, slots=True)
class Fact:
    """A fact fit to store."""

    content: str
    category: str
    #: A style preference: it feeds the user's profile instead of being stored as a memory.
    style: bool = False


@dataclass(frozen=True, slots=True)
class Policy:
    #: Categories a fact may be stored under.
    categories: frozenset[str]
    blocked: frozenset[str]

    @property
    def fallback(self) -> str | None:
        return FALLBACK_CATEGORY if FALLBACK_CATEGORY in self.categories else None

    @property
    def style_category(self) -> str | None:
        return "preference" if "preference" in self.categories else self.fallback


@dataclass(frozen=True, slots=True)
class Minimised:
    facts: list[Fact]
    #: Facts dropped as personal data: a blocked category, or nothing left after scrubbing.
    blocked: int


def minimise(raw: Iterable[RawFact], policy: Policy, max_chars: int = MAX_FACT_CHARS) -> Minimised:
    """The facts that may be stored, scrubbed, without repeats."""
    facts: list[Fact] = []
    seen: set[str] = set()
    blocked = 0
    for item in raw:
        label = _label(item.category)
        if label in policy.blocked:
            blocked += 1
            continue
        category = _category(label, policy)
        text = " ".join(item.content.split())[:max_chars]
        cleaned = scrub(text).text
        if is_only_placeholders(cleaned):
            blocked += 1 if text else 0
            continue
        key = normalised(cleaned)
        if category is None or key in seen:
            continue
        seen.add(key)
        facts.append(Fact(cleaned, category, style=label == STYLE))
    return Minimised(facts, blocked)


def turn_facts(turns: Sequence[str], policy: Policy) -> Minimised:
    """``extraction.mode: turns``: the user's own words, scrubbed, as ``general`` memories."""
    category = policy.fallback or FALLBACK_CATEGORY
    return minimise((RawFact(turn, category) for turn in turns), policy, MAX_TURN_CHARS)


def encode_facts(facts: Sequence[Fact]) -> bytes:
    return orjson.dumps([[f.content, f.category, f.style] for f in facts])


def decode_facts(data: bytes) -> list[Fact]:
    return [Fact(content, category, bool(style)) for content, category, style in orjson.loads(data)]


def _label(category: str) -> str:
    label = "_".join(category.strip().lower().replace("-", " ").split())
    return _ALIASES.get(label, label)


def _category(label: str, policy: Policy) -> str | None:
    if label == STYLE:
        return policy.style_category
    return label if label in policy.categories else policy.fallback
