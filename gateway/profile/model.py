"""What a user profile holds: typed fields, each with its value, where it came from and why.

A field is ``set`` (by the operator or the user, through the API) or ``inferred`` (from the
user's exchanges). Inference proposes a value as a ``Candidate`` and only changes the field once
enough separate exchanges agree (``gateway.profile.evidence``); a ``set`` field is never touched
by inference. Observations are recorded by id (the exchange's job id), never by text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Literal

import orjson

Source = Literal["inferred", "set"]
Value = str | tuple[str, ...]

#: Fields whose value is one of a fixed set; the only ones inference may change.
CHOICES: Final[Mapping[str, tuple[str, ...]]] = {
    "expertise": ("technical", "intermediate", "non_technical"),
    "brevity": ("concise", "balanced", "thorough"),
    "format": ("bullets", "prose", "code_first"),
    "tone": ("casual", "neutral", "formal"),
}
#: Free-text fields, with their longest allowed value.
TEXTS: Final[Mapping[str, int]] = {
    "language": 64,
    "role": 200,
    "followup": 200,
    "instructions": 1000,
}
LIST_FIELDS: Final = ("stack",)
MAX_STACK_ITEMS: Final = 20
MAX_STACK_ITEM_CHARS: Final = 64
#: Every field, in the order the profile section renders them.
FIELDS: Final = (*CHOICES, "language", "role", *LIST_FIELDS, "followup", "instructions")
#: Observation ids kept per field: enough to explain a value, bounded however long the user stays.
MAX_OBSERVATIONS: Final = 16


@dataclass(frozen=True, slots=True)
class FieldState:
    """One field's current value."""

    value: Value
    source: Source
    #: Separate observations that support the value (1 for a ``set`` field).
    evidence: int
    #: When the value was set or last confirmed (UTC epoch seconds).
    updated_at: float
    #: The exchanges (job ids) behind an inferred value, newest last.
    observations: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        return {
            "value": list(self.value) if isinstance(self.value, tuple) else self.value,
            "source": self.source,
            "evidence": self.evidence,
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    """A value inference has seen but not yet often enough to apply."""

    value: str
    observations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """The gist of a user's memories, for when they do not fit the budget."""

    text: str
    #: How many memories the user had when it was written.
    memories: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class Profile:
    fields: Mapping[str, FieldState] = field(default_factory=dict)
    candidates: Mapping[str, Candidate] = field(default_factory=dict)
    summary: Summary | None = None

    def with_field(self, name: str, state: FieldState | None) -> Profile:
        fields = {k: v for k, v in self.fields.items() if k != name}
        if state is not None:
            fields[name] = state
        candidates = {k: v for k, v in self.candidates.items() if k != name}
        return replace(self, fields=fields, candidates=candidates)

    def fresh(self, now: float, stale_after_s: float) -> Profile:
        """The profile without the inferred fields nobody has confirmed for ``stale_after_s``."""
        kept = {
            name: state
            for name, state in self.fields.items()
            if state.source == "set" or now - state.updated_at <= stale_after_s
        }
        return self if len(kept) == len(self.fields) else replace(self, fields=kept)

    @property
    def empty(self) -> bool:
        return not self.fields and not self.candidates and self.summary is None

    def public(self, user: str) -> dict[str, Any]:
        """The profile as ``GET /v1/users/{user_id}/profile`` shows it."""
        return {
            "object": "user.profile",
            "user_id": user,
            "fields": {name: self.fields[name].public() for name in FIELDS if name in self.fields},
            "summary": self.summary.text if self.summary else None,
        }

    def export(self, user: str) -> dict[str, Any]:
        """Everything stored, for a user's data export: the observation ids too."""
        shown = self.public(user)
        for name, state in self.fields.items():
            shown["fields"][name]["observations"] = list(state.observations)
        shown["candidates"] = {
            name: {"value": c.value, "observations": list(c.observations)}
            for name, c in self.candidates.items()
        }
        if self.summary is not None:
            shown["summary_updated_at"] = iso(self.summary.updated_at)
        return shown


def encode(profile: Profile) -> str:
    return orjson.dumps(
        {
            "fields": {
                name: [_plain(s.value), s.source, s.evidence, s.updated_at, list(s.observations)]
                for name, s in profile.fields.items()
            },
            "candidates": {
                name: [c.value, list(c.observations)] for name, c in profile.candidates.items()
            },
            "summary": None
            if profile.summary is None
            else [profile.summary.text, profile.summary.memories, profile.summary.updated_at],
        }
    ).decode()


def decode(text: str) -> Profile:
    raw = orjson.loads(text)
    fields = {
        name: FieldState(
            tuple(value) if isinstance(value, list) else value,
            source,
            evidence,
            updated_at,
            tuple(observations),
        )
        for name, (value, source, evidence, updated_at, observations) in raw["fields"].items()
    }
    candidates = {
        name: Candidate(value, tuple(observations))
        for name, (value, observations) in raw["candidates"].items()
    }
    summary = raw["summary"]
    return Profile(fields, candidates, None if summary is None else Summary(*summary))


def iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _plain(value: Value) -> str | list[str]:
    return list(value) if isinstance(value, tuple) else value
