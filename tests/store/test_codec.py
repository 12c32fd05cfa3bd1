"""A memory survives both of its stored forms: Chroma's flat metadata and a snapshot's columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.store.codec import columns, decode, encode, from_columns
from gateway.store.records import Memory

CREATED = datetime(2025, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)
FULL = Memory(
    id="m-1",
    content="Prefers tea, no sugar.",
    category="preference",
    created_at=CREATED,
    updated_at=CREATED + timedelta(days=2),
    source="extraction",
    evidence=3,
    last_seen_at=CREATED + timedelta(days=9),
    status="superseded",
    superseded_by="m-2",
    metadata={"origin": "crm", "tags": ["drinks"], "score": 0.5},
    ordinal=1_740_821_415_250_000_123,
)
PLAIN = Memory("m-3", "Lives in Porto.", "fact", CREATED, CREATED, last_seen_at=CREATED)


def test_flat_metadata_holds_only_scalars_chroma_accepts() -> None:
    for memory in (FULL, PLAIN):
        metadata = encode(memory)
        assert all(isinstance(v, str | int | float | bool) for v in metadata.values())


def test_a_memory_decodes_to_what_was_encoded() -> None:
    for memory in (FULL, PLAIN):
        assert decode(memory.id, memory.content, encode(memory)) == memory


def test_a_memory_never_seen_again_was_last_seen_when_it_was_updated() -> None:
    unseen = Memory("m-4", "Has a cat.", "fact", CREATED, CREATED + timedelta(hours=1))
    decoded = decode(unseen.id, unseen.content, encode(unseen))
    assert decoded.last_seen_at == unseen.updated_at
    assert decoded.seen_at == unseen.seen_at


def test_columns_keep_every_record_and_every_gap() -> None:
    records = [FULL, None, PLAIN]
    table = columns(records)
    assert {len(values) for values in table.values()} == {3}
    assert from_columns(table) == records
