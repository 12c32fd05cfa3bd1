"""Whose a memory is (``Scope``) and how the HTTP API shows one (``Memory.public``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from gateway.store.records import MEMORY_FIELDS, Memory, Scope

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_scope_keys_never_collide_by_concatenation_and_are_exact() -> None:
    keys = {
        Scope("ab", "c").key,
        Scope("a", "bc").key,
        Scope("a", "b|c").key,
        Scope("a|b", "c").key,
        Scope("acme", "Alice").key,
        Scope("acme", "alice").key,
        Scope("acme", "alice ").key,
        Scope("acme", "e\u0301").key,  # e + combining accent
        Scope("acme", "\u00e9").key,  # the precomposed letter
    }
    assert len(keys) == 9


def test_a_scope_key_is_stable_and_a_hex_digest() -> None:
    key = Scope("acme", "alice").key
    assert key == Scope("acme", "alice").key
    assert len(key) == 64 and int(key, 16) >= 0


def test_public_shows_utc_times_with_z_and_last_seen_falls_back_to_updated() -> None:
    offset = timezone(timedelta(hours=2))
    memory = Memory(
        "m1",
        "Lives in Porto.",
        "fact",
        created_at=CREATED,
        updated_at=datetime(2026, 1, 3, 12, 0, tzinfo=offset),
        metadata={"kind": "x"},
    )
    shown = memory.public()
    assert shown == {
        "id": "m1",
        "content": "Lives in Porto.",
        "category": "fact",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-03T10:00:00Z",
        "last_seen_at": "2026-01-03T10:00:00Z",
        "source": "api",
        "evidence": 1,
        "status": "active",
        "superseded_by": None,
        "metadata": {"kind": "x"},
    }
    seen = Memory("m1", "x", "fact", CREATED, CREATED, last_seen_at=CREATED + timedelta(days=1))
    assert seen.public()["last_seen_at"] == "2026-01-03T03:04:05Z"


def test_memory_fields_are_in_the_order_the_constructor_takes_them() -> None:
    memory = Memory("m1", "x", "fact", CREATED, CREATED, "extracted", 3, None, "pending")
    values = [getattr(memory, name) for name in MEMORY_FIELDS]
    assert Memory(*values) == memory
    assert MEMORY_FIELDS[:5] == ("id", "content", "category", "created_at", "updated_at")
