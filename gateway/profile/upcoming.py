"""Memories due soon: a renewal, a deadline, an appointment the model may offer help with.

Event-based only: a memory is upcoming because of a date it carries (``metadata.due_at``, or a
date the extractor wrote into its text as ``YYYY-MM-DD``), never because of when or how often
the user does something.
"""

from __future__ import annotations

import asyncio
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


#: Users with more memories than this are scanned on a worker thread, not on the event loop.
INLINE_SCAN = 2000
_Version = tuple[int, int, int]


class DueSoon:
    """The dated memories of each user's index, found once per version of the index, so a
    request scans a user's memories only after they changed. A large user is scanned on a
    worker thread while requests go on with the dates found before."""

    def __init__(self) -> None:
        self._dated: OrderedDict[str, tuple[_Version, list[tuple[date, Memory]]]] = OrderedDict()
        self._scanning: dict[str, asyncio.Task[None]] = {}

    def within(self, key: str, index: UserIndex, today: date, days: int) -> Sequence[Memory]:
        version = (id(index), index.seq, len(index))
        cached = self._dated.get(key)
        if cached is None or cached[0] != version:
            if len(index) <= INLINE_SCAN:
                self._remember(key, version, _scan(index))
            elif key not in self._scanning:
                task = asyncio.ensure_future(self._scan_later(key, version, index))
                self._scanning[key] = task
                task.add_done_callback(lambda _: self._scanning.pop(key, None))
        found = self._dated.get(key)
        if found is None:
            return []
        self._dated.move_to_end(key)
        return [m for due, m in found[1] if 0 <= (due - today).days <= days]

    async def _scan_later(self, key: str, version: _Version, index: UserIndex) -> None:
        self._remember(key, version, await asyncio.to_thread(_scan, index))

    def _remember(self, key: str, version: _Version, dated: list[tuple[date, Memory]]) -> None:
        self._dated[key] = (version, dated)
        while len(self._dated) > _CACHED_USERS:
            self._dated.popitem(last=False)


def _scan(index: UserIndex) -> list[tuple[date, Memory]]:
    dated = [(due, m) for m in index.memories() if m.status == "active" and (due := due_date(m))]
    return sorted(dated, key=lambda pair: pair[0])


def today() -> date:
    return datetime.now().astimezone().date()
