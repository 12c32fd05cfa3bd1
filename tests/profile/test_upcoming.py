"""Memories due soon: by ``metadata.due_at`` or a date in the text, found once per index version."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import numpy as np
import pytest

from gateway.profile import upcoming
from gateway.profile.upcoming import DueSoon, due_date
from gateway.store.index import UserIndex, build
from gateway.store.records import Memory

TODAY = date(2026, 12, 4)
NOW = datetime(2026, 12, 4, tzinfo=UTC)


def memory(content: str, **metadata: str) -> Memory:
    return Memory(content, content, "fact", NOW, NOW, metadata=metadata)


def index_of(*memories: Memory) -> UserIndex:
    return build(4, 1, [(m, np.ones(4, dtype=np.float32) / 2) for m in memories])


def test_the_due_date_comes_from_metadata_or_the_text() -> None:
    assert due_date(memory("Renewal.", due_at="2026-12-10T09:00:00Z")) == date(2026, 12, 10)
    assert due_date(memory("Renewal on 2026-12-10.")) == date(2026, 12, 10)
    assert due_date(memory("Renewal on 2026-13-40.")) is None
    assert due_date(memory("Likes tea.", due_at="soon")) is None


@pytest.mark.asyncio
async def test_only_what_is_due_within_the_window_in_date_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = index_of(
        memory("Audit on 2026-12-12."),
        memory("Renewal on 2026-12-06."),
        memory("Launch on 2027-03-01."),
        memory("Moved on 2026-11-01."),
    )
    found = DueSoon().within("u", index, TODAY, 14)
    assert [m.content for m in found] == ["Renewal on 2026-12-06.", "Audit on 2026-12-12."]
    # A large user is scanned on a thread: the first request goes on without waiting.
    monkeypatch.setattr(upcoming, "INLINE_SCAN", 0)
    due = DueSoon()
    assert due.within("u", index, TODAY, 14) == []
    await asyncio.sleep(0.2)
    assert len(due.within("u", index, TODAY, 14)) == 2
