"""Fixtures for the learning tests: the real embedding model, a real Chroma store, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from gateway.observability import Metrics
from gateway.store.chroma import ChromaBackend
from gateway.store.embedding import OnnxMiniLM
from gateway.store.snapshots import Generations
from gateway.store.store import CacheSettings, MemoryStore
from tests.support.mock_upstream import RunningMock, mock_provider


@pytest_asyncio.fixture
async def store(tmp_path: Path, embedder: OnnxMiniLM) -> AsyncIterator[MemoryStore]:
    """A memory store on an embedded Chroma of its own."""
    backend = ChromaBackend(path=tmp_path / "chroma")
    generations = Generations(tmp_path / "state" / "gateway.sqlite3")
    memory_store = MemoryStore(backend, embedder, generations, CacheSettings())
    yield memory_store
    await memory_store.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(model_names=["chat", "extractor"])


@pytest.fixture
def scripted() -> Iterator[RunningMock]:
    """A mock provider of this test's own, so its script and record are this test's alone."""
    with mock_provider() as running:
        yield running
