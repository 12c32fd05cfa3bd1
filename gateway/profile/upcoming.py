"""Memories due soon: a renewal, a deadline, an appointment the model may offer help with.

Event-based only: a memory is upcoming because of a date it carries (``metadata.due_at``, or a
date the extractor wrote into its text as ``YYYY-MM-DD``), never because of when or how often
the user does something.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Final

from gateway.store.index import UserIndex
from gateway.store.records import Memory

DUE_AT: Final = "due_at"
_DATE: Final = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_CACHED_USERS: Final = 1024


def due_date(memory: Memory) -> date | None:
    """The date ``memory`` is due, if it carries one."""
    raw = memory.metadata.get(DUE_AT)
    if isinstance(raw, str):
        found = _parse(raw[:10])
        if found is not None:
            return found
    match = _DATE.search(memory.content)
    return _parse(match.group(1)) if match else None


def _parse(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class DueSoon:
    """The dated memories of each user's index, found once per version of the index, so a
    request scans a user's memories only after they changed."""

    def __init__(self) -> None:
        self._dated: OrderedDict[str, tuple[int, int, int, list[tuple[date, Memory]]]] = (
            OrderedDict()
        )

    def within(self, key: str, index: UserIndex, today: date, days: int) -> Sequence[Memory]:
        version = (id(index), index.seq, len(index))
        cached = self._dated.get(key)
        if cached is None or cached[:3] != version:
            dated = [
                (due, m)
                for m in index.memories()
                if m.status == "active" and (due := due_date(m)) is not None
            ]
            cached = (*version, dated)
            self._dated[key] = cached
            while len(self._dated) > _CACHED_USERS:
                self._dated.popitem(last=False)
        self._dated.move_to_end(key)
        return [
            m for due, m in sorted(cached[3], key=lambda d: d[0]) if 0 <= (due - today).days <= days
        ]


def today() -> date:
    return datetime.now().astimezone().date()
