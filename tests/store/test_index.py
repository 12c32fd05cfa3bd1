"""One user's in-memory index: writes replace by id, removed memories are never found again
(compaction included), only active memories are near, and a saved index restores exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from gateway.config import RetrievalConfig
from gateway.store.index import UserIndex, Vector, build
from gateway.store.records import Memory, Status

DIMENSION = 4
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
DENSE = RetrievalConfig(mode="dense", half_life_days=None, thread_weight=0.0, evidence_weight=0.0)


def unit(*values: float) -> Vector:
    vector = np.array(values, dtype=np.float32)
    normalised: Vector = vector / np.linalg.norm(vector)
    return normalised


def memory(memory_id: str, content: str, status: Status = "active", minutes: int = 0) -> Memory:
    moment = CREATED + timedelta(minutes=minutes)
    return Memory(memory_id, content, "fact", moment, moment, status=status)


def test_a_put_with_the_same_id_replaces_the_memory_and_its_vector() -> None:
    index = UserIndex(DIMENSION)
    index.put(memory("m1", "Lives in Porto."), unit(1, 0, 0, 0))
    index.put(memory("m1", "Lives in Lisbon."), unit(0, 1, 0, 0))
    assert len(index) == 1 and "m1" in index
    assert index.get("m1") == memory("m1", "Lives in Lisbon.")
    assert np.allclose(index.vector_at("m1"), unit(0, 1, 0, 0))
    [hit] = index.search(unit(0, 1, 0, 0), "Lisbon", DENSE)
    assert hit.memory.content == "Lives in Lisbon." and hit.dense > 0.99


def test_nearest_finds_only_active_memories_most_similar_first() -> None:
    index = build(
        DIMENSION,
        0,
        [
            (memory("a", "a"), unit(1, 0, 0, 0)),
            (memory("b", "b"), unit(1, 1, 0, 0)),
            (memory("c", "c", status="superseded"), unit(1, 0.01, 0, 0)),
            (memory("d", "d", status="pending"), unit(1, 0, 0, 0)),
            (memory("e", "e"), unit(0, 0, 0, 1)),
        ],
    )
    found = index.nearest(unit(1, 0, 0, 0), 2)
    assert [m.id for m, _ in found] == ["a", "b"]
    assert found[0][1] > found[1][1]
    assert {m.id for m in index.memories()} == {"a", "b", "c", "d", "e"}  # all kept for export


def test_removed_memories_are_never_found_even_after_compaction() -> None:
    index = UserIndex(DIMENSION)
    for n in range(100):
        index.put(memory(f"m{n}", f"note {n}", minutes=n), unit(1, n / 100, 0, 0))
    for n in range(0, 100, 4):  # not enough removals to compact yet
        index.remove(f"m{n}")
    index.remove("missing")  # removing what is not there is a no-op
    for n in range(1, 100, 4):
        index.remove(f"m{n}")  # now a half is gone: compacted
    left = {f"m{n}" for n in range(100) if n % 4 in (2, 3)}
    assert len(index) == len(left) == 50
    assert {m.id for m in index.memories()} == left
    hits = index.search(unit(1, 0, 0, 0), "note", DENSE.model_copy(update={"top_k": 1000}))
    assert {hit.memory.id for hit in hits} == left
    assert [m.id for m, _ in index.nearest(unit(1, 0.02, 0, 0), 1)] == ["m2"]
    assert np.allclose(index.vector_at("m98"), unit(1, 0.98, 0, 0))


def test_a_saved_index_restores_to_the_same_answers() -> None:
    index = build(
        DIMENSION,
        7,
        [
            (memory("a", "Drives a green Fiat Panda."), unit(1, 0, 0, 0)),
            (memory("b", "Lives in Porto since 2019.", minutes=1), unit(0, 1, 0, 0)),
            (memory("c", "Keeps bees.", minutes=2), unit(0, 0, 1, 0)),
        ],
    )
    index.remove("c")
    restored = UserIndex.restore(index.saved())
    assert restored.seq == 7 and len(restored) == 2 and "c" not in restored
    hybrid = RetrievalConfig()
    query = unit(0.2, 1, 0, 0)
    assert restored.search(query, "Porto", hybrid, now=1e9) == index.search(
        query, "Porto", hybrid, now=1e9
    )
    assert restored.search(None, "Fiat Panda", RetrievalConfig(mode="lexical"))[0].memory.id == "a"


def learned(memory_id: str, content: str, session: str, turn: int, minutes: int) -> Memory:
    """A memory learned from live traffic: it names its session and turn, and its created_at
    is when it was learned."""
    moment = CREATED + timedelta(minutes=minutes)
    metadata = {"session": session, "turn": turn}
    return Memory(memory_id, content, "fact", moment, moment, metadata=metadata)


def test_memories_of_one_session_thread_by_turn_whatever_their_created_at() -> None:
    threaded = RetrievalConfig(half_life_days=None, evidence_weight=0.0, lexical_weight=0.0)
    index = UserIndex(DIMENSION)
    # Learned out of order, minutes apart; the reply in s2 was written at the same moment as
    # the one in s1, which no longer puts them in one thread.
    index.put(learned("other", "Yes, twice.", "s2", 2, minutes=5), unit(0, 1, 0, 0))
    index.put(learned("reply", "Yes, twice.", "s1", 2, minutes=5), unit(0, 1, 0, 0))
    index.put(learned("asked", "I ran in Porto.", "s1", 0, minutes=1), unit(1, 0, 0, 0))
    for searched in (index, UserIndex.restore(index.saved())):
        hits = searched.search(unit(1, 0, 0, 0), "Porto", threaded)
        scores = {hit.memory.id: hit.score for hit in hits}
        # The reply borrows half the question's relevance; the other session's reply none.
        assert scores["reply"] == pytest.approx(scores["other"] + 0.5 * scores["asked"])


def test_a_memory_added_after_the_basis_is_ranked_like_its_twin() -> None:
    # Sixty memories: enough for their shared directions to be taken out of similarity, which
    # is fitted on the first search and kept while fewer than a tenth change.
    rng = np.random.default_rng(1)
    index = UserIndex(DIMENSION)
    vectors = [unit(*rng.normal(size=DIMENSION)) for _ in range(60)]
    for n, vector in enumerate(vectors):
        index.put(memory(f"m{n}", f"note {n}", minutes=n), vector)
    plain = DENSE.model_copy(update={"mode": "hybrid", "lexical_weight": 0.0, "top_k": 100})
    query = unit(1, 0.5, 0, 0)
    before = {hit.memory.id: hit.dense for hit in index.search(query, "note", plain)}
    index.put(memory("twin", "note twin", minutes=99), vectors[7])
    after = {hit.memory.id: hit.dense for hit in index.search(query, "note", plain)}
    assert after["twin"] == pytest.approx(after["m7"], abs=1e-6)
    assert after["m7"] == pytest.approx(before["m7"], abs=1e-6)  # the basis was kept
    # Measured from what the memories share, not raw: the raw cosine would differ.
    assert abs(after["m7"] - float(vectors[7] @ query)) > 1e-3
