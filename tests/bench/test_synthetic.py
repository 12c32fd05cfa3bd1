from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import synthetic
from bench.soak import Traffic, fact_for
from gateway.config import RetrievalConfig
from gateway.store.index import build
from gateway.store.records import Scope
from gateway.store.snapshots import Snapshots


def test_the_same_seed_builds_the_same_memories() -> None:
    first = [(m.id, m.content, m.created_at) for m in synthetic.memories(7, 50)]
    again = [(m.id, m.content, m.created_at) for m in synthetic.memories(7, 50)]
    other = [m.content for m in synthetic.memories(8, 50)]
    assert first == again
    assert [content for _, content, _ in first] != other


def test_vectors_are_unit_length_float32_and_seeded() -> None:
    vectors = synthetic.unit_vectors(3, 100)
    assert vectors.shape == (100, synthetic.DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors, synthetic.unit_vectors(3, 100))


def test_sessions_share_a_created_at_and_keep_write_order() -> None:
    memories = list(synthetic.memories(1, 25))
    sessions = {m.created_at for m in memories}
    assert len(sessions) == 3  # 10 + 10 + 5
    assert [m.ordinal for m in memories] == sorted(m.ordinal for m in memories)
    assert len({m.id for m in memories}) == 25


def test_a_saved_store_loads_and_answers_a_search(tmp_path: Path) -> None:
    scope = Scope("bench", "u")
    items = list(zip(synthetic.memories(5, 200), synthetic.unit_vectors(5, 200), strict=True))
    snapshots = Snapshots(tmp_path)
    snapshots.save(scope, build(synthetic.DIMENSION, 0, items), synthetic.STORE_ID)
    index = snapshots.load(scope, 0, synthetic.DIMENSION, synthetic.STORE_ID)
    assert index is not None
    memory, vector = items[0]
    hits = index.search(vector, memory.content, RetrievalConfig(top_k=5))
    assert len(index) == 200
    assert hits[0].memory.id == memory.id  # its own vector and words are the best match


def test_soak_traffic_mixes_recurring_and_new_facts() -> None:
    traffic = Traffic(users=10, new_share=0.3, stream_share=0.3, seed=2)
    sent = [traffic.next() for _ in range(1000)]
    new = [text for _, text, _ in sent if "Newham-" in text]
    assert 200 < len(new) < 400
    assert len(set(new)) == len(new)
    assert 200 < sum(stream for _, _, stream in sent) < 400
    assert len({user for user, _, _ in sent}) == 10


def test_the_mock_extractor_states_what_the_user_said() -> None:
    exchange = '{"new_user_messages": ["I keep bees. What should I know?"]}'
    body = {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": exchange}]}
    assert b"User said they keep bees." in fact_for(body)
