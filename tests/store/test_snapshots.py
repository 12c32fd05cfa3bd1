"""A snapshot restores the index it was taken from: same memories, same positions, same answers,
and the same behaviour under the writes that follow."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import RetrievalConfig
from gateway.store.index import UserIndex, Vector, build
from gateway.store.records import Memory, Scope
from gateway.store.snapshots import Generations, Snapshots

DIMENSION = 8
#: The id of the Chroma store the snapshots are taken from.
STORE = "0123456789abcdef"
SCOPE = Scope("acme", "alice")
START = datetime(2026, 3, 1, 9, 30, 15, 250_000, tzinfo=UTC)
WORDS = ["Porto", "bees", "hiking", "1987", "allergic", "peanuts", "Lisbon", "van", "blue"]
QUERIES = ["where are my bees?", "hiking near Porto in 1987", "blue van", "nothing matches"]
# Below the floor the config allows: every memory is ranked, however unrelated.
PARAMS = RetrievalConfig.model_construct(top_k=50, min_score=-1.0)
NOW = (START + timedelta(days=40)).timestamp()


def vector(text: str) -> Vector:
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    row = rng.standard_normal(DIMENSION).astype(np.float32)
    return row / np.linalg.norm(row)


def memory(number: int, words: list[int], session: int, status: str, note: str) -> Memory:
    created = START + timedelta(hours=session)
    return Memory(
        id=f"m{number}",
        content=" ".join(WORDS[w] for w in words) or "empty",
        category=("fact", "preference", "session")[number % 3],
        created_at=created,
        updated_at=created + timedelta(minutes=number),
        source="extracted" if number % 2 else "api",
        evidence=1 + number % 4,
        last_seen_at=None if number % 5 else created + timedelta(days=number),
        status=status,  # type: ignore[arg-type]
        superseded_by="m0" if status == "superseded" else None,
        metadata={"note": note} if note else {},
        ordinal=number,
    )


# One write: (memory number, its words, its session, status, metadata note), or a removal.
Change = tuple[int, list[int], int, str, str] | int
writes = st.lists(
    st.one_of(
        st.tuples(
            st.integers(0, 30),
            st.lists(st.integers(0, len(WORDS) - 1), max_size=6),
            st.integers(0, 3),
            st.sampled_from(["active", "active", "superseded", "pending"]),
            st.sampled_from(["", "café ☕", '{"nested": [1, 2]}']),
        ),
        st.integers(0, 30),
    ),
    max_size=60,
)


def apply(index: UserIndex, changes: list[Change]) -> None:
    for change in changes:
        if isinstance(change, int):
            index.remove(f"m{change}")
        else:
            item = memory(*change)
            index.put(item, vector(item.content))


def assert_same(restored: UserIndex, original: UserIndex) -> None:
    assert len(restored) == len(original)
    assert restored.memories() == original.memories()
    for item in original.memories():
        assert restored.get(item.id) == item
        assert np.array_equal(restored.vector_at(item.id), original.vector_at(item.id))
    for query in QUERIES:
        expected = original.search(vector(query), query, PARAMS, now=NOW)
        assert restored.search(vector(query), query, PARAMS, now=NOW) == expected


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=writes, after=writes)
def test_a_restored_index_answers_and_changes_as_the_original(
    tmp_path: Path,
    before: list[Change],
    after: list[Change],
) -> None:
    original = UserIndex(DIMENSION, seq=3)
    apply(original, before)
    snapshots = Snapshots(tmp_path)
    snapshots.save(SCOPE, original, STORE)
    restored = snapshots.load(SCOPE, 3, DIMENSION, STORE)
    assert restored is not None
    assert_same(restored, original)
    # Updates, removals and compaction go on from the restored positions and threads.
    apply(original, after)
    apply(restored, after)
    assert_same(restored, original)


def test_a_large_user_round_trips_through_its_file(tmp_path: Path) -> None:
    items = [
        (memory(n, [n % len(WORDS), (n * 7) % len(WORDS)], n % 40, "active", ""), vector(str(n)))
        for n in range(3000)
    ]
    original = build(DIMENSION, 9, items)
    for n in range(0, 3000, 7):
        original.remove(f"m{n}")
    snapshots = Snapshots(tmp_path)
    snapshots.save(SCOPE, original, STORE)
    restored = snapshots.load(SCOPE, 9, DIMENSION, STORE)
    assert restored is not None
    assert_same(restored, original)


def saved_file(tmp_path: Path) -> tuple[Snapshots, Path]:
    index = build(DIMENSION, 1, [(memory(1, [0, 1], 0, "active", ""), vector("x"))])
    snapshots = Snapshots(tmp_path)
    snapshots.save(SCOPE, index, STORE)
    [path] = tmp_path.rglob("*.snap")
    return snapshots, path


def header_of(data: bytes) -> tuple[dict[str, Any], int]:
    """A snapshot file's header, and the offset where its arrays begin."""
    end = 16 + int.from_bytes(data[8:16], "little")
    return orjson.loads(data[16:end]), end


def rewrite_header(path: Path, **changes: object) -> None:
    data = path.read_bytes()
    header, end = header_of(data)
    header.update(changes)
    encoded = orjson.dumps(header)
    path.write_bytes(data[:8] + len(encoded).to_bytes(8, "little") + encoded + data[end:])


def test_a_snapshot_loads_only_for_its_scope_generation_and_dimension(tmp_path: Path) -> None:
    snapshots, _ = saved_file(tmp_path)
    assert snapshots.load(SCOPE, 1, DIMENSION, STORE) is not None
    assert snapshots.load(SCOPE, 2, DIMENSION, STORE) is None
    assert snapshots.load(SCOPE, 1, DIMENSION * 2, STORE) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data + b"\0\0\0\0",
        lambda data: data[:-4],
        lambda data: b"GWSNAP1\n" + data[8:],
    ],
    ids=["trailing bytes", "truncated", "older format"],
)
def test_a_damaged_or_older_snapshot_is_a_miss(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    snapshots, path = saved_file(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    assert snapshots.load(SCOPE, 1, DIMENSION, STORE) is None


def test_a_snapshot_pointing_past_its_positions_is_a_miss(tmp_path: Path) -> None:
    snapshots, path = saved_file(tmp_path)
    data = path.read_bytes()
    header, _ = header_of(data)
    # One document, so one posting per term; the file ends with their documents, then counts.
    counts_start = len(data) - 4 * len(header["terms"])
    last_document = counts_start - 4
    path.write_bytes(data[:last_document] + (7).to_bytes(4, "little") + data[counts_start:])
    assert snapshots.load(SCOPE, 1, DIMENSION, STORE) is None


def test_postings_from_another_lexicon_are_not_trusted(tmp_path: Path) -> None:
    snapshots, path = saved_file(tmp_path)
    rewrite_header(path, lexicon=0)
    assert snapshots.load(SCOPE, 1, DIMENSION, STORE) is None


def test_a_snapshot_of_another_store_is_never_loaded(tmp_path: Path) -> None:
    snapshots, _ = saved_file(tmp_path)
    assert snapshots.load(SCOPE, 1, DIMENSION, STORE) is not None
    assert snapshots.load(SCOPE, 1, DIMENSION, "another-store") is None


def test_generations_of_another_store_are_dropped(tmp_path: Path) -> None:
    generations = Generations(tmp_path / "gateway.sqlite3")
    assert generations.adopt("store-a") is False  # a fresh directory: nothing to drop
    generations.bump(SCOPE)
    assert generations.adopt("store-a") is False
    assert generations.current(SCOPE) == 1
    assert generations.adopt("store-b") is True
    assert generations.current(SCOPE) == 0
    generations.close()
